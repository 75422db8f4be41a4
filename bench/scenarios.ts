import { renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { FakeSignalNode, REPLIES, answer, type Reply } from '../src/demo/fake-signal-node';
import { agentAnswer, freePort, sleep, startDaemon, waitFor, type Daemon } from '../test/helpers/daemon';
import { agentLoad, distinctPaths, httpLoad, timedGet, type AgentRun, type LoadRun } from './lib/load';
import { cpuSeconds, pin, rssMiB, spread, type Spread } from './lib/measure';
import { LAUNCHES, startReference, startSidecar, type Reference } from './lib/servers';
import { alone, type Figure } from './lib/table';
import { UpstreamProcess } from '../test/helpers/upstream-process';

export interface Settings {
  readonly quick: boolean;
  /** Seconds of each HTTP or agent load run. */
  readonly loadSeconds: number;
  /** Paired runs (reference, daemon) per throughput figure. */
  readonly repeats: number;
  readonly connections: number;
  readonly soakSeconds: number;
  /** Seconds of the abuse floods. */
  readonly floodSeconds: number;
  readonly starts: number;
  readonly failureRepeats: number;
  readonly drainRepeats: number;
  /** KV writes, and as many status file writes, of the Consul phase. */
  readonly consulWrites: number;
  /** jicofo failures until the report in Consul says so: for the daemon, and for a sidecar that publishes once a minute. */
  readonly consulFailures: number;
  readonly consulOtherReportTrials: number;
  readonly consulOutageSeconds: number;
  /** Writes to the Consul that replaced the killed one. */
  readonly consulRestartWrites: number;
  readonly idleSeconds: number;
  /** Seconds of each one-connection /metrics run. */
  readonly metricsSeconds: number;
  readonly distinctUrls: number;
  /** CPU the servers run on, and the CPU of the load generators (undefined: no pinning). */
  readonly serverCpu: number | undefined;
  readonly loadCpu: number | undefined;
  readonly tool: 'wrk' | 'autocannon';
  readonly scratch: string;
  readonly referenceScript: string;
  readonly log: (line: string) => void;
}

/** Raw measurements kept in the JSON next to the figures. */
export type Raw = Record<string, unknown>;

const ratioOf = (daemon: readonly number[], reference: readonly number[]): Spread => spread(daemon.map((value, i) => value / (reference[i])));

const pid = (daemon: Daemon): number => daemon.child.pid as number;

export interface Pair<T> {
  readonly daemon: T;
  readonly reference: T;
}

/** Runs the reference and the daemon alternately (ABBA…), so drift in the machine's load hits both alike. */
export async function paired<T>(repeats: number, reference: () => Promise<T>, daemon: () => Promise<T>, done: (i: number, pair: Pair<T>) => void): Promise<Pair<T>[]> {
  const pairs: Pair<T>[] = [];
  for (let i = 0; i < repeats; i += 1) {
    let pair: Pair<T>;
    if (i % 2 === 0) {
      const theirs = await reference();
      pair = { reference: theirs, daemon: await daemon() };
    } else {
      const ours = await daemon();
      pair = { daemon: ours, reference: await reference() };
    }
    pairs.push(pair);
    done(i, pair);
  }
  return pairs;
}

/** A figure measured on both, with the ratio taken per pair; `met` judges the median ratio. */
export function compared(id: string, name: string, unit: string, ours: readonly number[], theirs: readonly number[], target = '', met?: (ratio: number) => boolean): Figure {
  const ratio = ratioOf(ours, theirs);
  return { id, name, unit, daemon: spread(ours), reference: spread(theirs), ratio, target, met: met === undefined ? null : met(ratio.median) };
}

interface Served {
  readonly load: LoadRun;
  readonly cpuMicrosPerRequest: number;
}

async function serveHttp(settings: Settings, serverPid: number, url: string, seconds = settings.loadSeconds): Promise<Served> {
  const before = cpuSeconds(serverPid);
  const load = await httpLoad(settings.tool, { url, connections: settings.connections, seconds, cpu: settings.loadCpu }, settings.scratch);
  const cpu = cpuSeconds(serverPid) - before;
  return { load, cpuMicrosPerRequest: (cpu * 1e6) / load.requests };
}

/** Requests/s and CPU per request on one route, reference and daemon alternating (ABBA) so drift hits both. */
export async function throughput(settings: Settings, daemon: Daemon, reference: Reference, path: string, raw: Raw): Promise<Figure[]> {
  const daemonUrl = `http://127.0.0.1:${daemon.httpPort}${path}`;
  const referenceUrl = `http://127.0.0.1:${reference.httpPort}${path}`;
  // Warm-up: JIT and connection setup out of the measured runs.
  await serveHttp(settings, reference.pid, referenceUrl, 1);
  await serveHttp(settings, pid(daemon), daemonUrl, 1);
  const runs = await paired(
    settings.repeats,
    () => serveHttp(settings, reference.pid, referenceUrl),
    () => serveHttp(settings, pid(daemon), daemonUrl),
    (i, { daemon: ours, reference: theirs }) =>
      settings.log(
        `  ${path} run ${i + 1}: daemon ${Math.round(ours.load.requestsPerSecond)} req/s ${ours.cpuMicrosPerRequest.toFixed(1)} µs/req, ` +
          `bare ${Math.round(theirs.load.requestsPerSecond)} req/s ${theirs.cpuMicrosPerRequest.toFixed(1)} µs/req`,
      ),
  );
  raw[`http ${path}`] = runs;
  const errors = runs.reduce((sum, run) => sum + run.daemon.load.errors, 0);
  if (errors > 0) settings.log(`  WARNING: ${errors} errors or non-2xx answers from the daemon on ${path}`);
  const rps = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].load.requestsPerSecond);
  const cpu = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].cpuMicrosPerRequest);
  const p99 = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].load.p99Ms);
  return [
    compared(`http${path}:rps`, `GET ${path}, ${settings.connections} keep-alive conns`, 'req/s', rps('daemon'), rps('reference'), 'ratio ≥ 0.60', (ratio) => ratio >= 0.6),
    compared(`http${path}:cpu`, `GET ${path}, CPU per request`, 'µs', cpu('daemon'), cpu('reference'), 'ratio ≤ 2', (ratio) => ratio <= 2),
    compared(`http${path}:p99`, `GET ${path}, p99 latency under load`, 'ms', p99('daemon'), p99('reference')),
  ];
}

