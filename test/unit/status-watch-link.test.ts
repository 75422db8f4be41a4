import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { linkedTarget, watchStatusFile } from '../../src/react/status-watch';
import { sleep, waitFor } from '../helpers/daemon';

/** Retry of a lost watch; the daemon uses the polling interval, shortened here. */
const RETRY_MS = 200;
/** Long enough for an event that was going to come (the watch settles them 15 ms). */
const QUIET_MS = 150;

/**
 * The Debian package's layout: STATUS_PATH (/etc/jitsi/shard-status) is a
 * link into the service's state directory (/var/lib/signal-sidecar), where
 * the Consul word is written. A write through the link lands in the state
 * directory, and only that directory's watch hears of it.
 */
describe('status watch of a link out of its directory', () => {
  const base = mkdtempSync(join(tmpdir(), 'status-link-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  let layouts = 0;

  /** A fresh etc/ and state/ with etc/shard-status → state/shard-status, watched. */
  const layout = (target = 'drain\n') => {
    layouts += 1;
    const root = join(base, String(layouts));
    const etc = join(root, 'etc');
    const state = join(root, 'state');
    mkdirSync(etc, { recursive: true });
    mkdirSync(state);
    if (target !== '') writeFileSync(join(state, 'shard-status'), target);
    symlinkSync(join(state, 'shard-status'), join(etc, 'shard-status'));
    let changes = 0;
    const problems: string[] = [];
    const link = join(etc, 'shard-status');
    const watch = watchStatusFile(link, () => (changes += 1), (message) => problems.push(message), RETRY_MS);
    return { root, etc, state, link, watch, problems, changes: () => changes };
  };
  type Layout = ReturnType<typeof layout>;
  const watched = async (body: (w: Layout) => Promise<void>, target?: string): Promise<void> => {
    const w = layout(target);
    try {
      await body(w);
    } finally {
      w.watch.close();
    }
  };
  const seen = async (w: Layout, write: () => void): Promise<void> => {
    const before = w.changes();
    write();
    await waitFor('the watch to report the change', () => (w.changes() > before ? true : undefined), 2000, 10);
  };
  const unseen = async (w: Layout, write: () => void): Promise<void> => {
    const before = w.changes();
    write();
    await sleep(QUIET_MS);
    assert.equal(w.changes(), before, 'no change reported');
  };

  it("sees an operator's `echo drain > STATUS_PATH`, which follows the link", async () => {
    await watched(async (w) => {
      await seen(w, () => writeFileSync(w.link, 'ready\n'));
      assert.deepEqual(w.problems, []);
    });
  });

  it("sees the daemon's own atomic write in the state directory (temporary file, then rename)", async () => {
    await watched(async (w) => {
      await seen(w, () => {
        writeFileSync(join(w.state, '.shard-status.1.2.tmp'), 'maint\n');
        renameSync(join(w.state, '.shard-status.1.2.tmp'), join(w.state, 'shard-status'));
      });
    });
  });

  it('ignores other files of the state directory, as it does beside a plain file', async () => {
    await watched(async (w) => {
      await unseen(w, () => writeFileSync(join(w.state, 'created-shard-status'), ''));
      await seen(w, () => writeFileSync(w.link, 'ready\n'));
    });
  });

  it('sees the first write through a dangling link, which creates the target', async () => {
    await watched(async (w) => {
      await seen(w, () => writeFileSync(w.link, 'ready\n'));
    }, '');
  });

  it('follows the link when it is re-pointed, and leaves the old target alone', async () => {
    await watched(async (w) => {
      const other = join(w.root, 'other');
      mkdirSync(other);
      writeFileSync(join(other, 'word'), 'drain\n');
      await seen(w, () => {
        symlinkSync(join(other, 'word'), join(w.etc, '.shard-status.new'));
        renameSync(join(w.etc, '.shard-status.new'), w.link);
      });
      await seen(w, () => writeFileSync(w.link, 'ready\n'));
      await unseen(w, () => writeFileSync(join(w.state, 'shard-status'), 'maint\n'));
    });
  });

  it('drops the second watch when the link is replaced by a plain file', async () => {
    await watched(async (w) => {
      await seen(w, () => {
        writeFileSync(join(w.etc, '.shard-status.new'), 'drain\n');
        renameSync(join(w.etc, '.shard-status.new'), w.link);
      });
      await unseen(w, () => writeFileSync(join(w.state, 'shard-status'), 'ready\n'));
      await seen(w, () => writeFileSync(w.link, 'ready\n'));
    });
  });

  it("watches again, with one line about it, once the target's directory is removed and back", async () => {
    await watched(async (w) => {
      rmSync(w.state, { recursive: true });
      await waitFor('one line about the lost watch', () => (w.problems.length > 0 ? true : undefined), 2000, 10);
      await sleep(RETRY_MS * 3);
      mkdirSync(w.state);
      // The retry's own re-read once the directory is back, then later writes through the link.
      await waitFor('the watch to be back', () => (w.changes() > 0 ? true : undefined), RETRY_MS * 10, 10);
      await sleep(RETRY_MS * 2);
      await seen(w, () => writeFileSync(w.link, 'maint\n'));
      assert.equal(w.problems.length, 1, w.problems.join('\n'));
      assert.match(w.problems[0] ?? '', new RegExp(`^cannot watch ${w.state} for status file changes \\(`));
    });
  });
});

describe('linkedTarget', () => {
  const base = mkdtempSync(join(tmpdir(), 'linked-target-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(join(base, 'etc'));
  mkdirSync(join(base, 'state'));
  writeFileSync(join(base, 'etc', 'plain'), 'drain\n');
  writeFileSync(join(base, 'state', 'shard-status'), 'drain\n');
  symlinkSync('plain', join(base, 'etc', 'beside'));
  symlinkSync('../state/shard-status', join(base, 'etc', 'out'));
  symlinkSync('../state/not-yet', join(base, 'etc', 'dangling'));

  it('is the file a link out of its directory leads to, created or not', () => {
    assert.equal(linkedTarget(join(base, 'etc', 'out')), join(base, 'state', 'shard-status'));
    assert.equal(linkedTarget(join(base, 'etc', 'dangling')), join(base, 'state', 'not-yet'));
  });

  it('is nothing for a plain file, a missing one, or a link within the directory', () => {
    assert.equal(linkedTarget(join(base, 'etc', 'plain')), undefined);
    assert.equal(linkedTarget(join(base, 'etc', 'missing')), undefined);
    assert.equal(linkedTarget(join(base, 'etc', 'beside')), undefined);
  });
});
