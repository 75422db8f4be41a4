import { ConsulAgent } from '../../test/helpers/consul';
import { sleep } from '../../test/helpers/daemon';
import { agentUntil, says, type UnderTest } from './sidecars';
import { writesWithin, type TimedWrite } from './writes';

/**
 * Consul killed with -9, away for a while, and a new dev agent on the same
 * port with its data gone (its index starts low again): what each sidecar
 * does meanwhile (connection attempts, log lines, crashes) and whether the
 * writes made to the new Consul reach its agent line.
 */

export interface OutageSettings {
  readonly binary: string;
  readonly downSeconds: number;
  /** Writes to the new Consul, each given `arrivalLimitMs`. */
  readonly writes: number;
  readonly arrivalLimitMs: number;
  /** How long the last write is waited for, for the sidecars that had not shown it yet. */
  readonly lateLimitMs: number;
  readonly log: (line: string) => void;
}

export interface SideOutage {
  /** Connections to Consul's port while nothing listened there. */
  readonly attemptsWhileDown: number;
  /** When each came, in ms after the kill. */
  readonly attemptsAtMs: readonly number[];
  readonly attemptsPerSecond: number;
  /** Most connections in any one second while down. */
  readonly busiestSecond: number;
  /** Log lines about Consul, from the kill until the new Consul took writes, and from then on. */
  readonly linesWhileDown: readonly string[];
  readonly linesAfter: readonly string[];
  /** The process was gone at the end. */
  readonly crashed: boolean;
  readonly arrivedWithinLimit: number;
  /** The last write to the new Consul until this agent showed it (ms; Infinity: not within lateLimitMs). */
  readonly lastWriteMs: number;
}

export interface Outage {
  readonly downMs: number;
  /** The kill until the new Consul took a write. */
  readonly awayMs: number;
  readonly writes: readonly TimedWrite[];
  readonly sides: readonly SideOutage[];
}

/** Lines that announce a status word the bench wrote: not about the outage. */
const WORD_ARRIVED = /"message":"(signal node state changed|consul watch triggered)/;

function busiest(times: readonly number[]): number {
  return times.reduce((most, at) => Math.max(most, times.filter((other) => other >= at && other < at + 1000).length), 0);
}

/** Log lines about Consul written from `from` on (by their own timestamps), split at `split`. */
function consulLines(sidecar: UnderTest, firstLine: number, split: number): { before: string[]; after: string[] } {
  const lines = sidecar.daemon.lines.slice(firstLine).filter((line) => /consul/i.test(line) && !WORD_ARRIVED.test(line));
  const at = (line: string): number => {
    try {
      return Date.parse(String((JSON.parse(line) as { timestamp?: unknown }).timestamp));
    } catch {
      return Number.NaN;
    }
  };
  // A line without a time of its own counts as after: it cannot be shown to be earlier.
  return { before: lines.filter((line) => at(line) < split), after: lines.filter((line) => !(at(line) < split)) };
}

export async function consulOutage(holder: { consul: ConsulAgent }, sidecars: readonly UnderTest[], settings: OutageSettings): Promise<Outage> {
  const port = holder.consul.httpPort;
  const firstLines = sidecars.map((sidecar) => sidecar.daemon.lines.length);
  const killedAt = performance.now();
  await holder.consul.kill();
  settings.log(`  Consul killed (-9); a new one in ${settings.downSeconds} s`);
  await sleep(settings.downSeconds * 1000);
  const downEnd = performance.now();
  holder.consul = await ConsulAgent.start(settings.binary, { httpPort: port });
  const upWall = Date.now();
  const awayMs = performance.now() - killedAt;
  settings.log(`  a new Consul takes writes ${(awayMs / 1000).toFixed(1)} s after the kill`);

  const writes = await writesWithin(() => holder.consul, sidecars, settings.writes, settings.arrivalLimitMs, settings.log);
  const last = writes.at(-1);
  const lastSeen = await Promise.all(
    sidecars.map(async (sidecar, index) => {
      const seen = last?.seenAt[index] ?? Infinity;
      if (last === undefined || Number.isFinite(seen)) return seen;
      return agentUntil(sidecar, says(last.word), last.answeredAt, settings.lateLimitMs);
    }),
  );
  return {
    downMs: downEnd - killedAt,
    awayMs,
    writes,
    sides: sidecars.map((sidecar, index) => {
      const attempts = sidecar.proxy.between(killedAt, downEnd);
      const lines = consulLines(sidecar, firstLines[index] ?? 0, upWall);
      return {
        attemptsWhileDown: attempts.length,
        attemptsAtMs: attempts.map((at) => Math.round(at - killedAt)),
        attemptsPerSecond: attempts.length / ((downEnd - killedAt) / 1000),
        busiestSecond: busiest(attempts),
        linesWhileDown: lines.before,
        linesAfter: lines.after,
        crashed: sidecar.daemon.child.exitCode !== null || sidecar.daemon.child.signalCode !== null,
        arrivedWithinLimit: writes.filter((write) => (write.seenAt[index] ?? Infinity) - write.answeredAt <= settings.arrivalLimitMs).length,
        lastWriteMs: (lastSeen[index] ?? Infinity) - (last?.answeredAt ?? 0),
      };
    }),
  };
}
