import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCensus } from '../../src/collect/census';
import { parseJicofoStats } from '../../src/collect/jicofo-stats';
import { statusContents } from '../../src/collect/status-file';
import { fixture } from '../../src/demo/fake-signal-node';

describe('jicofo /stats', () => {
  it('reads participants and conferences from the real payload', () => {
    assert.deepEqual(parseJicofoStats(fixture('jicofo-stats.json')), { ok: true, value: { participants: 20, conferences: 4 } });
  });

  it('reads an idle jicofo as zero, not as missing', () => {
    assert.deepEqual(parseJicofoStats(fixture('jicofo-stats-empty.json')), { ok: true, value: { participants: 0, conferences: 0 } });
  });

  it('says what is wrong with a bad payload', () => {
    assert.deepEqual(parseJicofoStats('{'), { ok: false, problem: 'stats are not valid JSON' });
    assert.deepEqual(parseJicofoStats('[]'), { ok: false, problem: 'stats are an array, not an object' });
    assert.deepEqual(parseJicofoStats('{"participants":"many","conferences":1}'), {
      ok: false,
      problem: 'stats participants is "many", not a number',
    });
    assert.deepEqual(parseJicofoStats('{"participants":1}'), { ok: false, problem: 'stats conferences is missing, not a number' });
  });
});

describe('prosody /room-census', () => {
  it('reads the newest format: string created_time, leaked, a room without created_time', () => {
    const parsed = parseCensus(fixture('room-census.json'));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.rooms, 4);
    assert.equal(parsed.value.participants, 19);
    assert.equal(parsed.value.sumSquaredParticipants, 173);
    // Already in the served shape: the body itself, not a copy.
    assert.equal(parsed.value.json, fixture('room-census.json'));
  });

  it('reads the legacy format with numeric created_time', () => {
    const parsed = parseCensus(fixture('room-census-legacy.json'));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.participants, 17);
    assert.equal(parsed.value.sumSquaredParticipants, 169);
  });

  it('reads an empty census sent as an object or as an array', () => {
    for (const name of ['room-census-empty.json', 'room-census-empty-array.json']) {
      assert.deepEqual(parseCensus(fixture(name)), { ok: true, value: { json: '{"room_census":[]}', rooms: 0, participants: 0, sumSquaredParticipants: 0 } }, name);
    }
  });

  it('counts a room reported with -1 participants as 0', () => {
    const parsed = parseCensus('{"room_census":[{"room_name":"a@c","participants":-1},{"room_name":"b@c","participants":3,"created_time":"1"}]}');
    assert.ok(parsed.ok);
    assert.equal(parsed.value.participants, 3);
    assert.equal(parsed.value.sumSquaredParticipants, 9);
    assert.equal(parsed.value.rooms, 2);
  });

  it('serves a census with other top-level fields in the plain shape, every room as received', () => {
    const parsed = parseCensus('{"room_census":[{"room_name":"a@c","participants":2,"x":[1]}],"extra":true}');
    assert.ok(parsed.ok);
    assert.equal(parsed.value.json, '{"room_census":[{"room_name":"a@c","participants":2,"x":[1]}]}');
  });

  it('rejects payloads that are not a census', () => {
    assert.equal(parseCensus('').ok, false);
    assert.equal(parseCensus('{"room_census":{"a":1}}').ok, false);
    assert.equal(parseCensus('{"rooms":[]}').ok, false);
    assert.equal(parseCensus('{"room_census":[{"room_name":"a","participants":"2"}]}').ok, false);
    assert.equal(parseCensus('null').ok, false);
  });
});

describe('status file contents', () => {
  it('trims whitespace and CRLF', () => {
    assert.equal(statusContents('  drain\r\n'), 'drain');
  });

  it('cuts garbage to a report-sized prefix', () => {
    const cut = statusContents('x'.repeat(65536));
    assert.equal(cut.length, 129);
    assert.ok(cut.endsWith('…'));
  });
});
