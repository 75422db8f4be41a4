import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { Haproxy, stateOf } from '../../test/e2e/components';
import { BACKEND, EXAMPLE, fillExample } from '../../test/e2e/example-config';
import { freePort, sleep, waitFor } from '../../test/helpers/daemon';
import { roomSizes, seeded } from '../../test/helpers/largest-node';
import { ensureTools } from '../../test/helpers/tools';
import { machine } from '../lib/measure';
import { schedule, type Fault, type Timing } from './chaos';
import { Crowd } from './crowd';
import { Ledger, type ServerState } from './ledger';
import type { ClientSettings } from './participant';
import { markdown, results, table } from './report';
import { FleetShard } from './shard';
import { defaultSidecarCommand, parseSidecarCommand, type SidecarCommand } from './sidecar-process';

/**
 * `npm run bench:fleet`: a fleet of simulated shards behind real HAProxy 2.6
 * running examples/haproxy-shards.cfg, a thousand participants joining
 * through it, and a chaos schedule of every fault a shard meets. Writes
 * bench/results/fleet.json; docs/failover.md explains the figures.
 *
 * Options: --shards N (6), --participants N (1000), --sidecar-cmd "command"
 * (any sidecar that reads the original's environment variables),
 * --sidecar-env NAME=value (repeatable), --haproxy-cfg FILE (another HAProxy
 * configuration to fill in the same way, e.g. an older example), --seed N.
 * BENCH_QUICK=1: short sidecar intervals and fault durations, every fault.
 */

