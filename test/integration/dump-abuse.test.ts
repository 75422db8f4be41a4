import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode, REPLIES, answer } from '../../src/demo/fake-signal-node';
import { get, sleep, startAgainst, untilHealthy, waitFor, type Daemon, type ReportJson } from '../helpers/daemon';

describe('dump scripts run by the daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dump-abuse-'));
  const fake = new FakeSignalNode();
  let daemon: Daemon | undefined;

  before(async () => {
    await fake.start();
  });
  after(async () => {
    await daemon?.stop();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const healthy = (): Promise<ReportJson> => untilHealthy(daemon?.httpPort ?? 0, true);
  const unhealthy = (): Promise<ReportJson> => untilHealthy(daemon?.httpPort ?? 0, false);
  const messages = (text: string): Record<string, unknown>[] => (daemon?.logs() ?? []).filter((line) => line.message === text);

  it('missing or not executable: one error line per failure, and the daemon carries on', async () => {
    const notExecutable = join(dir, 'not-executable');
    writeFileSync(notExecutable, '#!/bin/sh\nexit 0\n');
    chmodSync(notExecutable, 0o644);
    daemon = await startAgainst(fake, { JICOFO_DUMP: join(dir, 'missing'), PROSODY_DUMP: notExecutable });
    await healthy();
    fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    fake.set('prosody', { kind: 'reset' });
    await unhealthy();
    await sleep(1000);
    const errors = messages('dump script could not be started');
    assert.deepEqual(errors.map((line) => line.component).sort(), ['jicofo', 'prosody']);
    assert.equal(messages('dump script started').length, 0);
    assert.equal((await get(daemon.httpPort, '/health')).status, 200);
    fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    fake.set('prosody', REPLIES.prosodyHealthy());
    await healthy();
    await daemon.stop();
    daemon = undefined;
  });

  it('upstream text never reaches a shell, and a running script is not started again while jicofo flaps', async () => {
    const runs = join(dir, 'runs');
    mkdirSync(runs);
    const marker = join(dir, 'injected');
    const script = join(dir, 'dump.sh');
    // Records its arguments and environment, then runs for 3 s: longer than the flaps below.
    writeFileSync(script, `#!/bin/sh\necho "$#" > ${runs}/$$\nenv >> ${runs}/$$\nsleep 3\n`);
    chmodSync(script, 0o755);
    daemon = await startAgainst(fake, { JICOFO_DUMP: script });
    await healthy();
    const hostile = `$(touch ${marker}); \`touch ${marker}\`; touch ${marker}`;
    for (let flap = 0; flap < 3; flap += 1) {
      fake.set('jicofoHealth', answer(500, hostile, 'text/plain'));
      fake.set('jicofoStats', answer(200, JSON.stringify({ participants: hostile, conferences: 1 })));
      await unhealthy();
      fake.set('jicofoHealth', REPLIES.jicofoHealthy());
      fake.set('jicofoStats', REPLIES.stats());
      await healthy();
    }
    await waitFor('the script to finish', () => (messages('dump script finished').length === 1 ? true : undefined), 8000);
    assert.equal(messages('dump script started').length, 1);
    assert.equal(messages('dump script still running, not started again').length, 2);
    const [run] = readdirSync(runs);
    const recorded = readFileSync(join(runs, run ?? ''), 'utf8');
    assert.equal(recorded.split('\n')[0], '0', 'the script got arguments');
    assert.ok(!recorded.includes('touch'), 'upstream text reached the environment');
    assert.equal(existsSync(marker), false, 'upstream text ran as a command');
  });
});
