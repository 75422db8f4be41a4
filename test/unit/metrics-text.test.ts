import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { createMetrics } from '../../src/serve/metrics/metrics';
import { renderMetrics } from '../../src/serve/metrics/metrics-text';

/**
 * Everything but the samples of the metrics that measure the process itself:
 * their values move between two reads, and so do some label sets (the kinds of
 * active resources, the kinds of garbage collection seen so far).
 */
function withoutProcessSamples(text: string): string {
  return text.replace(/^(?:process|nodejs)_.*\n/gm, '');
}

void describe('/metrics text', () => {
  void it('is what prom-client prints, for every kind of metric and awkward text', async () => {
    const registry = new Registry();
    new Gauge({ name: 'plain_gauge', help: 'no labels, set later', registers: [registry] });
    const gauge = new Gauge({ name: 'odd_gauge', help: 'help with \\ backslash\nand a newline', labelNames: ['source', 'path'], registers: [registry] });
    gauge.set({ source: 'quote"d', path: 'back\\slash\nnewline' }, NaN);
    gauge.set({ source: 'inf', path: '/' }, Infinity);
    gauge.set({ source: 'minus', path: '/' }, -Infinity);
    gauge.set({ source: 'tiny', path: '' }, 1e-7);
    gauge.set({ source: 'big', path: 'ünïcode' }, 1.5e21);
    const counter = new Counter({ name: 'things_total', help: 'counted', labelNames: ['outcome'], registers: [registry] });
    counter.inc({ outcome: 'delivered' }, 3);
    counter.inc({ outcome: 'failed' });
    const histogram = new Histogram({ name: 'took_seconds', help: 'a histogram', labelNames: ['source'], buckets: [0.01, 0.1, 1], registers: [registry] });
    for (const seconds of [0.005, 0.05, 0.5, 5]) histogram.observe({ source: 'a' }, seconds);
    histogram.observe({ source: 'b"c' }, 0.2);
    new Histogram({ name: 'unused_seconds', help: 'never observed', registers: [registry] });
    const summary = new Summary({ name: 'spread_seconds', help: 'a summary', percentiles: [0.5, 0.9], registers: [registry] });
    for (const seconds of [1, 2, 3]) summary.observe(seconds);
    // A collect() hook that sets a gauge registered after it, as the event-loop
    // collector does: right only if hooks run in registration order before any is printed.
    new Gauge({
      name: 'first_gauge',
      help: 'sets the next one',
      registers: [registry],
      collect() {
        this.set(7);
        later.set(9);
      },
    });
    const later = new Gauge({ name: 'second_gauge', help: 'set by the first', registers: [registry] });

    // Ours is read first: the hook has not run before.
    const ours = await renderMetrics(registry);
    assert.match(ours, /^second_gauge 9$/m);
    assert.equal(ours, await registry.metrics());
  });

  void it('is what prom-client prints for the daemon’s own registry', async () => {
    const metrics = createMetrics();
    metrics.observeRequest('GET', '/signal/health', 200, 0.0003);
    metrics.observeRequest('HEAD', 'other', 404, 0.02);
    metrics.recordProbe('jicofoHealth', true, 0.004);
    metrics.recordProbe('statusFile', false, 0.0001);
    metrics.countNotification('dropped');
    metrics.health.set(1);
    const ours = await renderMetrics(metrics.registry);
    const theirs = await metrics.registry.metrics();
    assert.match(ours, /^http_server_requests_total\{method="GET",code="200",uri="\/signal\/health"\} 1$/m);
    assert.equal(withoutProcessSamples(ours), withoutProcessSamples(theirs));
  });

  void it('prints an empty registry as prom-client does', async () => {
    const registry = new Registry();
    assert.equal(await renderMetrics(registry), await registry.metrics());
  });
});