interface Options {
  readonly shards: number;
  readonly participants: number;
  readonly launch: SidecarCommand;
  readonly sidecarCommand: string;
  readonly sidecarEnv: Record<string, string>;
  readonly haproxyConfig: string;
  readonly seed: number;
  readonly quick: boolean;
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function options(argv: readonly string[]): Options {
  const quick = process.env.BENCH_QUICK === '1';
  let shards = 6;
  let participants = 1000;
  let sidecarCommand = '';
  let haproxyConfig = EXAMPLE;
  let seed = 7;
  // The contract's defaults for a full run; short intervals for a quick one.
  const sidecarEnv: Record<string, string> = quick
    ? { POLLING_INTERVAL: '1', HEALTH_DAMPENING_INTERVAL: '5', DRAIN_GRACE_INTERVAL: '10' }
    : { POLLING_INTERVAL: '5', HEALTH_DAMPENING_INTERVAL: '30', DRAIN_GRACE_INTERVAL: '120' };
  const number = (name: string, text: string | undefined, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} ${String(text)}: expected a whole number from ${min} to ${max}`);
    return value;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    i += 1;
    if (flag === '--shards') shards = number(flag, value, 2, 20);
    else if (flag === '--participants') participants = number(flag, value, 10, 5000);
    else if (flag === '--seed') seed = number(flag, value, 0, 2 ** 31);
    else if (flag === '--sidecar-cmd' && value !== undefined) sidecarCommand = value;
    else if (flag === '--haproxy-cfg' && value !== undefined) haproxyConfig = resolve(value);
    else if (flag === '--sidecar-env' && value !== undefined && value.includes('=')) {
      sidecarEnv[value.slice(0, value.indexOf('='))] = value.slice(value.indexOf('=') + 1);
    } else throw new Error(`unknown or incomplete option ${String(flag)}; see the comment at the top of bench/fleet/run.ts`);
  }
  return {
    shards,
    participants,
    launch: sidecarCommand === '' ? defaultSidecarCommand() : parseSidecarCommand(sidecarCommand),
    sidecarCommand: sidecarCommand === '' ? 'dist/app.js as the systemd unit starts it' : sidecarCommand,
    sidecarEnv,
    haproxyConfig,
    seed,
    quick,
  };
}

/** agent-inter of the example's default-server line, in ms. */
function agentInterMs(config: string): number {
  const match = /agent-inter (\d+)(ms|s)\b/.exec(config);
  if (match === null) return 2000;
  return Number(match[1]) * (match[2] === 's' ? 1000 : 1);
}

const seconds = (env: Record<string, string>, name: string, fallback: number): number => Number(env[name] ?? fallback) * 1000;

async function main(): Promise<void> {
  const settings = options(process.argv.slice(2));
  const missing = await ensureTools({ haproxy: 'haproxy' });
  if (missing !== undefined) throw new Error(missing);
  const startedAt = new Date();
  const machineBefore = machine();
  const timing: Timing = {
    pollMs: seconds(settings.sidecarEnv, 'POLLING_INTERVAL', 5),
    dampeningMs: seconds(settings.sidecarEnv, 'HEALTH_DAMPENING_INTERVAL', 30),
    graceMs: seconds(settings.sidecarEnv, 'DRAIN_GRACE_INTERVAL', 120),
    probeTimeoutMs: seconds(settings.sidecarEnv, 'PROBE_TIMEOUT', 3),
    holdMs: settings.quick ? 6000 : 20_000,
  };
  log(
    `fleet bench (${settings.quick ? 'quick' : 'full'}): ${settings.shards} shards, ${settings.participants} participants, ` +
      `sidecar: ${settings.sidecarCommand}, ${JSON.stringify(settings.sidecarEnv)}, load ${String(machineBefore.loadAverage)}`,
  );

  const now = (): number => performance.now();
  const shards: FleetShard[] = [];
  let haproxy: Haproxy | undefined;
  const ledger = new Ledger(now, (room, what) => void explainAnomaly(haproxy, ledger, room, what));
  let crowd: Crowd | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  try {
    for (let i = 1; i <= settings.shards; i += 1) {
      shards.push(await FleetShard.start(`shard${i}`, settings.launch, { LOG_LEVEL: 'warn', ...settings.sidecarEnv }));
    }
    log(`  ${shards.length} shards up (jicofo, prosody and sidecar each a process)`);
    const started = await startHaproxy(settings.haproxyConfig, shards);
    haproxy = started.haproxy;
    const { filled, frontend } = started;
    const proxy = haproxy;
    sampler = sampleHaproxy(proxy, ledger, () => sampling);

    const client: ClientSettings = {
      frontend,
      pingIntervalMs: 10_000,
      pingTimeoutMs: 5000,
      pingThreshold: 2,
      joinTimeoutMs: 10_000,
      retryBaseMs: 200,
      retryCapMs: 1000,
      reloadMs: 100,
    };
    const sizes = roomSizes(settings.participants, 'skewed', settings.seed);
    crowd = new Crowd(sizes, seeded(settings.seed), client, ledger, agent);
    await crowd.join(settings.quick ? 5000 : 10_000);
    log(`  ${crowd.live.length} participants in ${crowd.rooms.size} rooms (largest ${Math.max(...sizes)}), spread ${JSON.stringify(Object.fromEntries(ledger.sessionsPerShard()))}`);
    crowd.startChurn();

    const calmMs = settings.quick ? 3000 : 10_000;
    await sleep(calmMs);
    const faults = schedule(timing);
    await runSchedule(faults, shards, ledger, timing, calmMs, seeded(settings.seed + 1));
    await crowd.stop();
    const finishedAt = new Date();
    const output = results({
      settings,
      timing,
      agentInterMs: agentInterMs(filled),
      retryCapMs: client.retryCapMs,
      client,
      faults,
      ledger,
      participants: crowd.participants.length,
      startedAt,
      finishedAt,
      machine: { ...machineBefore, loadAverageAfter: machine().loadAverage },
    });
    process.stdout.write(`\n${table(output)}\n`);
    const directory = resolve(__dirname, '..', 'results');
    mkdirSync(directory, { recursive: true });
    const file = join(directory, 'fleet.json');
    writeFileSync(file, `${JSON.stringify({ ...output, markdown: markdown(output) }, null, 2)}\n`);
    process.stdout.write(`results written to ${file}\n`);
  } finally {
    sampling = false;
    await crowd?.stop();
    agent.destroy();
    await sampler;
    await haproxy?.stop();
    await Promise.all(shards.map((shard) => shard.stop()));
  }
}

/** HAProxy on the configuration filled in for these shards; resolves once each has a first agent verdict. */
async function startHaproxy(config: string, shards: readonly FleetShard[]): Promise<{ haproxy: Haproxy; filled: string; frontend: number }> {
  const frontend = await freePort();
  const filled = fillExample(
    frontend,
    shards.map((shard) => ({ name: shard.name, port: shard.front.port, agentPort: shard.sidecar.agentPort })),
    readFileSync(config, 'utf8'),
  );
  const haproxy = await Haproxy.start(filled);
  try {
    for (const shard of shards) {
      await waitFor(`a first agent verdict on ${shard.name}`, async () => ((await haproxy.server(BACKEND, shard.name)).lastAgent.startsWith('via agent') ? true : undefined), 20_000, 50);
    }
  } catch (error) {
    await haproxy.stop();
    throw error;
  }
  log(`  HAProxy ${config === EXAMPLE ? 'runs examples/haproxy-shards.cfg' : `runs ${config}`} on 127.0.0.1:${frontend}`);
  return { haproxy, filled, frontend };
}

/** A move or split, with HAProxy's stick entry for the room (its server and open connections) at that moment. */
async function explainAnomaly(proxy: Haproxy | undefined, ledger: Ledger, room: string, what: string): Promise<void> {
  const view = ledger.roomView(room);
  const key = encodeURIComponent(room);
  const entry = proxy === undefined ? 'no HAProxy' : await proxy.command(`show table ${BACKEND} key ${key}`).catch((error: unknown) => String(error));
  const requests = (proxy?.child.output.join('') ?? '').split('\n').filter((request) => request.includes(`room=${key} `)).slice(-4);
  // The ledger has recorded `what` already; this adds what HAProxy knew then.
  const detail = `room ${room}: sessions ${view}; stick entry: ${entry.trim().split('\n').slice(1).join(' ') || 'none'}; HAProxy's last requests for it: ${requests.join(' | ')}`;
  ledger.example(detail);
  log(`    room ${room} ${what}; ${detail}`);
}

/** HAProxy's view of every shard, every 100 ms, into the ledger. */
async function sampleHaproxy(proxy: Haproxy, ledger: Ledger, running: () => boolean): Promise<void> {
  while (running()) {
    try {
      const views = await proxy.servers(BACKEND);
      ledger.observe(
        new Map<string, ServerState>([...views].map(([name, view]) => [name, stateOf(view)])),
        new Map([...views].map(([name, view]) => [name, view.status])),
      );
    } catch {
      // A sample lost to a busy socket: the next one follows.
    }
    await sleep(100);
  }
}

/**
 * One fault at a time, each on the next shard, each waited out until HAProxy
 * shows its shard UP again. Each comes at a random phase of the sidecars'
 * poll loop: without that pause the schedule's whole-second waits put every
 * jicofo 500 of the full runs just after a poll (seen 5.1–5.2 s later in
 * four runs of four), the slowest case instead of the spread an operator meets.
 */
async function runSchedule(faults: readonly Fault[], shards: readonly FleetShard[], ledger: Ledger, timing: Timing, calmMs: number, random: () => number): Promise<void> {
  for (const [index, fault] of faults.entries()) {
    const shard = shards[index % shards.length];
    if (shard === undefined) continue;
    await sleep(random() * timing.pollMs);
    const window = ledger.openWindow(fault.name, shard.name, fault.kind);
    log(`  ${fault.name} on ${shard.name}: ${window.affected} participants there`);
    await fault.run(shard, () => ledger.healed(window));
    // Recovered: HAProxy shows it UP again (after the sidecar's dampening).
    const limit = timing.dampeningMs + timing.pollMs * 2 + 60_000;
    await waitFor(`${shard.name} UP again`, () => (window.backAt !== null || (window.markedAt === null && ledger.serverState(shard.name) === 'UP') ? true : undefined), limit, 100);
    await sleep(calmMs);
    ledger.close(window);
    log(
      `    HAProxy: ${window.markedAs ?? 'no change'}${window.markedAt === null ? '' : ` after ${Math.round(window.markedAt - window.injectedAt)} ms`}; ` +
        `${window.disconnected} disconnected, ${window.failovers.length} failed over, ${window.pending.size} not yet; ` +
        `rooms moved ${window.movedRooms.size}, split ${window.splitRooms.size}`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`fleet bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
