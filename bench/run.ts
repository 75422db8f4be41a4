import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FakeSignalNode } from '../src/demo/fake-signal-node';
import { waitFor } from '../test/helpers/daemon';
import { consulPhase, type OtherSidecar } from './consul/phase';
import { parseSidecarCommand } from './fleet/sidecar-process';
import { loadTool, timedGet } from './lib/load';
import { machine, pin } from './lib/measure';
import { compileReference, startReference, startSidecar } from './lib/servers';
import { HEADER, markdownRows, markdownTable, plainTable, tableRows, textTable, type Figure } from './lib/table';
import { largestNodeScale } from './scale';
import * as scenario from './scenarios';

/**
 * `npm run bench`: the built daemon and a bare Node reference, loaded the same
 * way in one run. BENCH_QUICK=1 shortens every phase; BENCH_SOAK_SECONDS and
 * BENCH_REPEATS override the soak length and the paired runs; BENCH_ONLY (a
 * comma list of http, agent, metrics, drain, scale, start, flood, soak, failures, crash, idle, consul) runs only
 * those phases, for iterating on one figure.
 *
 * Option: --sidecar-cmd "node /path/to/app.js" runs that sidecar (any that
 * reads the original's environment variables, e.g. the original 0.3.2) beside
 * the daemon in the consul phase, in the column of its own table.
 */

const PHASES = ['http', 'agent', 'metrics', 'drain', 'scale', 'start', 'flood', 'soak', 'failures', 'crash', 'idle', 'consul'] as const;
type Phase = (typeof PHASES)[number];

