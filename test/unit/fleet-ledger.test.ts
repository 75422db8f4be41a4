import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ledger, type ServerState } from '../../bench/fleet/ledger';

/** The fleet bench's bookkeeping (bench/fleet/ledger.ts), on a clock the test moves. */

function ledger(): { book: Ledger; at: (ms: number) => void } {
  let now = 0;
  return { book: new Ledger(() => now), at: (ms) => (now = ms) };
}

const states = (entries: Record<string, ServerState>): Map<string, ServerState> => new Map(Object.entries(entries));

describe('fleet ledger', () => {
  it('a conference joined on two serving shards at once is split; on a dead shard it is not', () => {
    const { book, at } = ledger();
    book.joined(1, 'standup', 'shard1');
    book.joined(2, 'standup', 'shard1');
    assert.equal(book.splitRooms.size, 0);
    const dead = book.openWindow('prosody hung', 'shard1', 'dead');
    at(1000);
    // Frozen sessions on shard1 do not serve: a participant elsewhere is a failover, not a split.
    book.joined(3, 'standup', 'shard2');
    assert.equal(book.splitRooms.size, 0);
    assert.deepEqual([...book.failedOver, ...book.movedWithoutFault], ['standup']);
    // The frozen shard answering again brings its sessions back beside the moved one.
    book.healed(dead);
    assert.deepEqual([...book.splitRooms], ['standup']);
    assert.deepEqual([...dead.splitRooms], ['standup']);
  });

  it('classifies a move of a running conference by the fault of the shard it left', () => {
    const { book } = ledger();
    for (const [participant, room] of [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd']] as const) book.joined(participant, room, 'shard1');
    book.joined(5, 'a', 'shard2');
    assert.deepEqual([...book.movedWithoutFault], ['a']);
    const restart = book.openWindow('sidecar restarted', 'shard1', 'sidecar');
    book.joined(6, 'b', 'shard2');
    book.close(restart);
    const drain = book.openWindow('drain', 'shard1', 'drain');
    book.joined(7, 'c', 'shard3');
    book.close(drain);
    assert.deepEqual([...book.restartMoved], ['b']);
    assert.deepEqual([...book.drainMoved], ['c']);
    assert.deepEqual([...drain.movedRooms], ['c']);
  });

  it('a join into an empty room starts a new conference wherever it lands', () => {
    const { book } = ledger();
    book.joined(1, 'solo', 'shard1');
    book.ended(1, 'left');
    book.joined(1, 'solo', 'shard2');
    assert.equal(book.newRooms, 2);
    assert.equal(book.movedWithoutFault.size, 0);
    assert.deepEqual([...book.replacedAfterEmpty], ['solo']);
  });

  it('counts a new conference on a shard HAProxy showed unavailable on both sides of its placement', () => {
    const { book, at } = ledger();
    book.observe(states({ shard1: 'DRAIN', shard2: 'UP' }));
    at(50);
    book.joined(1, 'daily', 'shard1');
    book.joined(2, 'other', 'shard2');
    at(100);
    book.observe(states({ shard1: 'DRAIN', shard2: 'UP' }));
    // Placed while the sample before said UP and the one after DRAIN: too close to call.
    at(150);
    book.observe(states({ shard1: 'UP', shard2: 'UP' }));
    at(160);
    book.joined(3, 'edge', 'shard1');
    at(200);
    book.observe(states({ shard1: 'DRAIN', shard2: 'UP' }));
    assert.deepEqual(book.newRoomsOnUnavailable, [{ room: 'daily', shard: 'shard1', state: 'DRAIN' }]);
  });

  it('times each disconnected participant until a healthy shard serves it, and counts the others', () => {
    const { book, at } = ledger();
    book.joined(1, 'r', 'shard1');
    book.joined(2, 'q', 'shard2');
    at(1000);
    const fault = book.openWindow('jicofo killed', 'shard1', 'dead');
    assert.equal(fault.affected, 1);
    at(1200);
    book.ended(1, 'ended');
    at(3500);
    book.joined(1, 'r', 'shard3');
    assert.deepEqual(fault.failovers, [2500]);
    assert.equal(fault.pending.size, 0);
    // A participant of a shard without a fault that drops meanwhile was disconnected by someone else's fault.
    book.ended(2, 'closed');
    assert.equal(book.disconnectedWithoutFault, 1);
    assert.equal(fault.disconnectedElsewhere, 1);
  });
});
