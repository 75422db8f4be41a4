import type { SplitRecord } from './ledger';

/**
 * The split detector of `signal-sidecar fleet` (the sidecars' census in
 * their Consul reports, side by side) scored against the fleet bench's own
 * ledger of splits: which splits it found, which it missed, and which rooms
 * it called split when the ledger saw no such thing.
 *
 * A report's census is as old as the sidecar's last census poll, and sits in
 * Consul until its next write; `lagMs` is the most that adds up to (poll,
 * report interval, the reader's own interval). A split the ledger saw is
 * found when a read from its start to `lagMs` after its end lists the room;
 * an alarm is true when the ledger had the room split at some moment in the
 * `lagMs` before the read.
 *
 * A false alarm soon after the room moved is told apart: prosody keeps a
 * BOSH participant in the room until its session times out (`ghostMs`,
 * bosh_max_inactivity) when its client went on to another shard without
 * saying goodbye (a poll answered `terminate` there), so the old shard's
 * census lists the room for that long. No census can tell such a ghost from
 * a participant.
 */

export interface DetectorRead {
  /** Wall clock (ms since the epoch) when the read came back. */
  readonly at: number;
  /** The rooms the read listed as live on two shards or more. */
  readonly rooms: readonly string[];
}

export interface DetectionScore {
  /** Splits in the ledger (episodes: a room split twice counts twice). */
  readonly splits: number;
  readonly found: number;
  readonly missed: number;
  /** Of the missed, those that lasted no longer than `lagMs`: over before a census could show them on both shards. */
  readonly missedShorterThanLag: number;
  /** Rooms called split with no split in the ledger near that moment, and in how many reads. */
  readonly falseAlarmRooms: number;
  readonly falseAlarmReads: number;
  /** Of those rooms, the ones that had moved shard within `ghostMs` + `lagMs` before every such read. */
  readonly falseAlarmRoomsAfterMove: number;
  readonly ghostMs: number;
  /** False alarms (room and read) by the fault going on at the read ('no fault' between them). */
  readonly falseAlarmsByFault: Readonly<Record<string, number>>;
  readonly reads: number;
  readonly lagMs: number;
  /** A few of each, for the log. */
  readonly missedExamples: readonly string[];
  readonly falseAlarmExamples: readonly string[];
}

interface Episode {
  readonly room: string;
  readonly from: number;
  readonly to: number;
}

const episodes = (splits: readonly SplitRecord[], runEnd: number): Episode[] =>
  splits.map((split) => ({ room: split.room, from: Date.parse(split.from), to: split.to === null ? runEnd : Date.parse(split.to) }));

const EXAMPLES = 5;

export interface DetectionFacts {
  readonly splits: readonly SplitRecord[];
  readonly reads: readonly DetectorRead[];
  /** Moves of running conferences (ms since the epoch). */
  readonly moves: readonly { readonly room: string; readonly at: number }[];
  readonly lagMs: number;
  readonly ghostMs: number;
  readonly runEnd: number;
  /** The schedule's faults, from injection to the end of their window (ms since the epoch). */
  readonly faults: readonly { readonly name: string; readonly from: number; readonly to: number }[];
}

export function scoreDetection({ splits, reads, moves, lagMs, ghostMs, runEnd, faults }: DetectionFacts): DetectionScore {
  const seen = episodes(splits, runEnd);
  const byRoom = new Map<string, Episode[]>();
  for (const episode of seen) byRoom.set(episode.room, [...(byRoom.get(episode.room) ?? []), episode]);
  const found = seen.filter((episode) => reads.some((read) => read.at >= episode.from && read.at <= episode.to + lagMs && read.rooms.includes(episode.room)));
  const missed = seen.filter((episode) => !found.includes(episode));
  const falseAlarms = reads.flatMap((read) =>
    read.rooms.filter((room) => !(byRoom.get(room) ?? []).some((episode) => episode.from <= read.at && episode.to >= read.at - lagMs)).map((room) => ({ room, at: read.at })),
  );
  const movedBefore = (room: string, at: number): boolean => moves.some((move) => move.room === room && move.at <= at && move.at >= at - ghostMs - lagMs);
  const alarmRooms = new Set(falseAlarms.map((alarm) => alarm.room));
  const byFault: Record<string, number> = {};
  for (const alarm of falseAlarms) {
    const during = faults.find((fault) => alarm.at >= fault.from && alarm.at <= fault.to)?.name ?? 'no fault';
    byFault[during] = (byFault[during] ?? 0) + 1;
  }
  const afterMove = [...alarmRooms].filter((room) => falseAlarms.every((alarm) => alarm.room !== room || movedBefore(room, alarm.at)));
  return {
    splits: seen.length,
    found: found.length,
    missed: missed.length,
    missedShorterThanLag: missed.filter((episode) => episode.to - episode.from <= lagMs).length,
    falseAlarmRooms: alarmRooms.size,
    falseAlarmReads: falseAlarms.length,
    falseAlarmRoomsAfterMove: afterMove.length,
    ghostMs,
    falseAlarmsByFault: byFault,
    reads: reads.length,
    lagMs,
    missedExamples: missed.slice(0, EXAMPLES).map((episode) => `${episode.room} split for ${episode.to - episode.from} ms`),
    falseAlarmExamples: falseAlarms.slice(0, EXAMPLES).map((alarm) => `${alarm.room} at ${new Date(alarm.at).toISOString()}`),
  };
}