interface Connected {
  readonly connections: number;
  readonly perSecond: number;
  readonly cpuMicrosPerConnection: number;
}

async function serveAgent(settings: Settings, serverPid: number, port: number, seconds = settings.loadSeconds): Promise<Connected> {
  const before = cpuSeconds(serverPid);
  const run = await agentLoad(port, 16, seconds, 1_000_000);
  const cpu = cpuSeconds(serverPid) - before;
  if (run.bad > 0) settings.log(`  WARNING: ${run.bad} agent connections closed without a line`);
  return { connections: run.connections, perSecond: run.perSecond, cpuMicrosPerConnection: (cpu * 1e6) / run.connections };
}

/** Agent connections: the client limits the rate on 2 cores, so CPU per connection is the figure. */
export async function agent(settings: Settings, daemon: Daemon, reference: Reference, raw: Raw): Promise<Figure[]> {
  await serveAgent(settings, reference.pid, reference.agentPort, 1);
  await serveAgent(settings, pid(daemon), daemon.agentPort, 1);
  const runs = await paired(
    settings.repeats,
    () => serveAgent(settings, reference.pid, reference.agentPort),
    () => serveAgent(settings, pid(daemon), daemon.agentPort),
    (i, { daemon: ours, reference: theirs }) =>
      settings.log(
        `  agent run ${i + 1}: daemon ${Math.round(ours.perSecond)} conn/s ${ours.cpuMicrosPerConnection.toFixed(1)} µs/conn, ` +
          `bare ${Math.round(theirs.perSecond)} conn/s ${theirs.cpuMicrosPerConnection.toFixed(1)} µs/conn`,
      ),
  );
  raw.agent = runs;
  const cpu = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].cpuMicrosPerConnection);
  const rate = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].perSecond);
  return [
    compared('agent:cpu', 'agent, CPU per connection', 'µs', cpu('daemon'), cpu('reference'), 'ratio ≤ 1.2', (ratio) => ratio <= 1.2),
    compared('agent:rate', 'agent, connections/s (client-bound)', 'conn/s', rate('daemon'), rate('reference')),
  ];
}

function seriesCount(text: string): number {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
}

/**
 * /metrics latency one request at a time (wrk, one connection), and its size
 * before and after many distinct URLs. A C client, not this process: the
 * bench's own heap (the fake signal node, the in-process agent client) made
 * its garbage collector stall for up to 16 ms every ~200 ms, and with
 * 20 KB answers those stalls landed on the daemon's figures.
 */
