import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EXAMPLE } from '../../test/e2e/example-config';
import { sleep, waitFor } from '../../test/helpers/daemon';
import { roomSizes, seeded } from '../../test/helpers/largest-node';
import { ensureTools } from '../../test/helpers/tools';
import { machine } from '../lib/measure';
import { schedule } from './chaos';
import { ConsulFleet, SplitCheck } from './consul-fleet';
import { Crowd } from './crowd';
import { debian13Haproxy } from './debian13-haproxy';
import type { Fault, FaultContext, Timing } from './fault';
import { HaproxyFleet, type HaproxyRuntime } from './haproxy-fleet';
import { Ledger, type ServerView } from './ledger';
import { options, type Options } from './options';
import { RegionalBalancer } from './regional-balancer';
import { markdown, results, table, type FleetResults } from './report';
import type { ClientSettings } from './session';
import { FleetShard } from './shard';

/**
 * `npm run bench:fleet`: a fleet of simulated shards behind real HAProxies
 * (2.6, and 3.0 beside it with --mixed-versions) running
 * examples/haproxy-shards.cfg and sharing its stick table, a thousand
 * participants on websockets and BOSH joining through a regional balancer,
 * and a chaos schedule of every fault a shard and its HAProxies meet. Writes
 * bench/results/fleet.json; docs/failover.md explains the figures, and
 * options.ts the options.
 */

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** A duration in the example (`1s`, `500ms`, `2m`), in ms. */
function durationIn(config: string, pattern: RegExp, fallbackMs: number): number {
  const match = pattern.exec(config);
  if (match === null) return fallbackMs;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms'] ?? 1;
  return Number(match[1]) * unit;
}

const seconds = (env: Record<string, string>, name: string, fallback: number): number => Number(env[name] ?? fallback) * 1000;

/** The host's HAProxy, and Debian 13's beside it for --mixed-versions (HAProxy 1). */
async function runtimes(settings: Options): Promise<HaproxyRuntime[]> {
  const host: HaproxyRuntime = { version: execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0] ?? '' };
  const all = Array.from({ length: settings.haproxies }, () => host);
  if (!settings.mixedVersions) return all;
  const trixie = await debian13Haproxy();
  if ('problem' in trixie) throw new Error(`--mixed-versions: ${trixie.problem}`);
  return [{ root: trixie.root, version: trixie.version }, ...all.slice(1)];
}

/** The sidecars' intervals, the faults' duration, and the example's agent-inter and expire. */
function timingOf(settings: Options, configText: string): Timing {
  return {
    pollMs: seconds(settings.sidecarEnv, 'POLLING_INTERVAL', 5),
    dampeningMs: seconds(settings.sidecarEnv, 'HEALTH_DAMPENING_INTERVAL', 30),
    graceMs: seconds(settings.sidecarEnv, 'DRAIN_GRACE_INTERVAL', 120),
    probeTimeoutMs: seconds(settings.sidecarEnv, 'PROBE_TIMEOUT', 3),
    holdMs: settings.quick ? 6000 : 20_000,
    agentInterMs: durationIn(configText, /agent-inter (\d+)(ms|s)\b/, 2000),
    expireMs: durationIn(configText, /^\s*stick-table .*\bexpire (\d+)(ms|s|m|h)\b/m, 0),
  };
}

function clientSettings(quick: boolean): ClientSettings {
  return {
    pingIntervalMs: 10_000,
    pingTimeoutMs: 5000,
    pingThreshold: 2,
    joinTimeoutMs: 10_000,
    retryBaseMs: 200,
    retryCapMs: 1000,
    reloadMs: 100,
    websocketKeepAliveMs: 60_000,
    // prosody answers a held poll as soon as the room has something to say: often in a lively room, up to a minute in a quiet one.
    boshHoldMs: quick ? [400, 400] : [400, 20_000],
    boshRoundTripMs: [20, 50],
  };
}

