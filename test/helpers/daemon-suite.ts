import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import { FakeSignalNode, REPLIES } from '../../src/demo/fake-signal-node';
import type { Daemon } from './daemon';

export interface DaemonSuite {
  readonly fake: FakeSignalNode;
  /** A directory of the suite's own, removed at its end. */
  readonly scratch: string;
  /** The test's daemon: killed after each test. */
  daemon: Daemon | undefined;
}

/**
 * The hooks of a suite of daemon tests against one fake signal node: the
 * fake starts once, each test's daemon is killed after it and jicofo's
 * health answer is put back.
 */
export function daemonSuite(prefix: string): DaemonSuite {
  const suite: DaemonSuite = { fake: new FakeSignalNode(), scratch: mkdtempSync(join(tmpdir(), prefix)), daemon: undefined };
  before(async () => {
    await suite.fake.start();
  });
  afterEach(async () => {
    await suite.daemon?.stop('SIGKILL');
    suite.daemon = undefined;
    suite.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
  });
  after(async () => {
    await suite.fake.stop();
    rmSync(suite.scratch, { recursive: true, force: true });
  });
  return suite;
}