/** One-connection latency runs of `path` (wrk), reference and daemon alternating. */
export function sequentialRuns(settings: Settings, daemon: Daemon, reference: Reference, path: string, seconds = settings.metricsSeconds): Promise<Pair<LoadRun>[]> {
  const sequential = (port: number): Promise<LoadRun> =>
    httpLoad(settings.tool, { url: `http://127.0.0.1:${port}${path}`, connections: 1, seconds, cpu: settings.loadCpu }, settings.scratch);
  return paired(
    settings.repeats,
    () => sequential(reference.httpPort),
    () => sequential(daemon.httpPort),
    (i, { daemon: ours, reference: theirs }) =>
      settings.log(
        `  ${path} run ${i + 1}: daemon p50 ${ours.p50Ms.toFixed(2)} p99 ${ours.p99Ms.toFixed(2)} ms (${ours.requests} requests), ` +
          `bare p50 ${theirs.p50Ms.toFixed(2)} p99 ${theirs.p99Ms.toFixed(2)} ms (${theirs.requests} requests)`,
      ),
  );
}

export async function metrics(settings: Settings, daemon: Daemon, reference: Reference, raw: Raw): Promise<Figure[]> {
  const runs = await sequentialRuns(settings, daemon, reference, '/metrics');
  const p99s = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].p99Ms);
  const p50s = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].p50Ms);
  const p99 = spread(p99s('daemon'));

  // The first 404 creates its own series once; growth is what comes after.
  await distinctPaths(daemon.httpPort, '/bench/first/', 10, 1);
  const before = (await timedGet(daemon.httpPort, '/metrics', false)).body;
  const answered = await distinctPaths(daemon.httpPort, '/bench/distinct/', settings.distinctUrls, 16);
  const after = (await timedGet(daemon.httpPort, '/metrics', false)).body;
  const sizes = { beforeBytes: before.length, afterBytes: after.length, beforeSeries: seriesCount(before), afterSeries: seriesCount(after), answered };
  settings.log(`  /metrics size ${sizes.beforeBytes} → ${sizes.afterBytes} bytes, series ${sizes.beforeSeries} → ${sizes.afterSeries} after ${answered} distinct URLs`);
  raw.metrics = { runs, sizes };
  return [
    {
      id: 'metrics:p99',
      name: `GET /metrics p99, one connection (${settings.metricsSeconds} s runs)`,
      unit: 'ms',
      daemon: p99,
      reference: spread(p99s('reference')),
      ratio: ratioOf(p99s('daemon'), p99s('reference')),
      target: '≤ 5 ms',
      met: p99.median <= 5,
    },
    compared('metrics:p50', 'GET /metrics median, one connection', 'ms', p50s('daemon'), p50s('reference')),
    alone(
      'metrics:size',
      `/metrics size after ${settings.distinctUrls} distinct URLs (before: ${sizes.beforeBytes} bytes, ${sizes.beforeSeries} series)`,
      'bytes',
      spread([sizes.afterBytes]),
      'no new series',
      sizes.afterSeries <= sizes.beforeSeries,
    ),
  ];
}

/** Writes the status file the way config tools do (new file, then rename), so no reader sees it half-written. */
export function writeStatus(daemon: Daemon, word: string): void {
  const temporary = `${daemon.statusFile}.bench`;
  writeFileSync(temporary, `${word}\n`);
  renameSync(temporary, daemon.statusFile);
}

/** Status file written → the agent's line says drain. */
export async function drain(settings: Settings, daemon: Daemon, raw: Raw): Promise<Figure[]> {
  const waitAgent = async (wanted: (line: string) => boolean, limitMs: number): Promise<number> => {
    const started = performance.now();
    while (performance.now() - started < limitMs) {
      if (wanted(await agentAnswer(daemon.agentPort, 1000))) return performance.now() - started;
    }
    return Number.POSITIVE_INFINITY;
  };
  const times: number[] = [];
  for (let i = 0; i < settings.drainRepeats; i += 1) {
    await sleep(50 + Math.random() * 250);
    writeStatus(daemon, 'drain');
    times.push(await waitAgent((line) => line.startsWith('up drain'), 10_000));
    writeStatus(daemon, 'ready');
    await waitAgent((line) => line.startsWith('up ready'), 10_000);
  }
  raw.drainMs = times;
  const result = spread(times);
  settings.log(`  drain propagation median ${result.median.toFixed(1)} ms, max ${result.max.toFixed(1)} ms`);
  return [
    alone('drain', 'status file → agent says drain', 'ms', result, '≤ 100 ms', result.max <= 100),
  ];
}