async function main(): Promise<void> {
  const settings = options(process.argv.slice(2), resolve(__dirname, '..', 'results', 'fleet.json'));
  const missing = await ensureTools({ haproxy: 'haproxy' });
  if (missing !== undefined) throw new Error(missing);
  const startedAt = new Date();
  const machineBefore = machine();
  const configText = readFileSync(settings.haproxyConfig, 'utf8');
  const timing = timingOf(settings, configText);
  log(
    `fleet bench (${settings.quick ? 'quick' : 'full'}): ${settings.shards} shards, ${settings.participants} participants (${settings.clients}), ` +
      `${settings.haproxies} HAProxies${settings.mixedVersions ? ' of mixed versions' : ''}, sidecar: ${settings.sidecarCommand}, ${JSON.stringify(settings.sidecarEnv)}, load ${String(machineBefore.loadAverage)}`,
  );

  const shards: FleetShard[] = [];
  // Reports as often as the sidecars poll, unless told otherwise: the split check is as fresh as the reports.
  const consul = settings.consul ? await ConsulFleet.start(seconds(settings.sidecarEnv, 'CONSUL_REPORTS_INTERVAL', timing.pollMs / 1000)) : undefined;
  let haproxies: HaproxyFleet | undefined;
  const ledger = new Ledger(() => performance.now(), (room, what) => void explainAnomaly(haproxies, ledger, room, what));
  let crowd: Crowd | undefined;
  let sampling = true;
  const loops: Promise<void>[] = [];
  try {
    await startShards(settings, consul, shards, async () => (haproxies === undefined ? new Map() : (await haproxies.views()).views));
    log(`  ${shards.length} shards up (jicofo, prosody and sidecar each a process)${consul === undefined ? '' : `; Consul on ${consul.address}: drains through it, reports with the census into it`}`);
    const servers = shards.map((shard, index) => ({ name: shard.name, port: shard.front.port, agentPort: shard.sidecar.agentPort, id: index + 1 }));
    haproxies = await HaproxyFleet.start(configText, servers, await runtimes(settings));
    const fleet = haproxies;
    log(`  ${fleet.size} HAProxies (${fleet.versions.join(' / ')}) run ${settings.haproxyConfig === EXAMPLE ? 'examples/haproxy-shards.cfg' : settings.haproxyConfig}${fleet.peered ? ', peered' : ''}, on ${fleet.frontends.join(', ')}`);
    loops.push(sampleHaproxies(fleet, ledger, () => sampling), countParticipants(shards, ledger, () => sampling));
    const splitCheck = consul === undefined ? undefined : new SplitCheck(consul);
    loops.push(...(splitCheck?.loops(shards, (room, where) => log(`    split check: ${room} on ${where}; the ledger: ${ledger.roomView(room)}`), () => sampling) ?? []));

    const balancer = new RegionalBalancer(fleet.frontends, seeded(settings.seed + 2));
    const client = clientSettings(settings.quick);
    crowd = await joinCrowd(settings, client, ledger, balancer);

    const calmMs = settings.quick ? 3000 : 10_000;
    await sleep(calmMs);
    const faults = schedule(timing);
    const context = { shards, haproxies: fleet, balancer, crowd, ledger, timing, log };
    await runSchedule(faults, context, calmMs, seeded(settings.seed + 1));
    const fleetCommand = consul?.fleetCommand();
    if (fleetCommand !== undefined) log(`\n${fleetCommand}`);
    await crowd.stop();
    const finishedAt = new Date();
    const output = results({
      settings,
      timing,
      haproxies: fleet.versions,
      peered: fleet.peered,
      retryCapMs: client.retryCapMs,
      client,
      faults,
      ledger,
      participants: settings.participants,
      startedAt,
      finishedAt,
      machine: { ...machineBefore, loadAverageAfter: machine().loadAverage },
      consul: splitCheck === undefined || fleetCommand === undefined ? null : { ...splitCheck.score(ledger, timing.pollMs, finishedAt.getTime()), fleetCommand },
    });
    write(output, settings.out);
  } finally {
    sampling = false;
    await crowd?.stop();
    await Promise.all(loops);
    await haproxies?.stop();
    await Promise.all(shards.map((shard) => shard.stop()));
    await consul?.stop();
  }
}

/** The shards, each sidecar (with --consul) watching its key in Consul, where the operator's drains then go, timed until `views` show them. */
async function startShards(settings: Options, consul: ConsulFleet | undefined, shards: FleetShard[], views: () => Promise<ReadonlyMap<number, ReadonlyMap<string, ServerView>>>): Promise<void> {
  for (let i = 1; i <= settings.shards; i += 1) {
    const name = `shard${i}`;
    const shard = await FleetShard.start(name, settings.launch, { LOG_LEVEL: 'warn', ...consul?.sidecarEnv(name), ...settings.sidecarEnv });
    if (consul !== undefined) shard.statusVia = (word) => consul.setStatus(name, word, views);
    shards.push(shard);
  }
}

