import { isRoom, type CensusRoom } from '../collect/census';
import type { KvEntry } from '../consul/client';

/**
 * One shard's report as published in Consul (CONSUL_REPORTS): the
 * /signal/report JSON plus `census`, read back by someone else. The reader is
 * lenient with what it does not need (an original 0.3 sidecar sends no
 * `reasons`, no `censusRooms`) and strict with what it does: a value without
 * a time, a health and a status is not a report, and says why.
 */

export interface ShardCensus {
  /**
   * The rooms as parsed (names as prosody gives them; participants -1 when
   * only the focus is left), not copied: a fleet of large shards holds
   * hundreds of thousands.
   */
  readonly rooms: readonly CensusRoom[];
  /** The publisher cut the census to fit Consul's value limit, keeping the largest rooms. */
  readonly truncated: boolean;
  /** The shard's full count of rooms (`censusRooms`); null when the report does not say (an original sidecar). */
  readonly totalRooms: number | null;
  /** Entries that were not rooms (no name, participants not a whole number ≥ -1), left out. */
  readonly malformed: number;
}

export interface ReadableShard {
  readonly kind: 'report';
  /** The key's last segment: `signal-report/<env>/<shard>`. */
  readonly shard: string;
  readonly key: string;
  readonly time: string;
  /** Now minus the report's `time`, as the reader's clock sees it; negative when the shard's clock is ahead. */
  readonly ageMs: number;
  readonly stale: boolean;
  readonly healthy: boolean;
  /** Now minus the report's `lastUnhealthy` (the shard's last unhealthy decision); null when it has none. */
  readonly sinceUnhealthyMs: number | null;
  readonly status: string;
  readonly weight: string | null;
  /** null when the report says unknown (jicofo not healthy). */
  readonly participants: number | null;
  readonly conferences: number | null;
  readonly reasons: readonly string[];
  /** null when the report carries no census (CENSUS_REPORTS off, or its census poll failing). */
  readonly census: ShardCensus | null;
  /** The value as read, parsed. */
  readonly report: Readonly<Record<string, unknown>>;
}

export interface UnreadableShard {
  readonly kind: 'unreadable';
  readonly shard: string;
  readonly key: string;
  /** Why the value is not a report, in a short phrase. */
  readonly problem: string;
  readonly bytes: number;
}

export type FleetShard = ReadableShard | UnreadableShard;

export interface ReadingClock {
  /** The reader's clock, ms since the epoch. */
  readonly now: number;
  /** A report older than this is stale. */
  readonly staleAfterMs: number;
}

export const shardOf = (key: string): string => key.slice(key.lastIndexOf('/') + 1);

/** Shard and room names as a person sorts them: shard2 before shard10. */
export const byName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

type Json = Readonly<Record<string, unknown>>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

const numberOrNull = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

function censusOf(report: Json): ShardCensus | null {
  const list = report.census;
  const totalRooms = numberOrNull(report.censusRooms);
  // The publisher writes `census: []` when it has no census to send; only
  // `censusRooms` tells an empty census from none (an original's non-empty one speaks for itself).
  if (!Array.isArray(list) || (list.length === 0 && totalRooms === null)) return null;
  const rooms = (list as unknown[]).filter(isRoom);
  return { rooms, truncated: report.censusTruncated === true, totalRooms, malformed: list.length - rooms.length };
}

function unreadable(entry: KvEntry, problem: string): UnreadableShard {
  return { kind: 'unreadable', shard: shardOf(entry.key), key: entry.key, problem, bytes: Buffer.byteLength(entry.value) };
}

/** Parses one key's value; never throws. */
export function readShardReport(entry: KvEntry, clock: ReadingClock): FleetShard {
  if (entry.value.trim() === '') return unreadable(entry, 'empty value');
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry.value);
  } catch {
    return unreadable(entry, `not JSON: ${JSON.stringify(entry.value.slice(0, 24))}${entry.value.length > 24 ? '…' : ''}`);
  }
  if (!isObject(parsed)) return unreadable(entry, 'not a JSON object');
  if (typeof parsed.time !== 'string') return unreadable(entry, 'no time field');
  const at = Date.parse(parsed.time);
  if (Number.isNaN(at)) return unreadable(entry, `time is not a date: ${JSON.stringify(parsed.time.slice(0, 40))}`);
  if (typeof parsed.healthy !== 'boolean') return unreadable(entry, 'no healthy field (true or false)');
  if (typeof parsed.status !== 'string') return unreadable(entry, 'no status field');

  const stats = isObject(parsed.stats) ? parsed.stats : {};
  const reasons = Array.isArray(parsed.reasons) ? (parsed.reasons as unknown[]).filter((reason): reason is string => typeof reason === 'string') : [];
  const ageMs = clock.now - at;
  const lastUnhealthy = typeof parsed.lastUnhealthy === 'string' ? Date.parse(parsed.lastUnhealthy) : Number.NaN;
  return {
    kind: 'report',
    shard: shardOf(entry.key),
    key: entry.key,
    time: parsed.time,
    ageMs,
    stale: ageMs > clock.staleAfterMs,
    healthy: parsed.healthy,
    sinceUnhealthyMs: Number.isNaN(lastUnhealthy) ? null : clock.now - lastUnhealthy,
    status: parsed.status,
    weight: typeof parsed.weight === 'string' ? parsed.weight : null,
    participants: numberOrNull(stats.jicofoParticipants),
    conferences: numberOrNull(stats.jicofoConferences),
    reasons,
    census: censusOf(parsed),
    report: parsed,
  };
}
