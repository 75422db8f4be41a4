import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ledger, type ServerView } from '../../bench/fleet/ledger';

/** The fleet bench's bookkeeping (bench/fleet/ledger.ts), on a clock the test moves. */

function ledger(): { book: Ledger; at: (ms: number) => void } {
  let now = 0;
  return { book: new Ledger(() => now), at: (ms) => (now = ms) };
}

/** One sample of each HAProxy's view, HAProxy 0 first. */
const states = (...haproxies: Record<string, ServerView>[]): Map<number, Map<string, ServerView>> => new Map(haproxies.map((entries, index) => [index, new Map(Object.entries(entries))]));

describe('fleet ledger', () => {
  it('a conference joined on two serving shards at once is split; on a dead shard it is not', () => {
    const { book, at } = ledger();
    book.joined(1, 'standup', 'shard1', 0);
    book.joined(2, 'standup', 'shard1', 0);
    assert.equal(book.splitRooms.size, 0);
    const dead = book.openWindow('prosody hung', 'shard1', 'dead');
    at(1000);
    // Frozen sessions on shard1 do not serve: a participant elsewhere is a failover, not a split.
    book.joined(3, 'standup', 'shard2', 0);
    assert.equal(book.splitRooms.size, 0);
    assert.deepEqual([...book.failedOver, ...book.movedWithoutFault], ['standup']);
    // The frozen shard answering again brings its sessions back beside the moved one.
    book.healed(dead);
    assert.deepEqual([...book.splitRooms], ['standup']);
    assert.deepEqual([...dead.splitRooms], ['standup']);
  });

  it('classifies a move of a running conference by the fault of the shard it left', () => {
    const { book } = ledger();
    for (const [participant, room] of [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd']] as const) book.joined(participant, room, 'shard1', 0);
    book.joined(5, 'a', 'shard2', 0);
    assert.deepEqual([...book.movedWithoutFault], ['a']);
    const restart = book.openWindow('sidecar restarted', 'shard1', 'sidecar');
    book.joined(6, 'b', 'shard2', 0);
    book.close(restart);
    const drain = book.openWindow('drain', 'shard1', 'drain');
    book.joined(7, 'c', 'shard3', 0);
    book.close(drain);
    assert.deepEqual([...book.restartMoved], ['b']);
    assert.deepEqual([...book.drainMoved], ['c']);
    assert.deepEqual([...drain.movedRooms], ['c']);
    assert.deepEqual(book.moves.map((move) => move.room), ['a', 'b', 'c'], 'every change of shard, for the split check\'s false alarms');
  });

  it('a join into an empty room starts a new conference wherever it lands', () => {
    const { book } = ledger();
    book.joined(1, 'solo', 'shard1', 0);
    book.ended(1, 'left');
    book.joined(1, 'solo', 'shard2', 0);
    assert.equal(book.newRooms, 2);
    assert.equal(book.movedWithoutFault.size, 0);
    assert.deepEqual([...book.replacedAfterEmpty], ['solo']);
    assert.deepEqual(book.moves.map((move) => move.room), ['solo'], 'a conference started again on another shard changed shard too');
  });

  it('counts a new conference on a shard HAProxy showed unavailable on both sides of its placement', () => {
    const { book, at } = ledger();
    book.observe(states({ shard1: 'DRAIN', shard2: 'UP' }));
    at(50);
    book.joined(1, 'daily', 'shard1', 0);
    book.joined(2, 'other', 'shard2', 0);
    at(100);
    book.observe(states({ shard1: 'DRAIN', shard2: 'UP' }));
    // Placed while the sample before said UP and the one after DRAIN: too close to call.
    at(150);
    book.observe(states({ shard1: 'UP', shard2: 'UP' }));
    at(160);
    book.joined(3, 'edge', 'shard1', 0);
    at(200);
    book.observe(states({ shard1: 'DRAIN', shard2: 'UP' }));
    assert.deepEqual(book.newRoomsOnUnavailable, [{ room: 'daily', shard: 'shard1', state: 'DRAIN', sinceLastMs: null }]);
  });

  it('a new room placed by an HAProxy without agent verdicts yet, on a shard the others show draining, was placed on an unavailable shard', () => {
    const { book, at } = ledger();
    book.joined(1, 'weekly', 'shard1', 0);
    at(10);
    book.ended(1, 'left');
    at(100);
    book.observe(states({ shard1: 'DRAIN' }, { shard1: 'UNCHECKED' }));
    at(150);
    book.joined(2, 'weekly', 'shard1', 1);
    book.joined(3, 'fresh', 'shard1', 0);
    at(200);
    book.observe(states({ shard1: 'DRAIN' }, { shard1: 'UNCHECKED' }));
    assert.deepEqual(
      book.newRoomsOnUnavailable.map((placement) => [placement.room, placement.sinceLastMs]),
      [['weekly', 140], ['fresh', null]],
    );
  });

  it('marks a fault when the first HAProxy sees it and its end when all of them do', () => {
    const { book, at } = ledger();
    const drain = book.openWindow('drain', 'shard1', 'drain');
    at(100);
    book.observe(states({ shard1: 'UP' }, { shard1: 'DRAIN' }));
    assert.equal(drain.markedAt, 100);
    book.healed(drain);
    at(200);
    book.observe(states({ shard1: 'UP' }, { shard1: 'DRAIN' }));
    assert.equal(drain.backAt, null);
    at(300);
    book.observe(states({ shard1: 'UP' }, { shard1: 'UP' }));
    assert.equal(drain.backAt, 300);
  });

  it('counts the weight changes of HAProxy 1 and the samples in which two HAProxies apply different rings', () => {
    const { book } = ledger();
    const weights = (...haproxies: Record<string, number>[]): Map<number, Map<string, number>> => new Map(haproxies.map((entries, index) => [index, new Map(Object.entries(entries))]));
    const up = states({ shard1: 'UP', shard2: 'UP' }, { shard1: 'UP', shard2: 'UP' });
    book.observe(up, new Map(), weights({ shard1: 256, shard2: 256 }, { shard1: 256, shard2: 256 }));
    book.observe(up, new Map(), weights({ shard1: 128, shard2: 256 }, { shard1: 256, shard2: 256 }));
    // Listed in another order by HAProxy 2: the same ring.
    book.observe(up, new Map(), weights({ shard1: 128, shard2: 256 }, { shard2: 256, shard1: 128 }));
    book.observe(states({ shard1: 'DRAIN', shard2: 'UP' }, { shard1: 'UP', shard2: 'UP' }), new Map(), weights({ shard1: 128, shard2: 256 }, { shard1: 128, shard2: 256 }));
    assert.equal(book.weightChanges, 1);
    assert.deepEqual([book.samples, book.disagreeingSamples], [4, 2]);
  });

  it('records each split with the shards and when it began and ended', () => {
    const { book, at } = ledger();
    const racing = book.openWindow('racing', null, 'fleet');
    at(1000);
    book.joined(1, 'race', 'shard1', 0);
    book.joined(2, 'race', 'shard2', 1);
    at(4000);
    book.ended(2, 'terminated');
    assert.equal(racing.longestSplitMs, 3000);
    const [split] = book.splits;
    assert.deepEqual(split?.shards, ['shard1', 'shard2']);
    assert.equal(split?.durationMs, 3000);
    assert.equal(Date.parse(split?.to ?? '') - Date.parse(split?.from ?? ''), 3000);
    assert.deepEqual(Object.fromEntries(book.endings), { terminated: 1 });
  });

  it('times each disconnected participant until a healthy shard serves it, and counts the others', () => {
    const { book, at } = ledger();
    book.joined(1, 'r', 'shard1', 0);
    book.joined(2, 'q', 'shard2', 0);
    at(1000);
    const fault = book.openWindow('jicofo killed', 'shard1', 'dead');
    assert.equal(fault.affected, 1);
    at(1200);
    book.ended(1, 'ended');
    at(3500);
    book.joined(1, 'r', 'shard3', 0);
    assert.deepEqual(fault.failovers, [2500]);
    assert.equal(fault.pending.size, 0);
    // A participant of a shard without a fault that drops meanwhile was disconnected by someone else's fault.
    book.ended(2, 'closed');
    assert.equal(book.disconnectedWithoutFault, 1);
    assert.equal(fault.disconnectedElsewhere, 1);
  });
});
