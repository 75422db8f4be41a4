import type { KvEntry } from '../consul/client';
import { byName, readShardReport, type FleetShard, type ReadableShard, type ReadingClock } from './shard-report';
import { findSplits, type SplitCheck } from './splits';

/**
 * The fleet as its reports in Consul show it: every shard under a prefix,
 * the split check across them, and the counts. Health, drain and the
 * participant totals count fresh reports only: a stale one tells what a
 * shard was, not what it is.
 */

export interface FleetSummary {
  /** Every report key read, unreadable ones included. */
  readonly shards: number;
  readonly fresh: number;
  readonly stale: number;
  readonly unreadable: number;
  /** Of the fresh reports. */
  readonly healthy: number;
  readonly unhealthy: number;
  /** Fresh reports with status drain or maint: taking no new conferences. */
  readonly draining: number;
  /** Sums over the fresh reports that know them. */
  readonly participants: number;
  readonly conferences: number;
  readonly splits: number;
}

export interface FleetView {
  /** Sorted by shard name. */
  readonly shards: readonly FleetShard[];
  readonly check: SplitCheck;
  readonly summary: FleetSummary;
}

const TAKING_NOTHING_NEW = new Set(['drain', 'maint']);

function summarize(shards: readonly FleetShard[], splits: number): FleetSummary {
  const fresh = shards.filter((shard): shard is ReadableShard => shard.kind === 'report' && !shard.stale);
  const sum = (of: (shard: ReadableShard) => number | null): number => fresh.reduce((total, shard) => total + (of(shard) ?? 0), 0);
  return {
    shards: shards.length,
    fresh: fresh.length,
    stale: shards.filter((shard) => shard.kind === 'report' && shard.stale).length,
    unreadable: shards.filter((shard) => shard.kind === 'unreadable').length,
    healthy: fresh.filter((shard) => shard.healthy).length,
    unhealthy: fresh.filter((shard) => !shard.healthy).length,
    draining: fresh.filter((shard) => TAKING_NOTHING_NEW.has(shard.status)).length,
    participants: sum((shard) => shard.participants),
    conferences: sum((shard) => shard.conferences),
    splits,
  };
}

export function readFleet(entries: readonly KvEntry[], clock: ReadingClock): FleetView {
  const shards = entries
    // A key ending in / is a folder (Consul's UI makes them), not a shard.
    .filter((entry) => !entry.key.endsWith('/'))
    .map((entry) => readShardReport(entry, clock))
    .sort((a, b) => byName(a.shard, b.shard) || byName(a.key, b.key));
  const check = findSplits(shards);
  return { shards, check, summary: summarize(shards, check.splits.length) };
}
