import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode, REPLIES } from '../../src/demo/fake-signal-node';
import { agentAnswer, DAEMON, get, report, startDaemon, waitFor, type Daemon } from '../helpers/daemon';
import { run } from '../helpers/run';

/** The built CLI (dist/app.js with arguments) against a running built daemon. */
describe('signal-sidecar CLI against the daemon', () => {
  let node: FakeSignalNode;
  let daemon: Daemon;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    node = await new FakeSignalNode().start();
    daemon = await startDaemon(
      { JICOFO_ORIG: node.jicofoOrigin, PROSODY_ORIG: node.prosodyOrigin, POLLING_INTERVAL: '0.2', PARTICIPANT_MAX: '100' },
      { status: 'ready' },
    );
    await waitFor('the first report', async () => ((await get(daemon.httpPort, '/signal/report')).status === 200 ? true : undefined));
    env = {
      PATH: process.env.PATH,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(daemon.httpPort),
      STATUS_PATH: daemon.statusFile,
    };
  });

  after(async () => {
    await daemon.stop();
    await node.stop();
  });

  const cli = (...args: string[]) => run(process.execPath, [DAEMON, ...args], { env, timeoutMs: 10_000 });

  it('drain, maint, ready: each shows what the daemon reports right after', async () => {
    for (const [word, agent] of [
      ['drain', 'up drain 0%\n'],
      ['maint', 'up maint 0%\n'],
      ['ready', 'up ready 100%\n'],
    ] as const) {
      const started = Date.now();
      const result = await cli(word);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^wrote "${word}" to ${daemon.statusFile}$`, 'm'));
      assert.match(result.stdout, new RegExp(`^status: +${word}$`, 'm'));
      assert.match(result.stdout, new RegExp(`^agent says: +${agent.trim()}$`, 'm'));
      // The daemon watches the file; the poll interval is not what makes it quick.
      assert.ok(Date.now() - started < 2500, `confirmed in ${Date.now() - started} ms`);
      assert.equal((await report(daemon.httpPort)).status, word);
      assert.equal(await agentAnswer(daemon.agentPort), agent);
    }
  });

  it('status prints the report for a person', async () => {
    node.set('jicofoStats', REPLIES.statsWith(42, 3));
    await waitFor('42 participants', async () => ((await report(daemon.httpPort)).stats.jicofoParticipants === 42 ? true : undefined));
    const result = await cli('status');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^health: +healthy \[HTTP 200\]$/m);
    assert.match(result.stdout, /^status: +ready$/m);
    assert.match(result.stdout, /^weight: +100%$/m);
    assert.match(result.stdout, /^participants: +42 in 3 conferences$/m);
  });

  it('exports participants and PARTICIPANT_MAX for the alert rules', async () => {
    const metrics = (await get(daemon.httpPort, '/metrics')).body;
    assert.match(metrics, /^signal_participants 42$/m);
    assert.match(metrics, /^signal_participant_max 100$/m);
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    await waitFor('participants unknown', async () =>
      // prom-client writes NaN as `Nan`; Prometheus parses any case.
      /^signal_participants nan$/im.test((await get(daemon.httpPort, '/metrics')).body) ? true : undefined,
    );
    const result = await cli('status');
    assert.equal(result.code, 1, 'unhealthy node: exit 1');
    assert.match(result.stdout, /^health: +UNHEALTHY \[HTTP 503\]$/m);
    assert.match(result.stdout, /^participants: +unknown/m);
    node.set('jicofoHealth', REPLIES.jicofoHealthy());
  });

  it('--check-config reads the same environment as the daemon', async () => {
    assert.equal((await cli('--check-config')).code, 0);
    const bad = await run(process.execPath, [DAEMON, '--check-config'], { env: { ...env, TCP_PORT: '70000', LOG_LEVEL: 'loud' } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^problem: TCP_PORT="70000"/m);
    assert.match(bad.stderr, /^problem: LOG_LEVEL="loud"/m);
  });

  it('says so, with exit 3, when no daemon answers', async () => {
    const result = await run(process.execPath, [DAEMON, 'status'], { env: { ...env, HTTP_PORT: '1' } });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /no answer from the daemon at http:\/\/127\.0\.0\.1:1\/signal\/report: ECONNREFUSED/);
  });
});
