import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roomOfJid } from '../../bench/fleet/consul-fleet';
import type { SplitRecord } from '../../bench/fleet/ledger';
import { scoreDetection } from '../../bench/fleet/split-detection';

/** The fleet bench's score of the census split check against its ledger (bench/fleet/split-detection.ts). */

const T0 = Date.parse('2026-12-03T20:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const split = (room: string, from: number, to: number | null): SplitRecord => ({ room, shards: ['shard1', 'shard2'], from: at(from), to: to === null ? null : at(to), durationMs: to === null ? null : to - from });
const read = (ms: number, ...rooms: string[]): { at: number; rooms: string[] } => ({ at: T0 + ms, rooms });
const LAG = 4000;
const score = (splits: SplitRecord[], reads: { at: number; rooms: string[] }[], moves: { room: string; at: number }[] = []): ReturnType<typeof scoreDetection> =>
  scoreDetection({ splits, reads, moves, lagMs: LAG, ghostMs: 60_000, runEnd: T0 + 120_000, faults: [{ name: 'prosody hung', from: T0 + 25_000, to: T0 + 35_000 }] });

describe('split detection score', () => {
  it('a split listed by a read while it lasts, or within the lag after it ended, is found; one never listed is missed', () => {
    const scored = score([split('standup', 0, 10_000), split('retro', 20_000, 21_000), split('lecture', 30_000, 40_000)], [read(5000, 'standup'), read(24_000, 'retro'), read(35_000)]);
    assert.equal(scored.splits, 3);
    assert.equal(scored.found, 2);
    assert.equal(scored.missed, 1);
    assert.equal(scored.missedShorterThanLag, 0, 'the lecture split lasted 10 s, longer than the lag');
    assert.deepEqual(scored.missedExamples, ['lecture split for 10000 ms']);
  });

  it('a read past the lag after a split ended does not find it, and is a false alarm; a short missed split is told apart', () => {
    const scored = score([split('retro', 0, 500)], [read(9000, 'retro')]);
    assert.equal(scored.found, 0);
    assert.equal(scored.missedShorterThanLag, 1);
    assert.equal(scored.falseAlarmRooms, 1);
    assert.equal(scored.falseAlarmReads, 1);
  });

  it('a room listed with no split in the ledger is a false alarm per room and per read; a split still open at the end counts until then', () => {
    const scored = score([split('board', 50_000, null)], [read(1000, 'family'), read(2000, 'family'), read(119_000, 'board')]);
    assert.equal(scored.found, 1);
    assert.equal(scored.falseAlarmRooms, 1);
    assert.equal(scored.falseAlarmReads, 2);
    assert.equal(scored.reads, 3);
  });

  it('a false alarm within the BOSH inactivity after the room moved is counted apart; one later than that is not', () => {
    const moves = [{ room: 'standup', at: T0 }, { room: 'retro', at: T0 }];
    const scored = score([], [read(30_000, 'standup'), read(30_000, 'retro'), read(90_000, 'retro'), read(30_000, 'family')], moves);
    assert.equal(scored.falseAlarmRooms, 3);
    assert.equal(scored.falseAlarmRoomsAfterMove, 1, 'standup only: retro is still listed 90 s after its move, family never moved');
    assert.deepEqual(scored.falseAlarmsByFault, { 'prosody hung': 3, 'no fault': 1 });
  });

  it('a census JID names the room the ledger knows', () => {
    assert.equal(roomOfJid('[tenant3]standup-178@conference.bench.example'), '[tenant3]standup-178');
    assert.equal(roomOfJid('standup'), 'standup');
  });
});
