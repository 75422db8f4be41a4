import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { createMetrics } from '../../src/serve/metrics/metrics';

/**
 * The request metrics are counted in plain numbers and rendered when read.
 * Fed the same requests, they must print exactly what prom-client's own
 * Counter and Histogram print.
 */
void describe('request metrics', () => {
  void it('render like prom-client', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'http_server_requests_total',
      help: 'HTTP requests served, by method, status code and route',
      labelNames: ['method', 'code', 'uri'],
      registers: [registry],
    });
    const histogram = new Histogram({
      name: 'http_server_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method and route',
      labelNames: ['method', 'uri'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    });
    const ours = createMetrics();
    // Every bucket edge, values just above, below and past the last bound, several series, a method outside the known set.
    const durations = [0, 0.0001, 0.0005, 0.00050001, 0.001, 0.002, 0.0025, 0.004, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 0.7, 1, 1.5, 30];
    const requests: [string, string, number][] = [
      ['GET', '/signal/health', 200],
      ['HEAD', '/signal/health', 200],
      ['GET', '/signal/health', 503],
      ['GET', 'other', 404],
      ['POST', 'other', 404],
      ['GET', '/metrics', 200],
    ];
    durations.forEach((seconds, i) => {
      for (const [method, uri, code] of requests.slice(0, (i % requests.length) + 1)) {
        ours.observeRequest(method, uri, code, seconds);
        counter.inc({ method, code: String(code), uri });
        histogram.observe({ method, uri }, seconds);
      }
    });
    ours.observeRequest('BREW', 'other', 404, 0.003);
    counter.inc({ method: 'OTHER', code: '404', uri: 'other' });
    histogram.observe({ method: 'OTHER', uri: 'other' }, 0.003);

    const pick = (text: string, name: string): string => text.split('\n\n').find((block) => block.startsWith(`# HELP ${name} `))?.trim() ?? '';
    const expected = await registry.metrics();
    const actual = await ours.registry.metrics();
    for (const name of ['http_server_requests_total', 'http_server_request_duration_seconds']) {
      assert.ok(pick(expected, name).length > 0);
      assert.equal(pick(actual, name), pick(expected, name), name);
    }
    // A second read shows the same totals: counting is not lost or doubled by rendering.
    assert.equal(pick(await ours.registry.metrics(), 'http_server_requests_total'), pick(expected, 'http_server_requests_total'));
    const json = (await ours.registry.getMetricsAsJSON()).find((metric) => metric.name === 'http_server_request_duration_seconds');
    const reference = (await registry.getMetricsAsJSON()).find((metric) => metric.name === 'http_server_request_duration_seconds');
    // prom-client adds an empty `exemplar` to its own bucket values; nothing reads it here.
    const plain = (values: unknown): unknown => JSON.parse(JSON.stringify(values, (key, value: unknown) => (key === 'exemplar' ? undefined : value)));
    assert.deepEqual(plain(json?.values), plain(reference?.values));
  });
});
