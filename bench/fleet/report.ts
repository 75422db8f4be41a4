import { markdownRows, plainTable } from '../lib/table';
import type { Fault, Timing } from './fault';
import type { Ledger, SplitRecord, UnavailablePlacement } from './ledger';
import type { Options } from './options';
import type { ClientSettings } from './session';
import type { KvDrain } from './consul-fleet';
import type { DetectionScore } from './split-detection';

/** The figures of a fleet run: bench/results/fleet.json, and the table printed from it. */

export interface FaultResult {
  readonly fault: string;
  readonly shard: string | null;
  readonly kind: string;
  readonly affectedParticipants: number;
  readonly disconnected: number;
  readonly failedOver: number;
  readonly notRecovered: number;
  readonly failoverP50Ms: number | null;
  readonly failoverP99Ms: number | null;
  readonly failoverMaxMs: number | null;
  /**
   * The sidecar's detection bound for this fault plus agent-inter, and with
   * the client's longest retry pause on top: a participant whose join just
   * failed waits that long before it tries the shard HAProxy now picks.
   */
  readonly boundMs: number | null;
  readonly boundWithRetryMs: number | null;
  readonly withinBound: boolean | null;
  readonly haproxyExpected: string | null;
  readonly haproxySaw: string | null;
  readonly haproxyAfterMs: number | null;
  readonly haproxyDownAfterMs: number | null;
  readonly haproxyDownStatus: string | null;
  readonly haproxyBackAfterHealMs: number | null;
  readonly movedRooms: number;
  readonly movesWithoutFault: number;
  readonly splitRooms: number;
  /** The longest of those splits (ms), until the clients' own repair (a BOSH poll answered terminate, a keep-alive answered by another shard) ended it. */
  readonly longestSplitMs: number | null;
  /** Running conferences that left the shard while it drained: 0 is a drain that kept every room. */
  readonly drainMoves: number;
  readonly newRoomsOnUnavailable: number;
  readonly newRoomsOnShardAfterInjection: number;
  readonly disconnectedElsewhere: number;
  /** The HAProxies showed the shard other than UP, the first and the last of them, ms after the injection. */
  readonly haproxyAllAfterMs: number | null;
  /** Failed joins while it lasted, by what went wrong. */
  readonly failedJoins: Readonly<Record<string, number>>;
}

/** With --consul: the split check of the published censuses against the ledger, and what `signal-sidecar fleet` printed at the end. */
export interface ConsulResults {
  readonly reportsIntervalMs: number;
  /** Each operator drain: KV write → the first and every HAProxy showing it. */
  readonly drains: readonly KvDrain[];
  readonly detection: DetectionScore;
  readonly fleetCommand: string;
}

export interface FleetResults {
  /** How many HAProxies ran, their versions, and whether they shared the stick table. */
  readonly haproxies: number;
  readonly haproxyVersions: readonly string[];
  readonly peered: boolean;
  readonly clients: string;
  readonly weightParticipants: boolean;
  readonly shards: number;
  readonly participants: number;
  readonly rooms: number;
  readonly splitConferences: number;
  readonly movesWithoutFault: number;
  readonly restartMoves: number;
  readonly newRoomsOnUnavailable: number;
  /** Of those, rooms whose name had a conference that ended less than the table's expire before: they followed its entry. */
  readonly newRoomsOnUnavailableReused: number;
  readonly faults: readonly FaultResult[];
  readonly drainMoves: number;
  readonly disconnectedWithoutFault: number;
  readonly failedOverRooms: number;
  readonly replacedAfterEmpty: number;
  readonly joins: number;
  readonly failedJoins: number;
  readonly newRooms: number;
  /** New weights HAProxy 1 applied to shards that stayed UP, and how many per shard and minute. */
  readonly weightChanges: number;
  readonly weightChangesPerShardMinute: number;
  /** The share (%) of the samples of several HAProxies in which two of them applied a different state or weight to some shard. */
  readonly ringDisagreement: number | null;
  /** Failed joins by what went wrong. */
  readonly failures: Readonly<Record<string, number>>;
  /** Sessions that ended other than by leaving, by cause (`terminated`: a BOSH poll reached another shard; `shard-changed`: a websocket keep-alive did). */
  readonly endings: Readonly<Record<string, number>>;
  /** Every split, from when to when: what an outside split detector would be checked against. */
  readonly splits: readonly SplitRecord[];
  readonly unavailablePlacements: readonly UnavailablePlacement[];
  readonly goals: Readonly<Record<string, boolean>>;
  readonly command: string;
  readonly quick: boolean;
  readonly sidecar: string;
  readonly sidecarEnv: Readonly<Record<string, string>>;
  readonly haproxyConfig: string;
  readonly agentInterMs: number;
  readonly expireMs: number;
  readonly client: ClientSettings;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Record<string, unknown>;
  readonly examples: readonly string[];
  /** With --consul (the drain faults' HAProxy figures are then from the KV write); null without. */
  readonly consul: ConsulResults | null;
}

