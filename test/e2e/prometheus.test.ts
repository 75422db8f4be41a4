import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode, REPLIES } from '../../src/demo/fake-signal-node';
import { freePort, get, startAgainst, waitFor, type Daemon } from '../helpers/daemon';
import { missing, Prometheus, runTool } from './components';
import { FAST, seconds } from './shard';

/**
 * The daemon's /metrics as Prometheus 2.42's own tools see it: promtool's
 * lint, and a real server scraping it.
 */

/**
 * Metric names that fail `promtool check metrics` and are kept anyway, each
 * with the reason. Everything else the daemon serves must pass the lint.
 */
const LINT_EXCEPTIONS: Readonly<Record<string, string>> = {
  signal_health_check: 'original name, in dashboards: a counter without _total',
  signal_unhealthy_check: 'original name, in dashboards: a counter without _total',
  nodejs_active_handles_total: "prom-client's default metrics: a gauge named _total",
  nodejs_active_requests_total: "prom-client's default metrics: a gauge named _total",
  nodejs_active_resources_total: "prom-client's default metrics: a gauge named _total",
};

/** The contract's metric names and types; promtool passes an empty input, so the content is checked too. */
const CONTRACT_METRICS: Readonly<Record<string, string>> = {
  signal_health: 'gauge',
  signal_census: 'gauge',
  prosody_participant_sum_squared: 'gauge',
  signal_health_check: 'counter',
  signal_unhealthy_check: 'counter',
  signal_unhealthy_total: 'counter',
  http_server_requests_in_flight: 'gauge',
  http_server_requests_total: 'counter',
  http_server_request_duration_seconds: 'histogram',
};

/** The metric a line of the text format belongs to: `# HELP name`, `# TYPE name`, or a sample `name{…} value`. */
function metricOf(line: string): string | undefined {
  const comment = /^# (?:HELP|TYPE) (\S+)/.exec(line);
  if (comment !== null) return comment[1];
  return /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1];
}

void describe('Prometheus 2.42 and the daemon metrics', () => {
  let fake: FakeSignalNode;
  let daemon: Daemon;
  const promtoolMissing = missing('promtool');
  const prometheusMissing = missing('prometheus', 'promtool');

  before(async () => {
    if (promtoolMissing !== undefined && prometheusMissing !== undefined) return;
    fake = await new FakeSignalNode().start();
    daemon = await startAgainst(fake, FAST);
    await waitFor('a first decision', async () => ((await get(daemon.httpPort, '/signal/health')).status === 200 ? true : undefined));
  });

  after(async () => {
    await daemon?.stop();
    await fake?.stop();
  });

  void it('promtool check metrics passes on /metrics, except the names listed with their reason', { skip: promtoolMissing, timeout: 30_000 }, async (t) => {
    // Every counter and histogram has samples once a request was served.
    await get(daemon.httpPort, '/signal/health');
    const metrics = await get(daemon.httpPort, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    for (const [name, type] of Object.entries(CONTRACT_METRICS)) {
      assert.ok(metrics.body.includes(`\n# TYPE ${name} ${type}\n`), `/metrics declares ${name} as a ${type}`);
    }

    // The exceptions are exact: each still fails the lint, and nothing else does.
    const whole = runTool('promtool', ['check', 'metrics'], metrics.body);
    const problems = whole.stderr.split('\n').filter((line) => line.trim() !== '');
    t.diagnostic(`e2e: promtool on the whole /metrics: exit ${whole.status}, ${problems.length} problems`);
    assert.equal(whole.status, 3, `lint problems expected for the exceptions: ${whole.stdout}${whole.stderr}`);
    for (const problem of problems) {
      assert.ok(Object.keys(LINT_EXCEPTIONS).includes(problem.split(' ')[0] ?? ''), `unexpected lint problem: ${problem}`);
    }
    for (const name of Object.keys(LINT_EXCEPTIONS)) {
      assert.ok(problems.some((problem) => problem.startsWith(`${name} `)), `${name} passes the lint now: drop it from the exceptions`);
    }

    const linted = metrics.body
      .split('\n')
      .filter((line) => !Object.keys(LINT_EXCEPTIONS).includes(metricOf(line) ?? ''))
      .join('\n');
    const clean = runTool('promtool', ['check', 'metrics'], linted);
    assert.equal(clean.stderr, '');
    assert.equal(clean.status, 0);
  });

  void it('a real Prometheus scrapes signal_health: 1, then 0 after a jicofo failure', { skip: prometheusMissing, timeout: 60_000 }, async (t) => {
    const prometheus = await Prometheus.start(`127.0.0.1:${daemon.httpPort}`, await freePort());
    try {
      const started = Date.now();
      // Prometheus applies its targets every 5 s: the first sample takes ~6 s.
      await waitFor('signal_health 1 in Prometheus', async () => ((await prometheus.value('signal_health')) === '1' ? true : undefined), 20_000, 200);
      t.diagnostic(`e2e: Prometheus first signal_health sample after ${Date.now() - started} ms`);
      assert.equal(await prometheus.value('up{job="signal-sidecar"}'), '1');

      const broken = Date.now();
      fake.set('jicofoHealth', REPLIES.jicofoHardDown());
      await waitFor('signal_health 0 in Prometheus', async () => ((await prometheus.value('signal_health')) === '0' ? true : undefined), 10_000, 100);
      t.diagnostic(`e2e: jicofo 500 -> Prometheus signal_health 0 in ${Date.now() - broken} ms (scrape interval 1000 ms)`);
      assert.equal(await prometheus.value('signal_unhealthy_total'), '1');

      const healed = Date.now();
      fake.set('jicofoHealth', REPLIES.jicofoHealthy());
      await waitFor('signal_health 1 again', async () => ((await prometheus.value('signal_health')) === '1' ? true : undefined), seconds(FAST.HEALTH_DAMPENING_INTERVAL) + 10_000, 100);
      t.diagnostic(`e2e: jicofo 200 -> Prometheus signal_health 1 in ${Date.now() - healed} ms (dampening ${seconds(FAST.HEALTH_DAMPENING_INTERVAL)} ms)`);
    } finally {
      await prometheus.stop();
    }
  });
});