/** Spawn to first answer, and RSS one second later, for fresh daemons (each launch) and fresh references. */
export async function startup(settings: Settings, node: FakeSignalNode, raw: Raw): Promise<Figure[]> {
  const firstAnswer = async (port: number, path: string): Promise<void> => {
    await waitFor(
      `first answer on ${path}`,
      () => timedGet(port, path, false, 3000).then((reply) => (reply.status === 200 ? true : undefined)),
      10_000,
      2,
    );
  };
  const ours = LAUNCHES.map(() => ({ ms: [] as number[], rss: [] as number[] }));
  const theirs = { ms: [] as number[], rss: [] as number[] };
  for (let i = 0; i < settings.starts; i += 1) {
    const line: string[] = [];
    for (const [index, { label, launch }] of LAUNCHES.entries()) {
      const [httpPort, tcpPort] = [await freePort(), await freePort()];
      const started = performance.now();
      const daemon = await startDaemon(
        { JICOFO_ORIG: node.jicofoOrigin, PROSODY_ORIG: node.prosodyOrigin, HTTP_PORT: String(httpPort), TCP_PORT: String(tcpPort) },
        { status: 'ready\n', wait: false, launch },
      );
      await firstAnswer(httpPort, '/signal/health');
      const mine = ours[index];
      mine.ms.push(performance.now() - started);
      await sleep(1000);
      mine.rss.push(rssMiB(pid(daemon)));
      await daemon.stop();
      line.push(`${label} ${mine.ms.at(-1)?.toFixed(0)} ms ${mine.rss.at(-1)?.toFixed(1)} MiB`);
    }

    const ports = { http: await freePort(), agent: await freePort() };
    const started = performance.now();
    const reference = await startReference(settings.referenceScript, ports);
    await firstAnswer(ports.http, '/');
    theirs.ms.push(performance.now() - started);
    await sleep(1000);
    theirs.rss.push(rssMiB(reference.pid));
    await reference.stop();
    settings.log(`  start ${i + 1}: ${line.join(', ')}, bare ${theirs.ms.at(-1)?.toFixed(0)} ms ${theirs.rss.at(-1)?.toFixed(1)} MiB`);
  }
  raw.startup = { daemon: ours[0], plain: ours[1], reference: theirs };
  return LAUNCHES.flatMap(({ suffix, label }, index) => {
    const mine = ours[index];
    const ms = spread(mine.ms);
    const named = suffix === '' ? '' : ` (${label})`;
    return [
      {
        id: `start${suffix}`,
        name: `start to first healthy answer${named}`,
        unit: 'ms',
        daemon: ms,
        reference: spread(theirs.ms),
        ratio: ratioOf(mine.ms, theirs.ms),
        target: '≤ 150 ms median',
        met: ms.median <= 150,
      },
      compared(`rss:start${suffix}`, `RSS at start${named}`, 'MiB', mine.rss, theirs.rss, 'ratio ≤ 1.25', (ratio) => ratio <= 1.25),
    ];
  });
}

const MIXED_LOAD = `
-- Mixed load: the health routes, the report, some /metrics scrapes and 404s on ever new URLs.
local routes = { "/signal/health", "/signal/report", "/health", "/about/health" }
local n = 0
request = function()
  n = n + 1
  if n % 200 == 0 then return wrk.format("GET", "/metrics") end
  if n % 10 == 0 then return wrk.format("GET", "/soak/" .. n) end
  return wrk.format("GET", routes[(n % #routes) + 1])
end
`;

/** The mixed HTTP load (wrk; autocannon has no scripts, so it loads the report alone) plus two agent loops. */
function mixedLoad(settings: Settings, httpPort: number, agentPort: number, seconds: number, agentLoops = 2): Promise<[LoadRun, AgentRun]> {
  const url = `http://127.0.0.1:${httpPort}/`;
  return Promise.all([
    settings.tool === 'wrk'
      ? httpLoad(settings.tool, { url, connections: settings.connections, seconds, cpu: settings.loadCpu, script: MIXED_LOAD }, settings.scratch)
      : httpLoad(settings.tool, { url: `${url}signal/report`, connections: settings.connections, seconds, cpu: settings.loadCpu }, settings.scratch),
    agentLoad(agentPort, agentLoops, seconds, 10_000_000),
  ]);
}

/** RSS of one process before a load, at its end, and after 5 s and 30 s of rest. */
interface Growth {
  readonly startMiB: number;
  readonly peakMiB: number;
  readonly afterMiB: number;
  readonly after30sMiB: number;
}

async function rssAround(processId: number, load: () => Promise<void>, rested: () => void = () => undefined): Promise<Growth> {
  await sleep(1000);
  const startMiB = rssMiB(processId);
  await load();
  const peakMiB = rssMiB(processId);
  rested();
  await sleep(5000);
  const afterMiB = rssMiB(processId);
  // The daemon collects on its first quiet second (src/runtime/idle-trim.ts); V8's
  // own memory reducer follows 10 to 20 s later. A late sample tells growth from a leak.
  await sleep(25_000);
  return { startMiB, peakMiB, afterMiB, after30sMiB: rssMiB(processId) };
}

