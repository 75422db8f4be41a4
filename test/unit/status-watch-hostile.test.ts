import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { watchStatusFile } from '../../src/react/status-watch';
import { sleep, waitFor } from '../helpers/daemon';

/** Retry of a lost watch; the daemon uses the polling interval, shortened here. */
const RETRY_MS = 200;

describe('status watch when the directory itself goes away', () => {
  const base = mkdtempSync(join(tmpdir(), 'status-watch-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  const watching = (directory: string) => {
    const file = join(directory, 'shard-status');
    let changes = 0;
    const problems: string[] = [];
    const watch = watchStatusFile(file, () => (changes += 1), (message) => problems.push(message), RETRY_MS);
    return { file, watch, problems, changes: () => changes };
  };
  /** Writes and waits for the watch to report it, or fails. */
  const seen = async (w: ReturnType<typeof watching>, write: () => void): Promise<void> => {
    const before = w.changes();
    write();
    await waitFor('the watch to report the change', () => (w.changes() > before ? true : undefined), 2000, 10);
  };

  it('watches again once a removed directory is back, with one line about it', async () => {
    const directory = join(base, 'removed');
    mkdirSync(directory);
    const w = watching(directory);
    try {
      await seen(w, () => writeFileSync(w.file, 'ready'));
      rmSync(directory, { recursive: true });
      await sleep(RETRY_MS * 3);
      mkdirSync(directory);
      await seen(w, () => writeFileSync(w.file, 'drain'));
      // Not the retry's own re-read: a later write is seen too.
      await sleep(RETRY_MS * 2);
      await seen(w, () => writeFileSync(w.file, 'maint'));
      assert.equal(w.problems.length, 1, w.problems.join('\n'));
      assert.match(w.problems[0] ?? '', /removed or replaced/);
    } finally {
      w.watch.close();
    }
  });

  it('watches the new directory when the old one is replaced by rename', async () => {
    const directory = join(base, 'replaced');
    mkdirSync(directory);
    const w = watching(directory);
    try {
      const staged = join(base, 'staged');
      mkdirSync(staged);
      writeFileSync(join(staged, 'shard-status'), 'drain');
      renameSync(directory, join(base, 'old'));
      renameSync(staged, directory);
      await sleep(RETRY_MS * 3);
      await seen(w, () => writeFileSync(w.file, 'maint'));
    } finally {
      w.watch.close();
    }
  });
});

describe('status watch of a file mounted from a Kubernetes ConfigMap', () => {
  it('sees the kubelet swap the ..data link, though no event names the file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'status-configmap-'));
    // The kubelet's layout: the file is a link through ..data to a timestamped directory.
    mkdirSync(join(directory, '..2026_12_01_00_00_00.1'));
    writeFileSync(join(directory, '..2026_12_01_00_00_00.1', 'shard-status'), 'drain');
    symlinkSync('..2026_12_01_00_00_00.1', join(directory, '..data'));
    symlinkSync('..data/shard-status', join(directory, 'shard-status'));
    let changes = 0;
    const watch = watchStatusFile(join(directory, 'shard-status'), () => (changes += 1), () => undefined, RETRY_MS);
    try {
      // An update: a new timestamped directory, a new link beside ..data, renamed over it.
      mkdirSync(join(directory, '..2026_12_01_00_01_00.2'));
      writeFileSync(join(directory, '..2026_12_01_00_01_00.2', 'shard-status'), 'ready');
      symlinkSync('..2026_12_01_00_01_00.2', join(directory, '..data_tmp'));
      renameSync(join(directory, '..data_tmp'), join(directory, '..data'));
      rmSync(join(directory, '..2026_12_01_00_00_00.1'), { recursive: true });
      await waitFor('the watch to report the swap', () => (changes > 0 ? true : undefined), 2000, 10);
      assert.equal(readFileSync(join(directory, 'shard-status'), 'utf8'), 'ready');
    } finally {
      watch.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('still ignores other files beside a plain status file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'status-plain-'));
    writeFileSync(join(directory, 'shard-status'), 'ready');
    let changes = 0;
    const watch = watchStatusFile(join(directory, 'shard-status'), () => (changes += 1), () => undefined, RETRY_MS);
    try {
      writeFileSync(join(directory, 'jicofo.conf'), 'x');
      renameSync(join(directory, 'jicofo.conf'), join(directory, 'jicofo.conf.old'));
      // The control: a write to the file itself is seen, and only after it does the count move.
      await sleep(100);
      assert.equal(changes, 0, 'no change reported for a neighbour');
      writeFileSync(join(directory, 'shard-status'), 'drain');
      await waitFor('the watch to report the file', () => (changes > 0 ? true : undefined), 2000, 10);
    } finally {
      watch.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
