import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { buildReport } from '../../src/decide/report';
import { History, stateEvent } from '../../src/react/history';
import { createLogger } from '../../src/runtime/logger';
import { createNotifier, type NotifyOutcome, type Post } from '../../src/react/notify';
import { observe } from '../../src/decide/observe';
import { SETTINGS, samples } from '../helpers/samples';

const quietLogger = () => createLogger('error', new PassThrough());

function reportOf(healthy: boolean, status: 'ready' | 'drain', weight: number) {
  const polled = samples();
  const judgement = { healthy, healthDamped: false, status, mitigation: null, reconsiderAt: null };
  return buildReport(polled, observe(polled, SETTINGS), { judgement, weight, agentmessage: '', reasons: [] }, 0, SETTINGS);
}

describe('state events', () => {
  it('exist for the first report and for changes of health, status or weight only', () => {
    const up = reportOf(true, 'ready', 100);
    assert.equal(stateEvent(null, up)?.previousHealthy, null);
    assert.equal(stateEvent(up, reportOf(true, 'ready', 100)), null);
    assert.equal(stateEvent(up, reportOf(false, 'ready', 100))?.previousHealthy, true);
    assert.equal(stateEvent(up, reportOf(true, 'drain', 100))?.previousStatus, 'ready');
    assert.equal(stateEvent(up, reportOf(true, 'ready', 50))?.weight, '50%');
  });

  it('the history keeps the newest first and at most its size', () => {
    const history = new History(2);
    for (const weight of [100, 50, 25]) {
      const event = stateEvent(null, reportOf(true, 'ready', weight));
      assert.ok(event);
      history.record(event);
    }
    const { events } = JSON.parse(history.body) as { events: { weight: string }[] };
    assert.deepEqual(events.map((event) => event.weight), ['25%', '50%']);
  });
});

describe('notifier', () => {
  const event = stateEvent(null, reportOf(false, 'ready', 100));
  assert.ok(event);

  /** Receiver a answers from `answersOfA` in turn (then 204); receiver b always answers 204. */
  function harness(answersOfA: (number | Error)[], attempts = 4) {
    const calls: { url: string; body: string }[] = [];
    const outcomes: NotifyOutcome[] = [];
    const post: Post = (url, body) => {
      calls.push({ url, body });
      const answer = url.startsWith('http://a.') ? (answersOfA.shift() ?? 204) : 204;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    };
    const notifier = createNotifier({
      urls: ['http://a.example/hook', 'http://b.example/hook'],
      nodeName: 'node-1',
      timeoutMs: 100,
      logger: quietLogger(),
      counted: (outcome) => outcomes.push(outcome),
      post,
      backoffMs: 1,
      attempts,
    });
    return { calls, outcomes, notifier };
  }

  /**
   * Waits until every notification sent has an outcome (one per receiver
   * each), however slowly a loaded machine runs the back-off timers.
   */
  const settle = async (outcomes: readonly NotifyOutcome[], expected: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (outcomes.length < expected && Date.now() < deadline) await new Promise((done) => setTimeout(done, 2));
    assert.equal(outcomes.length, expected, 'every notification was settled');
  };

  it('sends the event, the node name and the report to every receiver', async () => {
    const { calls, outcomes, notifier } = harness([]);
    assert.ok(event);
    notifier.send(event, reportOf(false, 'ready', 100));
    await settle(outcomes, 2);
    assert.deepEqual(calls.map((call) => call.url), ['http://a.example/hook', 'http://b.example/hook']);
    const body = JSON.parse(calls[0]?.body ?? '{}') as Record<string, unknown>;
    assert.equal(body.node, 'node-1');
    assert.equal(body.healthy, false);
    assert.equal((body.report as { healthy: boolean }).healthy, false);
    assert.deepEqual(outcomes, ['delivered', 'delivered']);
  });

  it('retries errors and 5xx with back-off, then counts a failure', async () => {
    const { calls, outcomes, notifier } = harness([new Error('ECONNREFUSED'), 503, 500, 500, 204]);
    assert.ok(event);
    notifier.send(event, reportOf(false, 'ready', 100));
    await settle(outcomes, 2);
    assert.equal(calls.filter((call) => call.url.startsWith('http://a.')).length, 4);
    assert.deepEqual(outcomes.sort(), ['delivered', 'failed']);
  });

  it('does not retry a 4xx rejection', async () => {
    const { calls, outcomes, notifier } = harness([400]);
    assert.ok(event);
    notifier.send(event, reportOf(false, 'ready', 100));
    await settle(outcomes, 2);
    assert.equal(calls.filter((call) => call.url.startsWith('http://a.')).length, 1);
    assert.deepEqual(outcomes.sort(), ['delivered', 'failed']);
  });

  it('keeps order per receiver', async () => {
    const { calls, outcomes, notifier } = harness([]);
    for (const weight of [100, 50, 25]) {
      const next = stateEvent(null, reportOf(true, 'ready', weight));
      assert.ok(next);
      notifier.send(next, reportOf(true, 'ready', weight));
    }
    await settle(outcomes, 6);
    const weights = calls.filter((call) => call.url.startsWith('http://a.')).map((call) => (JSON.parse(call.body) as { weight: string }).weight);
    assert.deepEqual(weights, ['100%', '50%', '25%']);
  });
});