const showGrowth = (growth: Growth): string =>
  `RSS ${growth.startMiB.toFixed(1)} → ${growth.peakMiB.toFixed(1)} (end of load) → ${growth.afterMiB.toFixed(1)} (5 s idle) → ${growth.after30sMiB.toFixed(1)} MiB (30 s idle)`;

/**
 * RSS after a long mixed load and a short rest, against the RSS of the same
 * process at start, for each launch: the systemd unit's (flags and
 * environment read from the unit) and plain `node dist/app.js`.
 */
export async function soak(settings: Settings, node: FakeSignalNode, raw: Raw): Promise<Figure[]> {
  const figures: Figure[] = [];
  const runs: Record<string, unknown> = {};
  for (const { suffix, label, launch } of LAUNCHES) {
    const daemon = await startSidecar(node, {}, launch);
    if (settings.serverCpu !== undefined) pin(pid(daemon), settings.serverCpu);
    try {
      await waitFor('healthy', () => timedGet(daemon.httpPort, '/signal/health', false).then((reply) => (reply.status === 200 ? true : undefined)));
      let served: [LoadRun, AgentRun] | undefined;
      const growth = await rssAround(pid(daemon), async () => {
        served = await mixedLoad(settings, daemon.httpPort, daemon.agentPort, settings.soakSeconds);
      });
      const [load, agentRun] = served ?? [];
      settings.log(`  soak ${settings.soakSeconds} s, ${label}: ${load?.requests} requests, ${agentRun?.connections} agent connections; ${showGrowth(growth)}`);
      runs[label] = { seconds: settings.soakSeconds, requests: load?.requests, agentConnections: agentRun?.connections, ...growth };
      const named = suffix === '' ? '' : ` (${label})`;
      figures.push(
        alone(`rss:soak${suffix}`, `RSS growth after ${settings.soakSeconds} s mixed load + 5 s idle${named}`, 'MiB', spread([growth.afterMiB - growth.startMiB]), '≤ +15 MiB', growth.afterMiB - growth.startMiB <= 15),
        alone(`rss:rested${suffix}`, '  same, after 30 s idle', 'MiB', spread([growth.after30sMiB - growth.startMiB])),
      );
    } finally {
      await daemon.stop();
    }
  }
  raw.soak = runs;
  return figures;
}

/** A jicofo health body of 1 MiB: read only to PROBE_BODY_LIMIT, but read every poll. */
const HUGE_HEALTH_BODY = answer(200, 'All good. '.repeat(104_858), 'text/plain');

/**
 * The abuse floods, for each launch and for the bare reference: the mixed
 * HTTP load with 16 agent loops, while jicofo answers every poll (0.1 s) with
 * a 1 MiB health body. RSS 5 s after, against the RSS at start.
 */
export async function flood(settings: Settings, node: FakeSignalNode, raw: Raw): Promise<Figure[]> {
  const seconds = settings.floodSeconds;
  const runs: Record<string, Growth> = {};
  const reference = await startReference(settings.referenceScript);
  if (settings.serverCpu !== undefined) pin(reference.pid, settings.serverCpu);
  try {
    runs.bare = await rssAround(reference.pid, async () => {
      await mixedLoad(settings, reference.httpPort, reference.agentPort, seconds, 16);
    });
    settings.log(`  flood ${seconds} s, bare reference: ${showGrowth(runs.bare)}`);
  } finally {
    await reference.stop();
  }
  const bare = runs.bare;
  const figures: Figure[] = [];
  for (const { suffix, label, launch } of LAUNCHES) {
    const daemon = await startSidecar(node, { POLLING_INTERVAL: '0.1' }, launch);
    if (settings.serverCpu !== undefined) pin(pid(daemon), settings.serverCpu);
    try {
      await waitFor('healthy', () => timedGet(daemon.httpPort, '/signal/health', false).then((reply) => (reply.status === 200 ? true : undefined)));
      const growth = await rssAround(
        pid(daemon),
        async () => {
          node.set('jicofoHealth', HUGE_HEALTH_BODY);
          await mixedLoad(settings, daemon.httpPort, daemon.agentPort, seconds, 16);
        },
        () => node.set('jicofoHealth', REPLIES.jicofoHealthy()),
      );
      settings.log(`  flood ${seconds} s, ${label}: ${showGrowth(growth)}`);
      runs[label] = growth;
      const named = suffix === '' ? '' : ` (${label})`;
      const grown = growth.afterMiB - growth.startMiB;
      figures.push(
        {
          id: `rss:flood${suffix}`,
          name: `RSS growth after ${seconds} s of floods (mixed HTTP, agent, 1 MiB jicofo bodies) + 5 s idle${named}`,
          unit: 'MiB',
          daemon: spread([grown]),
          reference: spread([bare.afterMiB - bare.startMiB]),
          ratio: null,
          target: '≤ +20 MiB',
          met: grown <= 20,
        },
        {
          id: `rss:flood-rested${suffix}`,
          name: '  same, after 30 s idle',
          unit: 'MiB',
          daemon: spread([growth.after30sMiB - growth.startMiB]),
          reference: spread([bare.after30sMiB - bare.startMiB]),
          ratio: null,
          target: '',
          met: null,
        },
      );
    } finally {
      node.set('jicofoHealth', REPLIES.jicofoHealthy());
      await daemon.stop();
    }
  }
  raw.flood = { seconds, ...runs };
  return figures;
}

