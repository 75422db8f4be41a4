import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { ConsulAgent, consulBinary } from '../../test/helpers/consul';
import type { SidecarCommand } from '../fleet/sidecar-process';
import { spread, type Spread } from '../lib/measure';
import type { Figure } from '../lib/table';
import type { Raw, Settings } from '../scenarios';
import { consulOutage, type Outage } from './outage';
import { failureToReport, type ReportTrial } from './reports';
import { POLL_MS, STATUS_KEY, agentUntil, says, startUnderTest, stopUnderTest, type UnderTest } from './sidecars';
import { consulPart, fileWrites, fromAnswer, fromSent, kvWrites, putStatus, sidecarPart, type TimedWrite } from './writes';

/**
 * `consul`: a real Consul, the built daemon with CONSUL_STATUS and
 * CONSUL_REPORTS at the default intervals, and, with --sidecar-cmd, another
 * sidecar (the original 0.3.2) beside it on the same Consul, key and signal
 * node, so each write is timed on both at once. The figures are the
 * operator's: a KV write until the agent line says so (next to the status
 * file's figure), a failure until the report in Consul says so, and a
 * Consul outage (connection attempts, log lines, crashes, writes after it).
 */

/** A write to a restarted Consul counts as arrived within this. */
const ARRIVAL_LIMIT_MS = 20_000;
/** Beyond Consul's longest blocking query (ours asks for 60 s, Consul adds up to 1/16). */
const LATE_LIMIT_MS = 75_000;
/** The longest a failure may take to reach a report published every minute. */
const REPORT_LIMIT_MS = 60_000 + 2 * POLL_MS + 5000;

export interface OtherSidecar {
  readonly text: string;
  readonly command: SidecarCommand;
}

interface Measured {
  readonly kv: readonly TimedWrite[];
  readonly file: readonly TimedWrite[];
  readonly reports: readonly (readonly ReportTrial[])[];
  readonly outage: Outage;
}

async function measure(settings: Settings, binary: string, other: OtherSidecar | undefined): Promise<{ measured: Measured; sides: readonly UnderTest[] }> {
  const holder = { consul: await ConsulAgent.start(binary) };
  const node = await new FakeSignalNode().start();
  const sides: UnderTest[] = [];
  try {
    // Present before the sidecars start: the original's watch throws on a missing key.
    await putStatus(holder.consul, 'ready');
    sides.push(await startUnderTest('ours', node, holder.consul.httpPort, settings.scratch));
    if (other !== undefined) sides.push(await startUnderTest('other', node, holder.consul.httpPort, settings.scratch, other.command));
    const started = performance.now();
    const ready = await Promise.all(sides.map((side) => agentUntil(side, says('ready'), started, 30_000)));
    if (!ready.every(Number.isFinite)) throw new Error(`a sidecar never said ready: ${sides.map((side) => side.daemon.stderr.join('').slice(-500)).join(' | ')}`);

    settings.log(`  ${settings.consulWrites} KV writes of ${STATUS_KEY}`);
    const kv = await kvWrites(holder.consul, sides, settings.consulWrites, settings.log);
    settings.log(`  ${settings.consulWrites} status file replacements`);
    const file = await fileWrites(sides, settings.consulWrites, settings.log);
    const reports: ReportTrial[][] = [];
    for (const side of sides) {
      const trials = side.side === 'ours' ? settings.consulFailures : settings.consulOtherReportTrials;
      reports.push(await failureToReport(holder.consul, node, side, trials, REPORT_LIMIT_MS, settings.log));
    }
    const outage = await consulOutage(holder, sides, {
      binary,
      downSeconds: settings.consulOutageSeconds,
      writes: settings.consulRestartWrites,
      arrivalLimitMs: ARRIVAL_LIMIT_MS,
      lateLimitMs: LATE_LIMIT_MS,
      log: settings.log,
    });
    return { measured: { kv, file, reports, outage }, sides };
  } finally {
    await Promise.all(sides.map(stopUnderTest));
    await holder.consul.kill();
    await node.stop();
  }
}

/** How a row's ratio is taken: per write measured on both, of the medians, or not at all (counts). */
type RatioOf = 'pairs' | 'medians' | 'none';

/** One row: ours, and the other sidecar's figure beside it. */
function row(id: string, name: string, unit: string, values: readonly (readonly number[])[], ratioOf: RatioOf, target = '', met: ((ours: Spread) => boolean) | null = null): Figure {
  const [ours = [], theirs] = values;
  const daemon = spread(ours);
  const reference = theirs === undefined ? null : spread(theirs);
  let ratio: Spread | null = null;
  if (theirs !== undefined && reference !== null && ratioOf === 'pairs') ratio = spread(ours.map((value, i) => value / (theirs[i] ?? Number.NaN)));
  if (theirs !== undefined && reference !== null && ratioOf === 'medians') ratio = spread([daemon.median / reference.median]);
  return { id, name, unit, daemon, reference, ratio, target, met: met === null ? null : met(daemon) };
}

