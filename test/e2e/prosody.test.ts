import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { agentAnswer, freePort, report, startAgainst, waitFor, type Daemon, type ReportJson } from '../helpers/daemon';
import { agentLines, probes, watchEvents } from '../helpers/watch';
import { httpStatus, missing, Prosody, watchUntil } from './components';
import { FAST, seconds } from './shard';

/**
 * The daemon against a real prosody 0.12 serving BOSH on loopback; jicofo
 * stays the fake.
 */

const skip = missing('prosody', 'prosodyctl');
const TEST = { skip, timeout: 60_000 };
const PROBE_TIMEOUT_MS = 1000;
const POLL_MS = seconds(FAST.POLLING_INTERVAL);
/** Long enough that the whole SIGSTOP episode stays inside the grace. */
const GRACE = '10';
const SLACK_MS = 1500;
const BOSH_HOST = 'meet.example.test';

async function startProsody(boshHost?: string, readTimeoutS?: number): Promise<Prosody> {
  const [c2sPort, httpPort] = [await freePort(), await freePort()];
  return Prosody.start({ c2sPort, httpPort, ...(boshHost === undefined ? {} : { boshHost }), ...(readTimeoutS === undefined ? {} : { readTimeoutS }) });
}

void describe('prosody 0.12 BOSH', () => {
  let jicofo: FakeSignalNode;
  const daemons: Daemon[] = [];
  const prosodies: Prosody[] = [];

  const sidecar = async (prosody: Prosody, env: Record<string, string> = {}): Promise<Daemon> => {
    const upstream = { jicofoOrigin: jicofo.jicofoOrigin, prosodyOrigin: prosody.origin };
    const daemon = await startAgainst(upstream, { ...FAST, PROBE_TIMEOUT: String(PROBE_TIMEOUT_MS / 1000), DRAIN_GRACE_INTERVAL: GRACE, ...env });
    daemons.push(daemon);
    return daemon;
  };
  const agentSays = (daemon: Daemon, line: string, since: number, timeoutMs = 10_000): Promise<{ ms: number }> =>
    watchUntil(`the agent to say ${line}`, () => agentAnswer(daemon.agentPort), (answer) => answer === `${line}\n`, { since, timeoutMs });

  /** The first report in which prosody has answered (status 0 means no answer yet, or none at all). */
  const prosodyChecked = (daemon: Daemon): Promise<ReportJson> =>
    waitFor('a report with an answer from prosody', async () => {
      const body = await report(daemon.httpPort);
      return body.services.prosodyStatusCode === 0 ? undefined : body;
    });

  before(async () => {
    if (skip !== undefined) return;
    jicofo = await new FakeSignalNode().start();
  });

  after(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await Promise.all(prosodies.map((prosody) => prosody.stop()));
    await jicofo?.stop();
  });

  void it('healthy against prosody; SIGSTOP: soft down (drain) within probe timeout + interval; SIGCONT: healthy again', TEST, async (t) => {
    const prosody = await startProsody();
    prosodies.push(prosody);
    const daemon = await sidecar(prosody);
    await agentSays(daemon, 'up ready 100%', Date.now());
    const healthy = await report(daemon.httpPort);
    assert.equal(healthy.services.prosodyHealthy, true);
    assert.equal(healthy.services.prosodyStatusCode, 200);
    assert.equal(healthy.healthy, true);

    const stopped = Date.now();
    prosody.child.kill('SIGSTOP');
    try {
      const drain = await agentSays(daemon, 'up drain 0%', stopped);
      t.diagnostic(`e2e: prosody SIGSTOP -> agent "up drain 0%" in ${drain.ms} ms (probe timeout ${PROBE_TIMEOUT_MS} ms, poll ${POLL_MS} ms)`);
      assert.ok(drain.ms <= PROBE_TIMEOUT_MS + POLL_MS + SLACK_MS, `soft down took ${drain.ms} ms`);
      const soft = await report(daemon.httpPort);
      assert.equal(soft.services.prosodySoftDown, true);
      assert.equal(soft.services.prosodyHealthy, false);
      assert.equal(soft.status, 'drain');
      assert.equal(soft.healthy, true, 'reported healthy (drain) during the grace');
    } finally {
      prosody.child.kill('SIGCONT');
    }
    const resumed = Date.now();
    // A soft episode that ended within the grace is not dampened.
    const ready = await agentSays(daemon, 'up ready 100%', resumed);
    t.diagnostic(`e2e: prosody SIGCONT -> agent "up ready 100%" in ${ready.ms} ms`);
    const again = await report(daemon.httpPort);
    assert.equal(again.services.prosodyHealthy, true);
    assert.equal(again.services.prosodySoftDown, false);
  });

  void it('prosody closing idle connections (read_timeout 1 s): each close is one probe that succeeds, no flap, no log line', TEST, async () => {
    const prosody = await startProsody(undefined, 1);
    prosodies.push(prosody);
    const started = performance.now();
    // No scheduled poll after the first: every later probe of prosody is the watch's.
    const daemon = await sidecar(prosody, { POLLING_INTERVAL: '60' });
    await agentSays(daemon, 'up ready 100%', Date.now());
    const lines = daemon.lines.length;
    const answers = await agentLines(daemon, 80);
    const seconds = (performance.now() - started) / 1000;
    const closed = await watchEvents(daemon, 'prosody', 'closed');
    const probed = await probes(daemon, 'prosody');
    assert.ok(closed >= 2, `prosody closed the held connection ${closed} times in ${seconds.toFixed(1)} s`);
    assert.ok(probed >= 2 && probed <= 1 + closed, `${probed} probes for ${closed} closes`);
    assert.ok(probed <= Math.floor(seconds) + 2, `${probed} probes in ${seconds.toFixed(1)} s`);
    assert.deepEqual(answers, ['up ready 100%\n']);
    assert.deepEqual(daemon.lines.slice(lines), [], 'no log line');
  });

  void it('PROSODY_HOST: BOSH only inside the VirtualHost is 404 without it, healthy with it', TEST, async () => {
    const prosody = await startProsody(BOSH_HOST);
    prosodies.push(prosody);
    // The premise: this prosody answers BOSH for its virtual host only.
    assert.equal(await httpStatus(`${prosody.origin}/http-bind`), 404);
    assert.equal(await httpStatus(`${prosody.origin}/http-bind`, { Host: BOSH_HOST }), 200);

    const [without, withHost] = await Promise.all([sidecar(prosody), sidecar(prosody, { PROSODY_HOST: BOSH_HOST })]);
    const unhealthy = await prosodyChecked(without);
    assert.equal(unhealthy.services.prosodyStatusCode, 404);
    assert.equal(unhealthy.services.prosodyHealthy, false);
    assert.equal(unhealthy.healthy, false);
    assert.match(await agentAnswer(without.agentPort), /^down /);

    const healthy = await prosodyChecked(withHost);
    assert.equal(healthy.services.prosodyStatusCode, 200);
    assert.equal(healthy.services.prosodyHealthy, true);
    assert.equal(healthy.healthy, true);
    assert.equal(await agentAnswer(withHost.agentPort), 'up ready 100%\n');
  });
});