interface Verdict {
  readonly httpStatus: number;
  readonly agentLine: string;
}

async function verdict(daemon: Daemon): Promise<Verdict> {
  const [reply, line] = await Promise.all([
    timedGet(daemon.httpPort, '/signal/health', false, 2000).catch(() => ({ status: 0 })),
    agentAnswer(daemon.agentPort, 1000).catch(() => ''),
  ]);
  return { httpStatus: reply.status, agentLine: line };
}

/**
 * Milliseconds from `since` (default: now) until both the HTTP check and the
 * agent agree with `wanted`, watching every `everyMs`.
 */
async function until(daemon: Daemon, wanted: 'up' | 'down', limitMs: number, options: { since?: number; everyMs?: number } = {}): Promise<number> {
  const started = options.since ?? performance.now();
  let httpAt: number | undefined;
  let agentAt: number | undefined;
  while (performance.now() - started < limitMs) {
    const seen = await verdict(daemon);
    const at = performance.now() - started;
    if (httpAt === undefined && seen.httpStatus === (wanted === 'up' ? 200 : 503)) httpAt = at;
    if (agentAt === undefined && seen.agentLine.startsWith(`${wanted} `)) agentAt = at;
    if (httpAt !== undefined && agentAt !== undefined) return Math.max(httpAt, agentAt);
    await sleep(options.everyMs ?? 20);
  }
  return Number.POSITIVE_INFINITY;
}

