import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { REPLIES } from '../../src/demo/fake-signal-node';
import { agentAnswer, get, report, sleep, startAgainst, verdict, waitFor, type Daemon } from '../helpers/daemon';
import { daemonSuite } from '../helpers/daemon-suite';
import { Receiver } from '../helpers/receiver';

interface EventsBody {
  events: { time: string; healthy: boolean; status: string; weight: string; previousHealthy: boolean | null; previousStatus: string | null; reasons: string[] }[];
}

const receivers: Receiver[] = [];

async function receiver(behaviour: { status?: number; hang?: boolean } = {}): Promise<Receiver> {
  const started = await new Receiver(behaviour).start();
  receivers.push(started);
  return started;
}

const agentVerdict = async (d: Daemon): Promise<string> => verdict(await agentAnswer(d.agentPort));

describe('reasons, history, notifications, probe times and hysteresis', () => {
  const suite = daemonSuite('sidecar-explain-');
  const node = suite.fake;
  const start = async (env: Record<string, string> = {}): Promise<Daemon> => {
    suite.daemon = await startAgainst(node, env);
    return suite.daemon;
  };
  afterEach(async () => {
    for (const started of receivers.splice(0)) await started.stop();
  });

  it('keeps the state changes at /signal/events, newest first, bounded by HISTORY_SIZE', async () => {
    const d = await start({ HISTORY_SIZE: '3' });
    await waitFor('first event', async () => ((JSON.parse((await get(d.httpPort, '/signal/events')).body) as EventsBody).events.length === 1 ? true : undefined));
    d.setStatus('drain');
    await waitFor('drain', async () => ((await report(d.httpPort)).status === 'drain' ? true : undefined));
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    await waitFor('down', async () => ((await report(d.httpPort)).healthy ? undefined : true));
    const answer = await get(d.httpPort, '/signal/events');
    assert.equal(answer.status, 200);
    assert.match(answer.type, /^application\/json/);
    const { events } = JSON.parse(answer.body) as EventsBody;
    assert.equal(events.length, 3);
    assert.deepEqual(
      events.map((event) => [event.healthy, event.status, event.weight, event.previousHealthy, event.previousStatus]),
      [
        [false, 'drain', '0%', true, 'drain'],
        [true, 'drain', '0%', true, 'ready'],
        [true, 'ready', '100%', null, null],
      ],
    );
    assert.deepEqual(events[0]?.reasons, ['jicofo health 500', 'status file says drain']);
    assert.ok(Date.parse(events[0]?.time ?? '') >= Date.parse(events[1]?.time ?? ''));

    d.setStatus('ready');
    await waitFor('a fourth change', async () => ((JSON.parse((await get(d.httpPort, '/signal/events')).body) as EventsBody).events[0]?.previousStatus === 'drain' ? true : undefined));
    assert.equal((JSON.parse((await get(d.httpPort, '/signal/events')).body) as EventsBody).events.length, 3);
  });

  it('logs no notification credentials, at start or on a change, while the receiver gets them', async () => {
    const first = await receiver();
    const withUser = first.url.replace('http://', 'http://ops:hunter2@');
    const d = await start({ NOTIFY_URL: withUser });
    await waitFor('the first notification', () => (first.received.length >= 1 ? true : undefined));
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    await waitFor('the down notification', () => (first.received.length >= 2 ? true : undefined));
    const starting = d.logs().find((line) => line.message === 'signal-sidecar starting');
    assert.ok(starting, 'the start line is logged');
    assert.deepEqual((starting.config as { notifyUrls: string[] }).notifyUrls, [first.url.replace(/\?.*$/, '')]);
    for (const line of d.lines) {
      assert.doesNotMatch(line, /hunter2|token=secret/, 'a credential reached the log');
    }
  });

  it('POSTs each state change with the node name and the full report to every NOTIFY_URL', async () => {
    const first = await receiver();
    const second = await receiver();
    const d = await start({ NOTIFY_URL: `${first.url}, ${second.url}`, NODE_NAME: 'signal-eu-1' });
    await waitFor('the first notification', () => (first.received.length >= 1 && second.received.length >= 1 ? true : undefined));
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    await waitFor('the down notification', () => (first.received.length >= 2 ? true : undefined));
    const body = first.received[1]?.body;
    assert.ok(body);
    assert.equal(body.node, 'signal-eu-1');
    assert.equal(body.healthy, false);
    assert.equal(body.previousHealthy, true);
    assert.deepEqual(body.reasons, ['jicofo health 500']);
    const sent = body.report as { agentmessage: string; services: { jicofoStatusCode: number } };
    assert.equal(sent.agentmessage, 'down ready 100%');
    assert.equal(sent.services.jicofoStatusCode, 500);
    await sleep(600);
    // A steady failure is one change, one notification.
    assert.equal(first.received.length, 2);
    await waitFor('the second receiver', () => (second.received.length === 2 ? true : undefined));
    // eslint-disable-next-line no-console -- the closing note quotes one real event and notification
    console.log(`notification body: ${JSON.stringify(body)}`);
    const metrics = (await get(d.httpPort, '/metrics')).body;
    assert.match(metrics, /^signal_notifications_total\{outcome="delivered"\} 4$/m);
  });

  it('a hanging receiver and a failing one delay neither polls nor answers, and failures are counted', async () => {
    const hanging = await receiver({ hang: true });
    const failing = await receiver({ status: 500 });
    const d = await start({ NOTIFY_URL: `${hanging.url},${failing.url}`, NOTIFY_TIMEOUT: '0.3' });
    await waitFor('retries against the failing receiver', () => (failing.attempts >= 2 ? true : undefined));
    // Health keeps moving and the agent answers at once while both receivers misbehave.
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    const asked = Date.now();
    await waitFor('down', async () => ((await agentVerdict(d)) === 'down ready 100%\n' ? true : undefined), 3000);
    assert.ok(Date.now() - asked < 3000);
    await waitFor('the failure to be counted', async () => {
      const metrics = (await get(d.httpPort, '/metrics')).body;
      const failed = Number(/^signal_notifications_total\{outcome="failed"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
      return failed >= 2 ? true : undefined;
    }, 15_000);
    assert.equal(failing.attempts >= 4, true, `the failing receiver was tried ${failing.attempts} times`);
    const warnings = d.logs().filter((line) => line.message === 'notification failed');
    assert.ok(warnings.length >= 2);
    // The receiver's token stays out of the log.
    assert.equal(JSON.stringify(warnings).includes('secret'), false);
  });

  it('reports probe round-trip times in the report and as a histogram per source', async () => {
    const d = await start();
    const body = await report(d.httpPort);
    for (const field of ['jicofoRoundTripMs', 'jicofoStatsRoundTripMs', 'prosodyRoundTripMs']) {
      const value = body.services[field];
      assert.equal(typeof value, 'number', field);
      assert.ok((value as number) >= 0 && (value as number) < 500, `${field} ${String(value)}`);
    }
    const metrics = (await get(d.httpPort, '/metrics')).body;
    assert.match(metrics, /^# TYPE signal_probe_round_trip_seconds histogram$/m);
    for (const source of ['jicofo_health', 'jicofo_stats', 'prosody', 'status_file']) {
      assert.match(metrics, new RegExp(`^signal_probe_round_trip_seconds_count\\{source="${source}"\\} [1-9]`, 'm'), source);
    }
  });

  it('UNHEALTHY_THRESHOLD and HEALTHY_THRESHOLD hold a verdict for that many polls', async () => {
    const d = await start({ POLLING_INTERVAL: '0.3', UNHEALTHY_THRESHOLD: '3', HEALTHY_THRESHOLD: '2' });
    await waitFor('up', async () => ((await agentVerdict(d)) === 'up ready 100%\n' ? true : undefined));
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    const pending = await waitFor('an unconfirmed failure', async () => {
      const body = await report(d.httpPort);
      return body.reasons.some((reason) => reason.startsWith('failure not confirmed')) ? body : undefined;
    });
    assert.equal(pending.healthy, true);
    await waitFor('down', async () => ((await agentVerdict(d)) === 'down ready 100%\n' ? true : undefined));
    node.set('jicofoHealth', REPLIES.jicofoHealthy());
    const recovering = await waitFor('an unconfirmed recovery', async () => {
      const body = await report(d.httpPort);
      return body.reasons.some((reason) => reason.startsWith('recovering: 1 of 2')) ? body : undefined;
    });
    assert.equal(recovering.healthy, false);
    await waitFor('up again', async () => ((await agentVerdict(d)) === 'up ready 100%\n' ? true : undefined));
  });
});