function figures(measured: Measured, sides: readonly UnderTest[], settings: Settings): Figure[] {
  const each = <T>(pick: (index: number) => T): T[] => sides.map((_, index) => pick(index));
  const { kv, file, reports, outage } = measured;
  const report = (pick: (trial: ReportTrial) => number): number[][] => reports.map((trials) => trials.map(pick));
  const side = (pick: (index: number) => number): number[][] => each((index) => [pick(index)]);
  const outcome = (index: number): Outage['sides'][number] | undefined => outage.sides[index];
  const writes = settings.consulRestartWrites;
  const lines = (index: number, which: 'linesWhileDown' | 'linesAfter'): number => outcome(index)?.[which].length ?? Number.NaN;
  return [
    row('consul:kv', `KV write answered → agent line has the word (${kv.length} writes, POLLING_INTERVAL ${POLL_MS / 1000})`, 'ms', each((i) => fromAnswer(kv, i)), 'pairs', '≤ 50 median, ≤ 100 worst', (ours) => ours.median <= 50 && ours.max <= 100),
    row('consul:kv-sent', '  same, from just before the PUT', 'ms', each((i) => fromSent(kv, i)), 'pairs'),
    row('consul:kv-consul', '  of which: write answered → Consul answers the watch (at the relay)', 'ms', each((i) => consulPart(kv, i)), 'pairs'),
    row('consul:kv-sidecar', '  and: that answer → agent line (the sidecar)', 'ms', each((i) => sidecarPart(kv, i)), 'pairs'),
    row('consul:file', `status file replaced (rename) → agent line, same run (${file.length} writes)`, 'ms', each((i) => fromAnswer(file, i)), 'pairs'),
    row('consul:report', 'jicofo 500 → report in Consul says "healthy":false', 's', report((trial) => trial.faultToReportMs / 1000), 'medians'),
    row('consul:report-change', '  from the agent line saying down', 'ms', report((trial) => trial.verdictToReportMs), 'medians', '≤ 1000 worst', (ours) => ours.max <= 1000),
    row('consul:outage-attempts', `Consul killed (-9), ${settings.consulOutageSeconds} s away: connections to its port`, '/s', side((i) => outcome(i)?.attemptsPerSecond ?? Number.NaN), 'none', '≤ 1', (ours) => ours.max <= 1),
    row('consul:outage-busiest', '  most connections in any one second', 'count', side((i) => outcome(i)?.busiestSecond ?? Number.NaN), 'none'),
    row('consul:outage-lines-lost', '  log lines about Consul while it was away', 'lines', side((i) => lines(i, 'linesWhileDown')), 'none', '≤ 1', (ours) => ours.max <= 1),
    row('consul:outage-lines-back', '  log lines about Consul after it was back', 'lines', side((i) => lines(i, 'linesAfter')), 'none', '≤ 1', (ours) => ours.max <= 1),
    row('consul:outage-crashes', '  crashes in the whole phase', 'count', side((i) => (outcome(i)?.crashed === true ? 1 : 0)), 'none', '0', (ours) => ours.max === 0),
    row('consul:restart-arrived', `  writes to the new Consul (data gone) on the agent line within ${ARRIVAL_LIMIT_MS / 1000} s, of ${writes}`, 'writes', side((i) => outcome(i)?.arrivedWithinLimit ?? Number.NaN), 'none', `${writes} of ${writes}`, (ours) => ours.min === writes),
    row('consul:restart-last', `  the last of them: write → agent line (- = not within ${LATE_LIMIT_MS / 1000} s)`, 's', side((i) => (outcome(i)?.lastWriteMs ?? Number.NaN) / 1000), 'medians'),
  ];
}

/** Every measurement in milliseconds, per sidecar (null in the JSON: not within the limit). */
function rawFigures(measured: Measured, sides: readonly UnderTest[], other: OtherSidecar | undefined): Record<string, unknown> {
  const { kv, file, reports, outage } = measured;
  const timings = (writes: readonly TimedWrite[], index: number): Record<string, unknown> => ({
    words: writes.map((write) => write.word),
    fromAnswerMs: fromAnswer(writes, index),
    fromSentMs: fromSent(writes, index),
    ...(writes.some((write) => write.watchAnsweredAt !== undefined) ? { consulMs: consulPart(writes, index), sidecarMs: sidecarPart(writes, index) } : {}),
  });
  return {
    other: other?.text ?? null,
    pollMs: POLL_MS,
    statusKey: STATUS_KEY,
    sides: Object.fromEntries(
      sides.map((side, index) => [
        side.side,
        {
          reportKey: side.reportKey,
          kv: timings(kv, index),
          file: timings(file, index),
          reports: reports[index],
          outage: { ...outage.sides[index], writes: timings(outage.writes, index) },
        },
      ]),
    ),
    outage: { downMs: outage.downMs, awayMs: outage.awayMs },
  };
}

/** The phase; a machine without Consul gets one failed row that says why. */
export async function consulPhase(settings: Settings, raw: Raw, other: OtherSidecar | undefined): Promise<Figure[]> {
  const binary = consulBinary();
  if (!('path' in binary)) {
    raw.consul = { notRun: binary.skip };
    return [row('consul', `Consul phase not run: ${binary.skip}`, '', [[]], 'none', 'runs', () => false)];
  }
  const { measured, sides } = await measure(settings, binary.path, other);
  raw.consul = rawFigures(measured, sides, other);
  return figures(measured, sides, settings);
}