/** Nearest-rank percentile; null for no values. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

const rounded = (value: number | null): number | null => (value === null ? null : Math.round(value));

export interface RunFacts {
  readonly settings: Options;
  readonly timing: Timing;
  readonly haproxies: readonly string[];
  readonly peered: boolean;
  readonly retryCapMs: number;
  readonly client: ClientSettings;
  readonly faults: readonly Fault[];
  readonly ledger: Ledger;
  readonly participants: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly machine: Record<string, unknown>;
  readonly consul: ConsulResults | null;
}

function faultResults(facts: RunFacts): FaultResult[] {
  return facts.ledger.windows.map((window, index): FaultResult => {
    const fault = facts.faults[index];
    const bound = fault?.detectionBoundMs ?? null;
    const boundMs = bound === null ? null : bound + facts.timing.agentInterMs;
    const p99 = rounded(percentile(window.failovers, 99));
    return {
      fault: window.name,
      shard: window.shard,
      kind: window.kind,
      affectedParticipants: window.affected,
      disconnected: window.disconnected,
      failedOver: window.failovers.length,
      notRecovered: window.pending.size,
      failoverP50Ms: rounded(percentile(window.failovers, 50)),
      failoverP99Ms: p99,
      failoverMaxMs: rounded(percentile(window.failovers, 100)),
      boundMs,
      boundWithRetryMs: boundMs === null ? null : boundMs + facts.retryCapMs,
      // A bound holds for a shard taken DOWN; a drain should disconnect nobody, whatever the time.
      withinBound: boundMs === null || p99 === null || fault?.expect !== 'DOWN' ? null : p99 <= boundMs + facts.retryCapMs,
      haproxyExpected: fault?.expect ?? null,
      haproxySaw: window.markedAs,
      haproxyAfterMs: window.markedAt === null ? null : Math.round(window.markedAt - window.injectedAt),
      haproxyDownAfterMs: window.downAt === null ? null : Math.round(window.downAt - window.injectedAt),
      haproxyDownStatus: window.downStatus,
      haproxyBackAfterHealMs: window.backAt === null || window.healedAt === null ? null : Math.round(window.backAt - window.healedAt),
      movedRooms: window.movedRooms.size,
      movesWithoutFault: window.movedWithoutFault.size,
      splitRooms: window.splitRooms.size,
      longestSplitMs: window.longestSplitMs,
      drainMoves: window.drainMoves.size,
      newRoomsOnUnavailable: window.newRoomsOnUnavailable,
      newRoomsOnShardAfterInjection: window.newRoomsAfterMs.length,
      disconnectedElsewhere: window.disconnectedElsewhere,
      haproxyAllAfterMs: window.allMarkedAt === null ? null : Math.round(window.allMarkedAt - window.injectedAt),
      failedJoins: Object.fromEntries(window.failures),
    };
  });
}

export function results(facts: RunFacts): FleetResults {
  const { ledger, settings, timing } = facts;
  const faults = faultResults(facts);
  const goals = {
    noSplitConferences: ledger.splitRooms.size === 0,
    noMovesWithoutFault: ledger.movedWithoutFault.size === 0,
    noRestartMoves: ledger.restartMoved.size === 0,
    noNewRoomsOnUnavailable: ledger.newRoomsOnUnavailable.length === 0,
    drainKeepsRoomsWhole: ledger.drainMoved.size === 0,
    failoverWithinBound: faults.every((fault) => fault.withinBound !== false),
  };
  const flags = [
    `--haproxies ${settings.haproxies}`,
    ...(settings.mixedVersions ? ['--mixed-versions'] : []),
    `--clients ${settings.clients}`,
    ...(settings.consul ? ['--consul'] : []),
    ...Object.entries(settings.sidecarEnv).map(([name, value]) => `--sidecar-env ${name}=${value}`),
  ];
  return {
    haproxies: facts.haproxies.length,
    haproxyVersions: facts.haproxies,
    peered: facts.peered,
    clients: settings.clients,
    weightParticipants: settings.sidecarEnv.WEIGHT_PARTICIPANTS === 'true',
    shards: settings.shards,
    participants: facts.participants,
    rooms: ledger.roomsSeen.size,
    splitConferences: ledger.splitRooms.size,
    movesWithoutFault: ledger.movedWithoutFault.size,
    restartMoves: ledger.restartMoved.size,
    newRoomsOnUnavailable: ledger.newRoomsOnUnavailable.length,
    newRoomsOnUnavailableReused: ledger.newRoomsOnUnavailable.filter((placement) => placement.sinceLastMs !== null && placement.sinceLastMs < timing.expireMs).length,
    faults,
    drainMoves: ledger.drainMoved.size,
    disconnectedWithoutFault: ledger.disconnectedWithoutFault,
    failedOverRooms: ledger.failedOver.size,
    replacedAfterEmpty: ledger.replacedAfterEmpty.size,
    joins: ledger.joins,
    failedJoins: ledger.failedJoins,
    newRooms: ledger.newRooms,
    weightChanges: ledger.weightChanges,
    ringDisagreement: ledger.samples === 0 ? null : Math.round((ledger.disagreeingSamples / ledger.samples) * 1000) / 10,
    weightChangesPerShardMinute: Math.round((ledger.weightChanges / settings.shards / ((facts.finishedAt.getTime() - facts.startedAt.getTime()) / 60_000)) * 100) / 100,
    endings: Object.fromEntries(ledger.endings),
    failures: Object.fromEntries(ledger.failures),
    splits: ledger.splits,
    unavailablePlacements: ledger.newRoomsOnUnavailable,
    goals,
    command: `${settings.quick ? 'BENCH_QUICK=1 ' : ''}npm run bench:fleet -- ${flags.join(' ')}`,
    quick: settings.quick,
    sidecar: settings.sidecarCommand,
    sidecarEnv: settings.sidecarEnv,
    haproxyConfig: settings.haproxyConfig,
    agentInterMs: timing.agentInterMs,
    expireMs: timing.expireMs,
    client: facts.client,
    startedAt: facts.startedAt.toISOString(),
    finishedAt: facts.finishedAt.toISOString(),
    machine: facts.machine,
    examples: ledger.examples,
    consul: facts.consul,
  };
}

const text = (value: number | null): string => (value === null ? '-' : String(value));

/** What the HAProxies showed and when: `DRAIN 355` for one, `DRAIN 355-1190` from the first to the last of several. */
function seen(fault: FaultResult): string {
  if (fault.haproxySaw === null) return 'no change';
  const last = fault.haproxyAllAfterMs !== null && fault.haproxyAllAfterMs !== fault.haproxyAfterMs ? `-${fault.haproxyAllAfterMs}` : '';
  const down = fault.haproxySaw !== 'DOWN' && fault.haproxyDownAfterMs !== null ? `, DOWN ${fault.haproxyDownAfterMs}` : '';
  return `${fault.haproxySaw} ${text(fault.haproxyAfterMs)}${last}${down}`;
}