function phases(): ReadonlySet<Phase> {
  const text = process.env.BENCH_ONLY;
  if (text === undefined || text === '') return new Set(PHASES);
  const chosen = text.split(',').map((word) => word.trim());
  const unknown = chosen.filter((word) => !(PHASES as readonly string[]).includes(word));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown phase ${unknown.join(', ')}; expected some of ${PHASES.join(', ')}`);
  return new Set(chosen as Phase[]);
}

function otherSidecar(argv: readonly string[]): OtherSidecar | undefined {
  if (argv.length === 0) return undefined;
  const [flag, text] = argv;
  if (flag !== '--sidecar-cmd' || text === undefined || argv.length > 2) throw new Error(`unknown or incomplete options ${argv.join(' ')}; expected at most --sidecar-cmd "command"`);
  return { text, command: parseSidecarCommand(text) };
}

/** The consul phase's table: the daemon beside the sidecar --sidecar-cmd names. */
const CONSUL_HEADER = HEADER.map((title, column) => (column === 2 ? 'other sidecar (--sidecar-cmd)' : title));

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function numberFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${text}: expected a positive number`);
  return value;
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const run = phases();
  const other = otherSidecar(process.argv.slice(2));
  // Before pinning: nproc counts only the CPUs this process may use.
  const machineBefore = machine();
  const twoCores = cpus().length >= 2;
  const scratch = mkdtempSync(join(tmpdir(), 'sidecar-bench-'));
  // The bench itself (fake signal node, TCP client) shares the load generator's
  // core, leaving the other one to the server under test.
  const loadCpu = twoCores ? 0 : undefined;
  const serverCpu = twoCores ? 1 : undefined;
  const pinned = loadCpu !== undefined && pin(process.pid, loadCpu);
  const settings: scenario.Settings = {
    quick,
    loadSeconds: quick ? 3 : 5,
    repeats: numberFromEnv('BENCH_REPEATS', quick ? 3 : 5),
    connections: 32,
    soakSeconds: numberFromEnv('BENCH_SOAK_SECONDS', quick ? 15 : 60),
    floodSeconds: quick ? 10 : 20,
    starts: quick ? 5 : 9,
    failureRepeats: quick ? 5 : 8,
    drainRepeats: quick ? 8 : 20,
    consulWrites: quick ? 10 : 20,
    consulFailures: quick ? 5 : 10,
    consulOtherReportTrials: quick ? 1 : 3,
    consulOutageSeconds: quick ? 10 : 20,
    consulRestartWrites: quick ? 3 : 5,
    idleSeconds: quick ? 10 : 20,
    metricsSeconds: quick ? 1 : 3,
    distinctUrls: 20_000,
    serverCpu: pinned ? serverCpu : undefined,
    loadCpu: pinned ? loadCpu : undefined,
    tool: loadTool(log),
    scratch,
    referenceScript: compileReference(scratch),
    log,
  };
  const startedAt = new Date();
  log(`signal-sidecar bench (${quick ? 'quick' : 'full'}) on ${String(machineBefore.nproc)} × ${String(machineBefore.cpuModel)}, node ${process.version}, ${settings.tool}`);

  const raw: scenario.Raw = {};
  const figures: Figure[] = [];
  const consulFigures: Figure[] = [];
  const node = await new FakeSignalNode().start();
  const reference = await startReference(settings.referenceScript);
  const daemon = await startSidecar(node);
  try {
    if (settings.serverCpu !== undefined) {
      pin(reference.pid, settings.serverCpu);
      pin(daemon.child.pid as number, settings.serverCpu);
    }
    await waitFor('the daemon to be healthy', () => timedGet(daemon.httpPort, '/signal/health', false).then((reply) => (reply.status === 200 ? true : undefined)));

    if (run.has('http')) {
      log('HTTP throughput');
      figures.push(...(await scenario.throughput(settings, daemon, reference, '/signal/health', raw)));
      figures.push(...(await scenario.throughput(settings, daemon, reference, '/signal/report', raw)));
    }
    if (run.has('agent')) {
      log('agent');
      figures.push(...(await scenario.agent(settings, daemon, reference, raw)));
    }
    if (run.has('metrics')) {
      log('/metrics');
      figures.push(...(await scenario.metrics(settings, daemon, reference, raw)));
    }
    if (run.has('drain')) {
      log('drain propagation');
      figures.push(...(await scenario.drain(settings, daemon, raw)));
    }
    await daemon.stop();

    if (run.has('scale')) {
      log('the largest node: 6,000 rooms in the census');
      figures.push(...(await largestNodeScale(settings, raw)));
    }
    if (run.has('start')) {
      log('start and memory');
      // Fresh processes may use both cores, as they would when systemd starts them.
      if (pinned) pin(process.pid, 'all');
      figures.push(...(await scenario.startup(settings, node, raw)));
      if (pinned && loadCpu !== undefined) pin(process.pid, loadCpu);
    }
    if (run.has('flood')) {
      log(`abuse floods (${settings.floodSeconds} s each)`);
      figures.push(...(await scenario.flood(settings, node, raw)));
    }
    if (run.has('soak')) {
      log(`soak (${settings.soakSeconds} s)`);
      figures.push(...(await scenario.soak(settings, node, raw)));
    }
    // Failure detection mostly waits; idle CPU is measured meanwhile on another daemon.
    if (run.has('failures') || run.has('idle')) {
      log([run.has('failures') ? 'failure detection' : '', run.has('idle') ? 'idle CPU' : ''].filter(Boolean).join(', with '));
      const [detected, idled] = await Promise.all([
        run.has('failures') ? scenario.failures(settings, raw) : [],
        run.has('idle') ? scenario.idle(settings, node, reference, raw) : [],
      ]);
      figures.push(...detected, ...idled);
    }
    // Alone: its figure is milliseconds, and each restart of the upstream costs a core for a second.
    if (run.has('crash')) {
      log('crash of a real upstream process');
      // Both cores, as for the start phase: the daemons and the upstream inherit this affinity.
      if (pinned) pin(process.pid, 'all');
      figures.push(...(await scenario.crash(settings, raw)));
      if (pinned && loadCpu !== undefined) pin(process.pid, loadCpu);
    }
    // Mostly waits on the poll interval; Consul and the sidecars get both cores, as in production.
    if (run.has('consul')) {
      log(`Consul: KV write → agent line, failure → report, an outage${other === undefined ? '' : `; beside: ${other.text}`}`);
      if (pinned) pin(process.pid, 'all');
      consulFigures.push(...(await consulPhase(settings, raw, other)));
      if (pinned && loadCpu !== undefined) pin(process.pid, loadCpu);
    }
  } finally {
    await daemon.stop();
    await reference.stop();
    await node.stop();
    rmSync(scratch, { recursive: true, force: true });
  }

  if (figures.length > 0) process.stdout.write(`\n${textTable(figures)}\n\n`);
  const consulRows = tableRows(consulFigures);
  if (consulFigures.length > 0) process.stdout.write(`other sidecar: ${other?.text ?? 'none (--sidecar-cmd not given)'}\n${plainTable(CONSUL_HEADER, consulRows)}\n\n`);
  const results = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `${quick ? 'BENCH_QUICK=1 ' : ''}${process.env.BENCH_ONLY ? `BENCH_ONLY=${process.env.BENCH_ONLY} ` : ''}npm run bench${other === undefined ? '' : ` -- --sidecar-cmd "${other.text}"`}`,
    machine: { ...machineBefore, loadAverageAfter: machine().loadAverage },
    settings: { ...settings, log: undefined, scratch: undefined, referenceScript: undefined },
    figures,
    markdown: markdownTable(figures),
    consul: consulFigures.length === 0 ? null : { other: other?.text ?? null, figures: consulFigures, markdown: markdownRows(CONSUL_HEADER, consulRows) },
    raw,
  };
  const directory = resolve(__dirname, 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, 'latest.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  const missed = [...figures, ...consulFigures].filter((figure) => figure.met === false).map((figure) => figure.id);
  process.stdout.write(`results written to ${file}\n${missed.length === 0 ? 'all targets met' : `targets missed: ${missed.join(', ')}`}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
