import { byName, type FleetShard, type ReadableShard, type ShardCensus } from './shard-report';

/**
 * Split conferences, found in the sidecars' own census: a room live on two
 * shards at once is two conferences of one name, its participants unable to
 * see each other. Each sidecar knows only its shard's rooms; the reports in
 * Consul put them side by side.
 *
 * A room is live with one participant or more; -1 (only the focus is left)
 * and 0 are not. Names compare exactly as prosody gives them. A stale report
 * is left out: a dead sidecar's last census would raise false alarms for
 * every room that has since moved on.
 */

export interface SplitShard {
  readonly shard: string;
  readonly participants: number;
}

export interface SplitRoom {
  readonly room: string;
  /** Two or more, sorted by shard. */
  readonly shards: readonly SplitShard[];
}

export type LeftOutWhy = 'stale' | 'unreadable' | 'no census';

export interface SplitCheck {
  /** Sorted by room name. */
  readonly splits: readonly SplitRoom[];
  /** Shards whose census was compared. */
  readonly checked: number;
  /** Shards the check could not see into, and why. */
  readonly leftOut: readonly { readonly shard: string; readonly why: LeftOutWhy }[];
  /** Compared, but with a census cut to fit Consul: a split of their smaller rooms may be missed. */
  readonly truncated: readonly { readonly shard: string; readonly rooms: number; readonly totalRooms: number | null }[];
}

export function findSplits(shards: readonly FleetShard[]): SplitCheck {
  const leftOut: { shard: string; why: LeftOutWhy }[] = [];
  const compared: { shard: ReadableShard; census: ShardCensus }[] = [];
  for (const shard of shards) {
    if (shard.kind === 'unreadable') leftOut.push({ shard: shard.shard, why: 'unreadable' });
    else if (shard.stale) leftOut.push({ shard: shard.shard, why: 'stale' });
    else if (shard.census === null) leftOut.push({ shard: shard.shard, why: 'no census' });
    else compared.push({ shard, census: shard.census });
  }

  // Each room's places are told apart by the report's key: a room listed
  // twice in one census is one conference, not a split.
  const live = new Map<string, { key: string; shard: SplitShard }[]>();
  for (const { shard, census } of compared) {
    for (const { room, participants } of census.rooms) {
      if (participants < 1) continue;
      const seen = live.get(room);
      if (seen === undefined) live.set(room, [{ key: shard.key, shard: { shard: shard.shard, participants } }]);
      else if (!seen.some((where) => where.key === shard.key)) seen.push({ key: shard.key, shard: { shard: shard.shard, participants } });
    }
  }
  const splits: SplitRoom[] = [];
  for (const [room, where] of live) {
    if (where.length < 2) continue;
    splits.push({ room, shards: where.map((place) => place.shard).sort((a, b) => byName(a.shard, b.shard)) });
  }
  splits.sort((a, b) => byName(a.room, b.room));

  const truncated = compared
    .filter(({ census }) => census.truncated)
    .map(({ shard, census }) => ({ shard: shard.shard, rooms: census.rooms.length, totalRooms: census.totalRooms }));
  return { splits, checked: compared.length, leftOut, truncated };
}