const HEADER = ['fault', 'shard', 'HAProxy saw (ms)', 'affected', 'disconn.', 'failover p50', 'p99', 'max', 'bound+retry', 'not back', 'moved', 'w/o fault', 'split (longest ms)', 'drain moves', 'new on unavail.', 'new rooms on it', 'disconn. elsewhere'];

function rows(output: FleetResults): string[][] {
  return output.faults.map((fault) => [
    fault.fault,
    fault.shard ?? '-',
    seen(fault),
    String(fault.affectedParticipants),
    String(fault.disconnected),
    text(fault.failoverP50Ms),
    text(fault.failoverP99Ms),
    text(fault.failoverMaxMs),
    fault.boundMs === null || fault.boundWithRetryMs === null ? '-' : `${fault.boundMs}+${fault.boundWithRetryMs - fault.boundMs}${fault.withinBound === false ? ' NO' : ''}`,
    String(fault.notRecovered),
    String(fault.movedRooms),
    String(fault.movesWithoutFault),
    fault.longestSplitMs === null ? String(fault.splitRooms) : `${fault.splitRooms} (≤${fault.longestSplitMs})`,
    String(fault.drainMoves),
    String(fault.newRoomsOnUnavailable),
    String(fault.newRoomsOnShardAfterInjection),
    String(fault.disconnectedElsewhere),
  ]);
}

