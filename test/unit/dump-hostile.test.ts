import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createDumpRunner } from '../../src/react/dump';
import { createLogger } from '../../src/runtime/logger';
import { waitFor } from '../helpers/daemon';

interface Line {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** A runner whose log lines are collected, as the daemon would print them. */
function runnerWithLog(): { run: ReturnType<typeof createDumpRunner>; lines: Line[] } {
  const stream = new PassThrough();
  const lines: Line[] = [];
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line !== '') lines.push(JSON.parse(line) as Line);
  });
  return { run: createDumpRunner(createLogger('debug', stream)), lines };
}

describe('dump scripts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dump-hostile-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string, mode = 0o755): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, mode);
    return path;
  };
  /** Waits for the runner to settle: no new line for a while. */
  const settled = async (lines: Line[], quietMs = 300): Promise<void> => {
    let seen = -1;
    await waitFor('the dump runner to settle', async () => {
      if (lines.length === seen) return true;
      seen = lines.length;
      await new Promise((done) => setTimeout(done, quietMs));
      return undefined;
    }, 5000, 0);
  };

  it('a missing script gives exactly one error line and nothing else', async () => {
    const { run, lines } = runnerWithLog();
    run('jicofo', join(dir, 'no-such-script'));
    await settled(lines);
    assert.deepEqual(lines.map((line) => [line.level, line.message]), [['error', 'dump script could not be started']]);
  });

  it('a script that is not executable gives exactly one error line', async () => {
    const { run, lines } = runnerWithLog();
    run('prosody', script('not-executable', 'exit 0', 0o644));
    await settled(lines);
    assert.deepEqual(lines.map((line) => [line.level, line.message]), [['error', 'dump script could not be started']]);
  });

  it('a directory as the script gives exactly one error line', async () => {
    const { run, lines } = runnerWithLog();
    const path = join(dir, 'a-directory');
    mkdirSync(path);
    run('jicofo', path);
    await settled(lines);
    assert.deepEqual(lines.map((line) => [line.level, line.message]), [['error', 'dump script could not be started']]);
  });

  it('shell syntax in the configured path is a file name, never a command', async () => {
    const { run, lines } = runnerWithLog();
    const marker = join(dir, 'injected');
    const real = script('real', 'exit 0');
    for (const path of [`${real}; touch ${marker}`, `${real} && touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``]) {
      run('jicofo', path);
      await settled(lines);
    }
    assert.equal(existsSync(marker), false, 'a shell ran part of the path');
    assert.equal(lines.filter((line) => line.message === 'dump script could not be started').length, 4);
  });

  it('runs the script with no arguments and without a shell between', async () => {
    const { run, lines } = runnerWithLog();
    const out = join(dir, 'argv');
    run('jicofo', script('records-argv', `echo "$# $0" > ${out}`));
    await waitFor('the script to finish', () => (lines.some((line) => line.message === 'dump script finished') ? true : undefined));
    assert.equal(readFileSync(out, 'utf8').trim(), `0 ${join(dir, 'records-argv')}`);
  });

  it('does not start a script a second time while it still runs, and starts it again once it ended', async () => {
    const { run, lines } = runnerWithLog();
    const runs = join(dir, 'runs');
    mkdirSync(runs);
    const slow = script('slow', `touch ${runs}/$$; sleep 1`);
    run('prosody', slow);
    await waitFor('the first run', () => (lines.some((line) => line.message === 'dump script started') ? true : undefined));
    run('prosody', slow);
    run('prosody', slow);
    assert.equal(lines.filter((line) => line.message === 'dump script still running, not started again').length, 2);
    await waitFor('the first run to end', () => (lines.some((line) => line.message === 'dump script finished') ? true : undefined));
    assert.equal(readdirSync(runs).length, 1);
    run('prosody', slow);
    await waitFor('the second run to end', () =>
      lines.filter((line) => line.message === 'dump script finished').length === 2 ? true : undefined,
    );
    assert.equal(readdirSync(runs).length, 2);
  });

  it('keeps components apart: a running jicofo dump does not stop a prosody dump', async () => {
    const { run, lines } = runnerWithLog();
    const slow = script('slow-both', 'sleep 1');
    run('jicofo', slow);
    run('prosody', slow);
    await waitFor('both to end', () => (lines.filter((line) => line.message === 'dump script finished').length === 2 ? true : undefined));
    assert.equal(lines.filter((line) => line.message === 'dump script started').length, 2);
  });
});
