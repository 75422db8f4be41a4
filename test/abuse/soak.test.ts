import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode, REPLIES } from '../../src/demo/fake-signal-node';
import { agentAnswer, get, processUsage, sleep, startAgainst, untilHealthy, verdict, type Daemon } from '../helpers/daemon';
import { HEALTH_P99_MS, metricValue, percentile, sampleHealth, table } from '../helpers/load';

/** SOAK_SECONDS=600 (the default) is the full soak; e.g. SOAK_SECONDS=30 is a quick look. */
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? '600');
const SAMPLES = 20;
/** jicofo fails and heals this often: every flap is a state change the daemon must log once. */
const FLAP_MS = 3000;
const HTTP_CLIENTS = 4;
const HTTP_PAUSE_MS = 40;
const AGENT_PAUSE_MS = 20;
/** RSS is read in KiB. */
const KIB_PER_MIB = 1024;

interface Sample {
  readonly at: number;
  readonly rssKiB: number;
  readonly fds: number;
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
  readonly healthP99Ms: number;
  readonly http: number;
  readonly agent: number;
}

const median = (values: readonly number[]): number => percentile(values, 50);

describe(`soak: ${SOAK_SECONDS} s of steady HTTP and agent load while jicofo flaps every ${FLAP_MS / 1000} s`, () => {
  const fake = new FakeSignalNode();
  let daemon: Daemon;

  before(async () => {
    assert.ok(Number.isFinite(SOAK_SECONDS) && SOAK_SECONDS >= 10, `SOAK_SECONDS=${process.env.SOAK_SECONDS ?? ''} must be at least 10`);
    await fake.start();
    daemon = await startAgainst(fake, { POLLING_INTERVAL: '0.5' });
    await untilHealthy(daemon.httpPort);
  });
  after(async () => {
    await daemon.stop();
    await fake.stop();
  });

  it('keeps RSS, open descriptors and event-loop delay flat, answers everyone, logs once per change', { timeout: (SOAK_SECONDS + 120) * 1000 }, async () => {
    const pid = daemon.child.pid ?? 0;
    const started = Date.now();
    const end = started + SOAK_SECONDS * 1000;
    let httpDone = 0;
    let httpFailed = 0;
    let agentDone = 0;
    const agentWrong: string[] = [];
    let flaps = 0;

    const httpLoop = async (client: number): Promise<void> => {
      const paths = ['/signal/health', '/signal/report', '/about/health', '/health'];
      for (let i = client; Date.now() < end; i += 1) {
        try {
          const answer = await get(daemon.httpPort, paths[i % paths.length] ?? '/health');
          if (![200, 503].includes(answer.status)) httpFailed += 1;
        } catch {
          httpFailed += 1;
        }
        httpDone += 1;
        await sleep(HTTP_PAUSE_MS);
      }
    };
    const agentLoop = async (): Promise<void> => {
      while (Date.now() < end) {
        const line = await agentAnswer(daemon.agentPort, 5000).catch((error: unknown) => String(error));
        if (!/^(up|down) (ready|drain|maint) \d+%\n$/.test(verdict(line))) agentWrong.push(line);
        agentDone += 1;
        await sleep(AGENT_PAUSE_MS);
      }
    };
    const flapLoop = async (): Promise<void> => {
      while (Date.now() < end) {
        await sleep(FLAP_MS);
        // Alternate hard (500) and soft (503) failures, each followed by a heal.
        const down = flaps % 2 === 0;
        fake.set('jicofoHealth', down ? (flaps % 4 === 0 ? REPLIES.jicofoHardDown() : REPLIES.jicofoSoftDown()) : REPLIES.jicofoHealthy());
        flaps += 1;
      }
      fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    };

    const health = sampleHealth(daemon.httpPort, 50);
    const allHealth: number[] = [];
    const samples: Sample[] = [];
    const linesAtStart = daemon.lines.length;
    const sampler = async (): Promise<void> => {
      // The only /metrics scraper, like Prometheus: each scrape covers the event-loop delay since the last one.
      await get(daemon.httpPort, '/metrics');
      for (let k = 1; k <= SAMPLES; k += 1) {
        await sleep(Math.max(0, started + (k * SOAK_SECONDS * 1000) / SAMPLES - Date.now()));
        const metrics = (await get(daemon.httpPort, '/metrics')).body;
        const usage = processUsage(pid);
        const latencies = health.take();
        allHealth.push(...latencies);
        samples.push({
          at: Math.round((Date.now() - started) / 1000),
          rssKiB: usage.rssKiB,
          fds: usage.fds,
          loopP99Ms: metricValue(metrics, 'nodejs_eventloop_lag_p99_seconds') * 1000,
          loopMaxMs: metricValue(metrics, 'nodejs_eventloop_lag_max_seconds') * 1000,
          healthP99Ms: percentile(latencies, 99),
          http: httpDone,
          agent: agentDone,
        });
      }
    };

    await Promise.all([...Array.from({ length: HTTP_CLIENTS }, (_, client) => httpLoop(client)), agentLoop(), flapLoop(), sampler()]);
    await health.stop();
    const logLines = daemon.lines.length - linesAtStart;

    process.stdout.write(
      `\n${table(
        ['t s', 'RSS MiB', 'fds', 'loop p99 ms', 'loop max ms', '/health p99 ms', 'HTTP reqs', 'agent conns'],
        samples.map((sample) => [
          sample.at,
          (sample.rssKiB / KIB_PER_MIB).toFixed(1),
          sample.fds,
          sample.loopP99Ms.toFixed(1),
          sample.loopMaxMs.toFixed(1),
          sample.healthP99Ms.toFixed(1),
          sample.http,
          sample.agent,
        ]),
      )}\nflaps ${flaps}, log lines ${logLines}, HTTP ${httpDone} (${httpFailed} failed), agent ${agentDone} (${agentWrong.length} wrong), /health p50 ${percentile(allHealth, 50).toFixed(1)} p99 ${percentile(allHealth, 99).toFixed(1)} max ${Math.max(...allHealth).toFixed(1)} ms over ${allHealth.length}\n`,
    );

    assert.equal(httpFailed, 0);
    assert.deepEqual(agentWrong.slice(0, 3), []);
    assert.equal(health.failures, 0);
    // One line per state change: a flap is at most a change and its reason, never a line per poll or request.
    assert.ok(logLines <= 2 * flaps + 10, `${logLines} log lines for ${flaps} flaps`);
    assert.ok(flaps >= Math.floor(SOAK_SECONDS / (FLAP_MS / 1000)) - 2);

    // Flat: the last quarter against the second. The first quarter is
    // warm-up: V8 grows its heap to the working set in the first ~20 s.
    const quarter = Math.max(1, Math.floor(samples.length / 4));
    const settled = samples.slice(quarter, 2 * quarter);
    const last = samples.slice(-quarter);
    const rssGrowth = Math.max(...last.map((s) => s.rssKiB)) - Math.max(...settled.map((s) => s.rssKiB));
    assert.ok(rssGrowth < 16 * KIB_PER_MIB, `RSS peak grew ${(rssGrowth / KIB_PER_MIB).toFixed(1)} MiB after warm-up`);
    assert.ok(Math.max(...last.map((s) => s.fds)) <= median(settled.map((s) => s.fds)) + 10, 'open descriptors grew');
    // prom-client samples the loop every 10 ms, so an idle loop already reads about 10 ms here.
    assert.ok(median(samples.map((s) => s.loopP99Ms)) < 50, 'event-loop delay p99 above 50 ms');
    assert.ok(percentile(allHealth, 99) < HEALTH_P99_MS, `/health p99 ${percentile(allHealth, 99)} ms`);
  });
});