/** Every participant joined, and the fleet's background life begun. */
async function joinCrowd(settings: Options, client: ClientSettings, ledger: Ledger, balancer: RegionalBalancer): Promise<Crowd> {
  const sizes = roomSizes(settings.participants, 'skewed', settings.seed);
  const crowd = new Crowd(sizes, seeded(settings.seed), client, ledger, balancer, settings.clients);
  crowd.addSteadyRooms(24);
  await crowd.join(settings.quick ? 5000 : 10_000);
  log(`  ${crowd.live.length} participants in ${crowd.rooms.size} rooms (largest ${Math.max(...sizes)}), spread ${JSON.stringify(Object.fromEntries(ledger.sessionsPerShard()))}`);
  crowd.startChurn();
  return crowd;
}

/** The table on stdout, and the figures with the table in markdown into `file`. */
function write(output: FleetResults, file: string): void {
  process.stdout.write(`\n${table(output)}\n`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ ...output, markdown: markdown(output) }, null, 2)}\n`);
  process.stdout.write(`results written to ${file}\n`);
}

/** A move or split, with every HAProxy's stick entry for the room at that moment. */
async function explainAnomaly(haproxies: HaproxyFleet | undefined, ledger: Ledger, room: string, what: string): Promise<void> {
  const entries = haproxies === undefined ? 'no HAProxy' : await haproxies.entries(room);
  // The ledger has recorded `what` already; this adds what the HAProxies knew then.
  const detail = `room ${room}: sessions ${ledger.roomView(room)}; stick entries: ${entries}`;
  ledger.example(detail);
  log(`    room ${room} ${what}; ${detail}`);
}

/** Every HAProxy's view of every shard, every 100 ms, into the ledger. */
async function sampleHaproxies(haproxies: HaproxyFleet, ledger: Ledger, running: () => boolean): Promise<void> {
  while (running()) {
    const { views, statuses, weights } = await haproxies.views();
    ledger.observe(views, statuses, weights);
    await sleep(100);
  }
}

/** Jicofo's /stats follows each shard's participants and conferences, once a second, as WEIGHT_PARTICIPANTS reads them. */
async function countParticipants(shards: readonly FleetShard[], ledger: Ledger, running: () => boolean): Promise<void> {
  while (running()) {
    const counts = ledger.sessionsPerShard();
    const conferences = ledger.conferencesPerShard();
    for (const shard of shards) shard.countParticipants(counts.get(shard.name) ?? 0, conferences.get(shard.name) ?? 0);
    await sleep(1000);
  }
}

/**
 * One fault at a time, each on the next shard (or the one it needs), each
 * waited out until the HAProxies show its shard UP again. Each comes at a
 * random phase of the sidecars' poll loop: without that pause the schedule's
 * whole-second waits put every jicofo 500 of the full runs just after a poll
 * (seen 5.1–5.2 s later in four runs of four), the slowest case instead of
 * the spread an operator meets.
 */
async function runSchedule(faults: readonly Fault[], context: Omit<FaultContext, 'shard'>, calmMs: number, random: () => number): Promise<void> {
  const { shards, ledger, crowd, timing } = context;
  for (const [index, fault] of faults.entries()) {
    const shard = fault.pickShard?.(shards, ledger, crowd) ?? shards[index % shards.length];
    if (shard === undefined) continue;
    await sleep(random() * timing.pollMs);
    const window = ledger.openWindow(fault.name, fault.onShard ? shard.name : null, fault.kind, fault.haproxy ?? null);
    log(`  ${fault.name}${fault.onShard ? ` on ${shard.name}: ${window.affected} participants there` : ''}`);
    await fault.run({ ...context, shard }, () => ledger.healed(window));
    // Recovered: the HAProxies show it UP again (after the sidecar's dampening).
    const limit = timing.dampeningMs + timing.pollMs * 2 + 60_000;
    await waitFor(`${shard.name} UP again`, () => (!fault.onShard || window.backAt !== null || (window.markedAt === null && ledger.serverState(shard.name) === 'UP') ? true : undefined), limit, 100);
    await sleep(calmMs);
    ledger.close(window);
    log(
      `    HAProxy: ${window.markedAs ?? 'no change'}${window.markedAt === null ? '' : ` after ${Math.round(window.markedAt - window.injectedAt)} ms`}; ` +
        `${window.disconnected} disconnected, ${window.failovers.length} failed over, ${window.pending.size} not yet; ` +
        `rooms moved ${window.movedRooms.size} (${window.movedWithoutFault.size} without a fault), split ${window.splitRooms.size}, new rooms on an unavailable shard ${window.newRoomsOnUnavailable}`,
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
