import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trackConsulOutage, type ConsulUser } from '../../src/consul/outage';

function account(users: readonly ConsulUser[] = ['status watch', 'report writes']) {
  const lines: string[] = [];
  const recovered: ConsulUser[] = [];
  let clock = 0;
  const outage = trackConsulOutage({
    users: () => users,
    log: (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`),
    now: () => clock,
    recovered: (user) => recovered.push(user),
  });
  return { outage, lines, recovered, advance: (ms: number) => (clock += ms) };
}

describe('the Consul outage account', () => {
  it('one line when Consul goes, however many requests of either user fail, and one when both are served again', () => {
    const a = account();
    for (let i = 0; i < 10; i += 1) {
      a.outage.failed('status watch', 'connect ECONNREFUSED 127.0.0.1:8500', 0);
      a.outage.failed('report writes', 'connect ECONNREFUSED 127.0.0.1:8500', 0);
    }
    a.advance(20_000);
    a.outage.answered('status watch');
    a.outage.answered('report writes');
    a.outage.answered('report writes');
    assert.deepEqual(a.lines, [
      'warn Consul unreachable; the status word in force stays and reports wait until it answers {"problem":"connect ECONNREFUSED 127.0.0.1:8500","seenBy":"status watch"}',
      'info Consul reachable again {"afterSeconds":20,"failedRequests":20}',
    ]);
    assert.deepEqual(a.recovered, ['status watch', 'report writes']);
    assert.equal(a.outage.retrying('status watch'), false);
  });

  it('says which user is retrying an outage', () => {
    const a = account();
    a.outage.failed('status watch', 'x', 0);
    a.outage.failed('report writes', 'HTTP 403: Permission denied', 403);
    assert.deepEqual([a.outage.retrying('status watch'), a.outage.retrying('report writes')], [true, false]);
  });

  it('without a leader stale reads go on: the watch\'s answers do not end the writes\' outage', () => {
    const a = account();
    a.outage.failed('report writes', 'HTTP 500: No cluster leader', 500);
    for (let i = 0; i < 5; i += 1) {
      a.outage.answered('status watch');
      a.outage.failed('report writes', 'HTTP 500: No cluster leader', 500);
    }
    assert.equal(a.lines.length, 1);
    a.outage.answered('report writes');
    assert.equal(a.lines.length, 2);
    assert.match(a.lines[1] ?? '', /Consul reachable again/);
  });

  it('a refusal is the user\'s own: one line each, one when that user is served again', () => {
    const a = account();
    for (let i = 0; i < 3; i += 1) {
      a.outage.failed('status watch', 'HTTP 403: Permission denied', 403);
      a.outage.failed('report writes', 'HTTP 403: Permission denied', 403);
    }
    a.outage.answered('status watch');
    assert.deepEqual(a.lines.map((line) => line.split(';')[0]), [
      'warn Consul refuses the status watch',
      'warn Consul refuses the report writes',
      'info Consul accepts the status watch again {}',
    ]);
    assert.deepEqual(a.recovered, [], 'a refusal is no outage');
  });

  it('says what waits: only the watch, or only the reports', () => {
    const watch = account(['status watch']);
    watch.outage.failed('status watch', 'x', 0);
    assert.match(watch.lines[0] ?? '', /the status word in force stays until it answers/);
    const reports = account(['report writes']);
    reports.outage.failed('report writes', 'x', 0);
    assert.match(reports.lines[0] ?? '', /reports wait until it answers/);
  });
});
