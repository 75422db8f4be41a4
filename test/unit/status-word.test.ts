import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsulStatusSample } from '../../src/collect/consul-status';
import type { StatusFileSample } from '../../src/collect/status-file';
import { decideAfterPoll } from '../../src/decide/decide';
import { FRESH_MEMORY } from '../../src/decide/flap';
import { statusSourceOf, statusWordInForce } from '../../src/decide/status-word';
import { samples, SETTINGS } from '../helpers/samples';

const file = (contents: string, modifiedAt: number): StatusFileSample => ({ found: true, contents, error: null, modifiedAt });
const MISSING: StatusFileSample = { found: false, contents: '', error: 'status file missing', modifiedAt: null };
const consul = (word: string | null, appliedAt: number | null, extra: Partial<ConsulStatusSample> = {}): ConsulStatusSample => ({
  key: 'shard-states/prod/shard1',
  reachable: true,
  keyFound: word !== null,
  word,
  index: word === null ? null : 17,
  appliedAt,
  problem: null,
  ...extra,
});

describe('the status word in force: the latest write wins', () => {
  it('is the file\'s without a watch, or before the watch has read a value', () => {
    assert.equal(statusSourceOf(file('ready', 100), null), 'file');
    assert.equal(statusSourceOf(file('ready', 100), consul(null, null)), 'file');
    assert.equal(statusSourceOf(file('ready', 100), consul(null, null, { reachable: false, problem: 'ECONNREFUSED' })), 'file');
  });

  it('is Consul\'s once read, over an older file that says otherwise (at start, Consul decides)', () => {
    const word = statusWordInForce(file('ready', 100), consul('drain', 200));
    assert.equal(word.source, 'consul');
    assert.equal(word.sample?.contents, 'drain');
    assert.equal(word.origin, 'Consul key shard-states/prod/shard1');
  });

  it('is the file\'s when it was written after the Consul value and says something else', () => {
    const word = statusWordInForce(file('maint', 300), consul('drain', 200));
    assert.equal(word.source, 'file');
    assert.equal(word.sample?.contents, 'maint');
  });

  it('stays Consul\'s when the file only repeats it (the watch\'s own copy), or is older', () => {
    assert.equal(statusSourceOf(file('drain', 300), consul('drain', 200)), 'consul');
    assert.equal(statusSourceOf(file('drain', 200), consul('drain', 200)), 'consul', 'the copy is dated as of the Consul read');
    assert.equal(statusSourceOf(file('ready', 150), consul('drain', 200)), 'consul', 'a late copy of an older value is not newer');
  });

  it('is Consul\'s again after a new write there, even of a word equal to the file\'s', () => {
    assert.equal(statusSourceOf(file('maint', 300), consul('maint', 400)), 'consul');
  });

  it('keeps the last Consul value while the key is deleted or Consul is away', () => {
    assert.equal(statusWordInForce(file('ready', 100), consul('drain', 200, { keyFound: false })).sample?.contents, 'drain');
    assert.equal(statusWordInForce(file('ready', 100), consul('drain', 200, { reachable: false, problem: 'HTTP 500' })).sample?.contents, 'drain');
  });

  it('is Consul\'s when the file is missing or unreadable', () => {
    assert.equal(statusWordInForce(MISSING, consul('ready', 200)).sample?.found, true);
  });
});

describe('decisions on a Consul word', () => {
  const decide = (statusFile: StatusFileSample, consulStatus: ConsulStatusSample | null) =>
    decideAfterPoll({ ...samples(), statusFile, consulStatus }, FRESH_MEMORY, 0, { ...SETTINGS, consulStatus: true }).report;

  it('goes through the status file\'s rules and names the key in the reasons', () => {
    const report = decide(file('ready', 100), consul('drain', 200));
    assert.equal(report.agentmessage, 'up drain 0%');
    assert.deepEqual(report.reasons, ['Consul key shard-states/prod/shard1 says drain']);
    assert.equal(report.statuses.statusSource, 'consul');
    assert.equal(report.statuses.statusFileContents, 'drain');
  });

  it('unhealthy forces the node down; anything else is unknown, sent to HAProxy as drain', () => {
    assert.equal(decide(file('ready', 100), consul('unhealthy', 200)).agentmessage, 'down drain 0%');
    const junk = decide(file('ready', 100), consul('<html>Gateway</html>', 200));
    assert.equal(junk.status, 'unknown');
    assert.equal(junk.agentmessage.split(' ').slice(0, 2).join(' '), 'up drain', 'as for the same word in the file');
  });

  it('a missing status file is no failure while Consul gives the word', () => {
    assert.equal(decide(MISSING, consul('ready', 200)).healthy, true);
    assert.equal(decide(MISSING, null).healthy, false);
  });

  it('the report\'s consul block says what the watch saw', () => {
    const report = decide(file('ready', 100), consul('drain', 200, { reachable: false, problem: 'connect ECONNREFUSED' }));
    assert.deepEqual(report.consul, {
      reachable: false,
      status: { key: 'shard-state', keyFound: true, value: 'drain', index: 17, problem: 'connect ECONNREFUSED' },
    });
  });
});
