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
 * every room that has since moved on. So is an unhealthy shard's: HAProxy has
 * marked it down and its conferences are failing over, and prosody keeps
 * their BOSH participants in the room until bosh_max_inactivity (60 s) after
 * they went on to a healthy shard, so every room that left would be listed;
 * for that minute after it is healthy again (`lastUnhealthy` in its report)
 * its census is left out too, as `recovering`.
 */

/** prosody's default bosh_max_inactivity: how long a participant that went elsewhere can stay in a room. */
const BOSH_MAX_INACTIVITY_MS = 60_000;

export interface SplitShard {
  readonly shard: string;
  readonly participants: number;
}

export interface SplitRoom {
  readonly room: string;
  /** Two or more, sorted by shard. */
  readonly shards: readonly SplitShard[];
}

export type LeftOutWhy = 'stale' | 'unhealthy' | 'recovering' | 'unreadable' | 'no census';

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

/** The participants of a live room in a census (the first listing, as the check saw it first). */
function participantsIn(census: ShardCensus | undefined, room: string): number {
  return census?.rooms.find((entry) => entry.room_name === room && entry.participants >= 1)?.participants ?? 0;
}

/**
 * Every live room found in two or more censuses: where (index into
 * `censuses`) and with how many participants, in the order seen.
 */
function roomsOnSeveralShards(censuses: readonly ShardCensus[]): Map<string, { at: number; participants: number }[]> {
  // Most rooms are on one shard: a room costs a number until it is seen on
  // a second one (a fleet of large shards has hundreds of thousands).
  const firstSeen = new Map<string, number>();
  const places = new Map<string, { at: number; participants: number }[]>();
  censuses.forEach((census, at) => {
    for (const { room_name: room, participants } of census.rooms) {
      if (participants < 1) continue;
      const first = firstSeen.get(room);
      if (first === undefined) {
        firstSeen.set(room, at);
        continue;
      }
      // A room listed twice in one census is one conference, not a split.
      if (first === at) continue;
      let seen = places.get(room);
      if (seen === undefined) {
        seen = [{ at: first, participants: participantsIn(censuses[first], room) }];
        places.set(room, seen);
      }
      if (seen[seen.length - 1]?.at !== at) seen.push({ at, participants });
    }
  });
  return places;
}

export function findSplits(shards: readonly FleetShard[]): SplitCheck {
  const leftOut: { shard: string; why: LeftOutWhy }[] = [];
  const compared: { shard: ReadableShard; census: ShardCensus }[] = [];
  for (const shard of shards) {
    if (shard.kind === 'unreadable') leftOut.push({ shard: shard.shard, why: 'unreadable' });
    else if (shard.stale) leftOut.push({ shard: shard.shard, why: 'stale' });
    else if (!shard.healthy) leftOut.push({ shard: shard.shard, why: 'unhealthy' });
    else if (shard.sinceUnhealthyMs !== null && shard.sinceUnhealthyMs < BOSH_MAX_INACTIVITY_MS) leftOut.push({ shard: shard.shard, why: 'recovering' });
    else if (shard.census === null) leftOut.push({ shard: shard.shard, why: 'no census' });
    else compared.push({ shard, census: shard.census });
  }

  const places = roomsOnSeveralShards(compared.map(({ census }) => census));
  const splits: SplitRoom[] = [...places].map(([room, seen]) => ({
    room,
    shards: seen.map(({ at, participants }) => ({ shard: compared[at]?.shard.shard ?? '', participants })).sort((a, b) => byName(a.shard, b.shard)),
  }));
  splits.sort((a, b) => byName(a.room, b.room));

  const truncated = compared
    .filter(({ census }) => census.truncated)
    .map(({ shard, census }) => ({ shard: shard.shard, rooms: census.rooms.length, totalRooms: census.totalRooms }));
  return { splits, checked: compared.length, leftOut, truncated };
}
