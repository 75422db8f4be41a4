import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { DelayWindow, LOOP_DELAY_METRICS, NO_DELAYS, SAMPLE_INTERVAL_MS, delayOf } from '../../src/serve/metrics/loop-delay';
import { createMetrics } from '../../src/serve/metrics/metrics';

const close = (actual: number, expected: number, what: string): void => {
  assert.ok(Math.abs(actual - expected) <= expected * 0.001 + 1e-9, `${what}: ${actual} is not ${expected}`);
};

/** One gauge's value as /metrics prints it. */
function valueIn(text: string, name: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} missing`);
  return Number(line.slice(name.length + 1));
}

void describe('event-loop delay', () => {
  void it('counts only how late the timer fired, not the interval it waited', () => {
    assert.equal(delayOf(1000, 1100, 100), 0);
    assert.equal(delayOf(1000, 1350, 100), 0.25);
    // A timer that fires a hair early (timer rounding) is not late by a negative amount.
    assert.equal(delayOf(1000, 1099.5, 100), 0);
  });

  void it('summarises the delays between two scrapes exactly, the percentiles to three digits', () => {
    const window = new DelayWindow();
    for (const seconds of [0.001, 0.002, 0.003, 0.01]) window.record(seconds);
    const summary = window.take();
    assert.equal(summary.min, 0.001);
    assert.equal(summary.max, 0.01);
    close(summary.mean, 0.004, 'mean');
    close(summary.stddev, Math.sqrt((0.003 ** 2 + 0.002 ** 2 + 0.001 ** 2 + 0.006 ** 2) / 4), 'stddev');
    close(summary.p50, 0.002, 'p50');
    close(summary.p90, 0.01, 'p90');
    close(summary.p99, 0.01, 'p99');
  });

  void it('starts afresh after each scrape, and says nothing for a window without samples', () => {
    const window = new DelayWindow();
    window.record(2);
    assert.equal(window.take().max, 2);
    assert.deepEqual(window.take(), NO_DELAYS);
    window.record(0.005);
    const next = window.take();
    assert.equal(next.max, 0.005);
    close(next.p99, 0.005, 'p99');
  });

  void it('reports a loop that never waits as zero throughout, and a stall beyond an hour as it was', () => {
    const window = new DelayWindow();
    for (let i = 0; i < 5; i += 1) window.record(0);
    assert.deepEqual(window.take(), { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 });
    window.record(7200);
    const stalled = window.take();
    assert.equal(stalled.max, 7200);
    assert.equal(stalled.p99, 7200);
  });

  void it('keeps the names and types of prom-client’s default metrics', async () => {
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    const ours = createMetrics().registry;
    const types = async (registry: Registry): Promise<Map<string, string>> =>
      new Map((await registry.getMetricsAsJSON()).filter(({ name }) => name.startsWith('nodejs_') || name.startsWith('process_')).map(({ name, type }) => [name, String(type)]));
    const expected = await types(theirs);
    for (const name of LOOP_DELAY_METRICS) assert.equal(expected.get(name), 'gauge', name);
    assert.deepEqual(await types(ours), expected);
    theirs.clear();
  });

  void it('shows a stalled loop at the next scrape', async () => {
    const { registry } = createMetrics();
    await registry.metrics();
    const stalledUntil = performance.now() + 3 * SAMPLE_INTERVAL_MS;
    while (performance.now() < stalledUntil) {
      // Hold the loop: the sampler's next tick is due well inside the stall.
    }
    await new Promise((resolve) => setTimeout(resolve, 2 * SAMPLE_INTERVAL_MS));
    const text = await registry.metrics();
    // The sampler last ran before the stall, so the tick after it is at least two intervals late.
    assert.ok(valueIn(text, 'nodejs_eventloop_lag_max_seconds') >= (2 * SAMPLE_INTERVAL_MS) / 1000 - 0.001, text);
    assert.ok(valueIn(text, 'nodejs_eventloop_lag_min_seconds') <= valueIn(text, 'nodejs_eventloop_lag_p50_seconds'));
    assert.ok(valueIn(text, 'nodejs_eventloop_lag_p50_seconds') <= valueIn(text, 'nodejs_eventloop_lag_max_seconds'));
  });
});