/** Connects to `port` and resolves once connected, with a promise of the moment the peer closes. */
function heldOpen(port: number): Promise<{ readonly closed: Promise<void> }> {
  return new Promise((connected, fail) => {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<void>((done) => {
      socket.once('end', () => done());
      socket.once('close', () => done());
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => connected({ closed: closed.finally(() => socket.destroy()) }));
    socket.once('close', () => fail(new Error(`port ${port} closed before the kill`)));
  });
}

/**
 * Milliseconds from `since` until the agent says down, asking it every
 * millisecond or so. The agent alone: a second request per sample would load
 * the machine the figure is measured on.
 */
async function agentDown(daemon: Daemon, since: number, limitMs: number): Promise<number> {
  while (performance.now() - since < limitMs) {
    const line = await agentAnswer(daemon.agentPort, 1000).catch(() => '');
    if (line.startsWith('down ')) return performance.now() - since;
    await sleep(1);
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * Stratified random phases of an interval: one random offset inside each of
 * n equal slices, in random order. Still a random phase each time, but a
 * handful of trials covers the whole interval instead of clustering by
 * chance (8 plain draws once gave 5 in the first fifth).
 */
export function randomPhases(n: number, intervalMs: number): number[] {
  const offsets = Array.from({ length: n }, (_, i) => ((i + Math.random()) / n) * intervalMs);
  for (let i = offsets.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [offsets[i], offsets[j]] = [offsets[j] ?? 0, offsets[i] ?? 0];
  }
  return offsets;
}

/**
 * Failure detection and recovery with POLLING_INTERVAL=5 and no dampening or
 * grace: each fault is injected at a random phase of the poll loop.
 */
export async function failures(settings: Settings, raw: Raw): Promise<Figure[]> {
  const intervalS = 5;
  const probeTimeoutS = 3;
  const node = await new FakeSignalNode().start();
  const daemon = await startSidecar(node, {
    POLLING_INTERVAL: String(intervalS),
    PROBE_TIMEOUT: String(probeTimeoutS),
    HEALTH_DAMPENING_INTERVAL: '0',
    DRAIN_GRACE_INTERVAL: '0',
  });
  const limitMs = 30_000;
  const measure = async (fault: Reply): Promise<{ detect: number[]; recover: number[] }> => {
    const detect: number[] = [];
    const recover: number[] = [];
    for (const offset of randomPhases(settings.failureRepeats, intervalS * 1000)) {
      await until(daemon, 'up', limitMs);
      await sleep(offset);
      node.set('jicofoHealth', fault);
      detect.push(await until(daemon, 'down', limitMs));
      node.set('jicofoHealth', REPLIES.jicofoHealthy());
      recover.push(await until(daemon, 'up', limitMs));
      settings.log(`  ${fault.kind === 'hang' ? 'hang' : 'jicofo 500'} ${detect.length}: down after ${detect.at(-1)?.toFixed(0)} ms, up again after ${recover.at(-1)?.toFixed(0)} ms`);
    }
    return { detect, recover };
  };
  try {
    await waitFor('healthy', () => timedGet(daemon.httpPort, '/signal/health', false).then((reply) => (reply.status === 200 ? true : undefined)));
    const hard = await measure(REPLIES.jicofoHardDown());
    const hang = await measure({ kind: 'hang' });
    raw.failures = { intervalS, probeTimeoutS, hard, hang };
    const hardDetect = spread(hard.detect.map((ms) => ms / 1000));
    const hangDetect = spread(hang.detect.map((ms) => ms / 1000));
    const recovery = spread(hard.recover.map((ms) => ms / 1000));
    return [
      alone('detect:500', 'jicofo 500 → 503 and agent down', 's', hardDetect, '≤ 3 median, ≤ 5.5 worst', hardDetect.median <= 3 && hardDetect.max <= 5.5),
      alone('detect:hang', 'jicofo hangs → 503 and agent down', 's', hangDetect, `≤ ${intervalS + probeTimeoutS + 0.5} worst`, hangDetect.max <= intervalS + probeTimeoutS + 0.5),
      alone('recover', 'jicofo 200 again → 200 and agent up', 's', recovery, `≤ ${intervalS + 0.5} worst`, recovery.max <= intervalS + 0.5),
      alone('recover:hang', 'after a hang: jicofo 200 again → up', 's', spread(hang.recover.map((ms) => ms / 1000))),
    ];
  } finally {
    await daemon.stop();
    await node.stop();
  }
}

/**
 * The next wall-clock time, at least 50 ms away, that lies `phaseMs` into an
 * interval of the daemon's poll loop. The loop runs at a fixed rate from the
 * moment the daemon starts polling, just before it logs that it listens.
 */
function untilPhase(daemon: Daemon, intervalMs: number, phaseMs: number): number {
  const listening = daemon.logs().find((line) => line.message === 'signal-sidecar listening');
  const startedAt = Date.parse(String(listening?.timestamp));
  if (Number.isNaN(startedAt)) throw new Error('the daemon logged no start time');
  const earliest = Date.now() + 50;
  const cycles = Math.ceil((earliest - startedAt - phaseMs) / intervalMs);
  return startedAt + cycles * intervalMs + phaseMs;
}

/**
 * A real upstream process (the fake jicofo in a process of its own) killed
 * with -9 at random phases of the poll loop, POLLING_INTERVAL=5: time to 503
 * and agent `down` with the connection watch, and, trial for trial in the
 * same run, for a daemon with CONNECTION_WATCH=false, which waits for its
 * next poll. Each trial kills the upstream at a random phase of the measured
 * daemon's loop (stratified, as in failures), then restarts it on the same port.
 */
export async function crash(settings: Settings, raw: Raw): Promise<Figure[]> {
  const intervalS = 5;
  const jicofo = await UpstreamProcess.start('jicofo');
  const prosody = await new FakeSignalNode().start();
  const upstream = { jicofoOrigin: jicofo.origin, prosodyOrigin: prosody.prosodyOrigin };
  const env = { POLLING_INTERVAL: String(intervalS), PROBE_TIMEOUT: '3', HEALTH_DAMPENING_INTERVAL: '0', DRAIN_GRACE_INTERVAL: '0' };
  const watched = await startSidecar(upstream, env);
  const polled = await startSidecar(upstream, { ...env, CONNECTION_WATCH: 'false' });
  const limitMs = 30_000;
  const times = { watched: [] as number[], polled: [] as number[] };
  /** Where the time of each trial went: the kill until the exit is reported, and until the daemon logged its change. */
  const steps: { daemon: string; downMs: number; closedMs: number; exitMs: number; loggedMs: number }[] = [];
  const trial = async (daemon: Daemon, phase: number): Promise<number> => {
    await until(daemon, 'up', limitMs);
    // A connection of the bench's own shows when the kernel closes the killed process's sockets.
    const observer = await heldOpen(jicofo.port);
    await sleep(untilPhase(daemon, intervalS * 1000, phase) - Date.now());
    const lines = daemon.lines.length;
    const killedAt = performance.now();
    const killedWall = Date.now();
    const closed = observer.closed.then(() => performance.now() - killedAt);
    const gone = jicofo.kill('SIGKILL').then(() => performance.now() - killedAt);
    const downMs = await agentDown(daemon, killedAt, limitMs);
    // Both answer from the one state object: once the agent says down, /signal/health must say 503.
    const health = await timedGet(daemon.httpPort, '/signal/health', false, 2000);
    if (health.status !== 503) settings.log(`  WARNING: agent down, but /signal/health answered ${health.status}`);
    const [closedMs, exitMs] = await Promise.all([closed, gone]);
    const change = daemon.logs().slice(lines).find((line) => line.message === 'signal node state changed');
    steps.push({ daemon: daemon === watched ? 'watched' : 'polled', downMs, closedMs, exitMs, loggedMs: Date.parse(String(change?.timestamp)) - killedWall });
    await jicofo.restart();
    return health.status === 503 ? downMs : Number.POSITIVE_INFINITY;
  };
  try {
    const phases = { watched: randomPhases(settings.failureRepeats, intervalS * 1000), polled: randomPhases(settings.failureRepeats, intervalS * 1000) };
    // Alternating, so drift in the machine's load hits both alike.
    for (let i = 0; i < settings.failureRepeats; i += 1) {
      times.watched.push(await trial(watched, phases.watched[i] ?? 0));
      times.polled.push(await trial(polled, phases.polled[i] ?? 0));
      const step = steps.at(-2);
      settings.log(
        `  jicofo kill -9 ${i + 1}: down after ${times.watched.at(-1)?.toFixed(1)} ms with the watch ` +
          `(sockets closed at ${step?.closedMs.toFixed(1)} ms, daemon logged at ${step?.loggedMs} ms), ${times.polled.at(-1)?.toFixed(0)} ms without`,
      );
    }
    raw.crash = { intervalS, ...times, steps };
    const withWatch = spread(times.watched);
    const withoutWatch = spread(times.polled);
    const watchedSteps = steps.filter((step) => step.daemon === 'watched');
    const kernel = spread(watchedSteps.map((step) => step.closedMs));
    const ours = spread(watchedSteps.map((step) => step.downMs - step.closedMs));
    return [
      alone('crash:watch', 'jicofo killed (-9) → agent down (and 503), connection watch', 'ms', withWatch, '≤ 50 median, ≤ 100 worst', withWatch.median <= 50 && withWatch.max <= 100),
      alone('crash:close', '  of which: kill until its sockets close (the kernel)', 'ms', kernel),
      alone('crash:react', '  and: sockets closed → agent down (the daemon)', 'ms', ours),
      alone('crash:poll', '  same kill, CONNECTION_WATCH=false (next poll)', 'ms', withoutWatch),
    ];
  } finally {
    await Promise.all([watched.stop(), polled.stop()]);
    await Promise.all([jicofo.stop(), prosody.stop()]);
  }
}

/** CPU used while idle, polling every second; beside it, the same daemon without the connection watch. */
export async function idle(settings: Settings, node: FakeSignalNode, reference: Reference, raw: Raw): Promise<Figure[]> {
  const daemon = await startSidecar(node, { POLLING_INTERVAL: '1' });
  const unwatched = await startSidecar(node, { POLLING_INTERVAL: '1', CONNECTION_WATCH: 'false' });
  try {
    await sleep(3000);
    const ours = cpuSeconds(pid(daemon));
    const plain = cpuSeconds(pid(unwatched));
    const theirs = cpuSeconds(reference.pid);
    await sleep(settings.idleSeconds * 1000);
    const percent = ((cpuSeconds(pid(daemon)) - ours) / settings.idleSeconds) * 100;
    const unwatchedPercent = ((cpuSeconds(pid(unwatched)) - plain) / settings.idleSeconds) * 100;
    const referencePercent = ((cpuSeconds(reference.pid) - theirs) / settings.idleSeconds) * 100;
    settings.log(
      `  idle: ${percent.toFixed(2)} % of one core over ${settings.idleSeconds} s ` +
        `(without the connection watch ${unwatchedPercent.toFixed(2)} %, bare ${referencePercent.toFixed(2)} %)`,
    );
    raw.idle = { seconds: settings.idleSeconds, percent, unwatchedPercent, referencePercent };
    return [
      {
        id: 'idle',
        name: `idle CPU, POLLING_INTERVAL=1, ${settings.idleSeconds} s`,
        unit: '% core',
        daemon: spread([percent]),
        reference: spread([referencePercent]),
        ratio: null,
        target: '≤ 1 %',
        met: percent <= 1,
      },
      alone('idle:unwatched', '  same run, CONNECTION_WATCH=false', '% core', spread([unwatchedPercent])),
    ];
  } finally {
    await Promise.all([daemon.stop(), unwatched.stop()]);
  }
}