/** With --consul every operator drain is a KV write: how long until the first and every HAProxy showed DRAIN. */
function drainThroughConsul(drains: readonly KvDrain[]): string {
  const first = drains.map((drain) => drain.firstMs).filter((ms): ms is number => ms !== null);
  const all = drains.map((drain) => drain.allMs).filter((ms): ms is number => ms !== null);
  return (
    `operator drain through Consul, KV write answered → HAProxy DRAIN (sampled every 50 ms) over ${drains.length} drains: first HAProxy median ${text(rounded(percentile(first, 50)))} ms, worst ${text(rounded(percentile(first, 100)))} ms; ` +
    `every HAProxy median ${text(rounded(percentile(all, 50)))} ms, worst ${text(rounded(percentile(all, 100)))} ms${all.length < drains.length ? `; ${drains.length - all.length} not shown by every HAProxy within 30 s` : ''}`
  );
}

function detectionLine({ detection, reportsIntervalMs }: ConsulResults): string {
  const missed = detection.missedExamples.length === 0 ? '' : ` (e.g. ${detection.missedExamples.join('; ')})`;
  const alarms = detection.falseAlarmExamples.length === 0 ? '' : ` (e.g. ${detection.falseAlarmExamples.join('; ')})`;
  return (
    `split check of the sidecars' census in Consul (reports every ${reportsIntervalMs / 1000} s, ${detection.reads} reads, census up to ${detection.lagMs} ms old): ` +
    `found ${detection.found} of ${detection.splits} splits the ledger saw, missed ${detection.missed} (${detection.missedShorterThanLag} over within ${detection.lagMs} ms)${missed}; ` +
    `false alarms ${detection.falseAlarmRooms} rooms in ${detection.falseAlarmReads} reads, ${detection.falseAlarmRoomsAfterMove} of those rooms only within ${detection.ghostMs / 1000} s of a move ` +
    `(prosody's BOSH ghosts on the old shard)${alarms}; false alarms by the fault going on: ${JSON.stringify(detection.falseAlarmsByFault)}`
  );
}

function summary(output: FleetResults): string[] {
  const healed = output.splits.map((split) => split.durationMs).filter((ms): ms is number => ms !== null);
  return [
    `${output.haproxies} HAProxies (${[...new Set(output.haproxyVersions.map((version) => version.split(' ')[2] ?? version))].join(', ')}${output.peered ? ', peered' : ''}), ` +
      `${output.shards} shards, ${output.participants} participants on ${output.clients} clients${output.weightParticipants ? ', weighted by participants' : ''}, ` +
      `${output.rooms} rooms (${output.newRooms} conferences placed), ${output.joins} joins, ${output.failedJoins} failed joins`,
    `split conferences ${output.splitConferences} (lasting p50 ${text(percentile(healed, 50))} ms, max ${text(percentile(healed, 100))} ms); moves without fault ${output.movesWithoutFault}; ` +
      `rooms moved by a sidecar restart or kill ${output.restartMoves}; rooms moved off a draining shard ${output.drainMoves}; ` +
      `new rooms on a draining or down shard ${output.newRoomsOnUnavailable} (${output.newRoomsOnUnavailableReused} of them a name used again within the table's expire); ` +
      `conferences that emptied and started again elsewhere ${output.replacedAfterEmpty}; ` +
      `participants disconnected without a fault of their shard ${output.disconnectedWithoutFault}; sessions ended ${JSON.stringify(output.endings)}; ` +
      `weight changes ${output.weightChanges} (${output.weightChangesPerShardMinute} per shard and minute); ` +
      `HAProxies on different rings in ${output.ringDisagreement ?? '-'} % of the samples`,
    ...(output.consul === null ? [] : [drainThroughConsul(output.consul.drains), detectionLine(output.consul)]),
    `goals: ${Object.entries(output.goals).map(([goal, met]) => `${goal} ${met ? 'yes' : 'NO'}`).join(', ')}`,
  ];
}

export function table(output: FleetResults): string {
  return [plainTable(HEADER, rows(output)), '', ...summary(output)].join('\n');
}

export function markdown(output: FleetResults): string {
  return [markdownRows(HEADER, rows(output)), '', ...summary(output)].join('\n');
}
