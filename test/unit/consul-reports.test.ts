import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CensusRoom } from '../../src/collect/census';
import type { ConsulClient, KeyWrite } from '../../src/consul/client';
import { decideAfterPoll } from '../../src/decide/decide';
import { FRESH_MEMORY } from '../../src/decide/flap';
import type { Report } from '../../src/decide/report';
import { trackConsulOutage } from '../../src/consul/outage';
import { CONSUL_VALUE_LIMIT, publishConsulReports, reportValue, type ConsulReportsSample, type Timer } from '../../src/react/consul-reports';
import { samples, SETTINGS } from '../helpers/samples';

const REPORT: Report = decideAfterPoll(samples(), FRESH_MEMORY, Date.parse('2026-01-01T00:00:00Z'), SETTINGS).report;

const room = (index: number, participants: number, nameLength = 200): CensusRoom => ({
  room_name: `${`room${index}-`.padEnd(nameLength - 30, 'x')}@conference.meet.example.com`,
  participants,
  created_time: 1700000000 + index,
  leaked: false,
});

/** 6,000 rooms with 200-byte names: the census of the largest real signal node, 1.7 MB. */
const LARGEST = Array.from({ length: 6000 }, (_, i) => room(i, (i % 7) + 1));

describe('the report value written to Consul', () => {
  it('is the report plus census: [] without CENSUS_REPORTS', () => {
    const value = JSON.parse(reportValue(REPORT, null, CONSUL_VALUE_LIMIT).body) as Record<string, unknown>;
    assert.deepEqual(value.census, []);
    assert.equal(value.healthy, true);
    assert.equal(value.agentmessage, 'up ready 100%');
    assert.equal('censusTruncated' in value, false);
    assert.equal(value.lastUnhealthy, null, 'never unhealthy');
  });

  it('says when the node was last unhealthy, whatever the size of its census', () => {
    const at = '2026-12-03T20:00:00.000Z';
    assert.equal((JSON.parse(reportValue(REPORT, null, CONSUL_VALUE_LIMIT, at).body) as Record<string, unknown>).lastUnhealthy, at);
    assert.equal((JSON.parse(reportValue(REPORT, LARGEST, 64 * 1024, at).body) as Record<string, unknown>).lastUnhealthy, at);
  });

  it('carries a census that fits whole, with its count', () => {
    const census = [room(1, 3, 40), room(2, -1, 40)];
    const written = reportValue(REPORT, census, CONSUL_VALUE_LIMIT);
    const value = JSON.parse(written.body) as { census: CensusRoom[]; censusTruncated: boolean; censusRooms: number };
    assert.deepEqual(value.census, census);
    assert.equal(value.censusTruncated, false);
    assert.equal(value.censusRooms, 2);
    assert.equal(written.bytes, Buffer.byteLength(written.body));
  });

  it('cuts the largest shard\'s census to fit 512 KiB, keeping the largest rooms, and says so', () => {
    const whole = Buffer.byteLength(JSON.stringify(LARGEST));
    assert.ok(whole > 1_500_000, `the census is ${whole} bytes`);
    const written = reportValue(REPORT, LARGEST, CONSUL_VALUE_LIMIT);
    assert.ok(written.bytes <= CONSUL_VALUE_LIMIT, `${written.bytes} bytes`);
    assert.ok(written.bytes > CONSUL_VALUE_LIMIT - 300, 'nearly full: no room wasted');
    const value = JSON.parse(written.body) as { census: CensusRoom[]; censusTruncated: boolean; censusRooms: number; healthy: boolean };
    assert.equal(value.censusTruncated, true);
    assert.equal(value.censusRooms, 6000);
    assert.equal(value.healthy, true);
    const smallestKept = Math.min(...value.census.map((kept) => kept.participants));
    const largestLeft = Math.max(...LARGEST.filter((candidate) => !value.census.some((kept) => kept.room_name === candidate.room_name)).map((left) => left.participants));
    assert.ok(smallestKept >= largestLeft, 'no room left out is larger than one kept');
  });

  it('fits a smaller limit exactly as well', () => {
    const written = reportValue(REPORT, LARGEST, 64 * 1024);
    assert.ok(written.bytes <= 64 * 1024);
    assert.equal(written.censusTruncated, true);
  });
});

/** A clock and timers the test moves by hand. */
class FakeTime {
  now = 0;
  private timers: { at: number; run: () => void; id: number }[] = [];
  private next = 0;

  timer = (run: () => void, ms: number): Timer => {
    const id = (this.next += 1);
    this.timers.push({ at: this.now + ms, run, id });
    return { cancel: () => (this.timers = this.timers.filter((candidate) => candidate.id !== id)) };
  };

  /** Runs every timer due within `ms`, in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const due = this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.now = Math.max(this.now, due.at);
      due.run();
    }
    this.now = until;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

class RecordingConsul implements ConsulClient {
  readonly writes: { at: number; bytes: number }[] = [];
  /** Answers in order; when empty, writes succeed. A `hold` answer waits for release(). */
  answers: (KeyWrite | 'hold')[] = [];
  private held: (() => void) | undefined;
  inFlight = 0;
  maxInFlight = 0;
  closed = false;

  constructor(private readonly time: FakeTime) {}

  readKey(): never {
    throw new Error('reports are only written');
  }

  readTree(): never {
    throw new Error('reports are only written');
  }

  async writeKey(_key: string, value: string): Promise<KeyWrite> {
    this.writes.push({ at: this.time.now, bytes: Buffer.byteLength(value) });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const answer = this.answers.shift() ?? { kind: 'written' };
    if (answer === 'hold') await new Promise<void>((resolve) => (this.held = resolve));
    this.inFlight -= 1;
    return answer === 'hold' ? { kind: 'written' } : answer;
  }

  release(): void {
    this.held?.();
  }

  close(): void {
    this.closed = true;
  }
}

function harness(census: readonly CensusRoom[] | null = null, intervalMs = 60_000) {
  const time = new FakeTime();
  const consul = new RecordingConsul(time);
  const recorded: ConsulReportsSample[] = [];
  const logged: string[] = [];
  const counted: string[] = [];
  const publisher = publishConsulReports({
    client: consul,
    key: 'signal-report/prod/shard1',
    intervalMs,
    report: () => ({ report: REPORT, census, lastUnhealthy: null }),
    record: (sample) => recorded.push(sample),
    counted: (outcome) => counted.push(outcome),
    outage: trackConsulOutage({ users: () => ['report writes'], log: (level, message) => logged.push(`${level} ${message}`), now: () => time.now }),
    now: () => time.now,
    timer: time.timer,
  });
  return { time, consul, recorded, logged, counted, publisher };
}

describe('publishing reports to Consul', () => {
  it('writes at once, then every interval', async () => {
    const h = harness();
    await h.time.advance(180_000);
    assert.deepEqual(h.consul.writes.map((write) => write.at), [0, 60_000, 120_000, 180_000]);
    assert.ok(h.recorded.every((sample) => sample.ok));
    h.publisher.close();
    assert.equal(h.consul.closed, true);
  });

  it('a change of health, status or weight is written within a second, and writes stay a second apart', async () => {
    const h = harness();
    await h.time.advance(10_000);
    h.publisher.changed();
    await h.time.advance(0);
    assert.deepEqual(h.consul.writes.map((write) => write.at), [0, 10_000], 'at once when the last write is old');
    h.publisher.changed();
    h.publisher.changed();
    h.publisher.changed();
    await h.time.advance(5_000);
    assert.deepEqual(h.consul.writes.map((write) => write.at), [0, 10_000, 11_000], 'a burst of changes is one more write, a second later');
    await h.time.advance(60_000);
    assert.deepEqual(h.consul.writes.map((write) => write.at), [0, 10_000, 11_000, 71_000], 'then the interval again');
    h.publisher.close();
  });

  it('never has two writes in flight, however many changes come while one hangs', async () => {
    const h = harness();
    h.consul.answers = ['hold'];
    await h.time.advance(0);
    for (let i = 0; i < 50; i += 1) {
      h.publisher.changed();
      await h.time.advance(200);
    }
    assert.equal(h.consul.writes.length, 1);
    h.consul.release();
    await h.time.advance(2_000);
    assert.equal(h.consul.maxInFlight, 1);
    assert.equal(h.consul.writes.length, 2, 'the changes meanwhile make one write after it');
    h.publisher.close();
  });

  it('a failed write is logged once per outage, counted, and the next follows at the interval', async () => {
    const h = harness();
    const down: KeyWrite = { kind: 'failed', problem: 'connect ECONNREFUSED 127.0.0.1:8500', status: 0 };
    h.consul.answers = [down, down, down];
    await h.time.advance(180_000);
    assert.deepEqual(h.consul.writes.map((write) => write.at), [0, 60_000, 120_000, 180_000]);
    assert.deepEqual(h.counted, ['failed', 'failed', 'failed', 'written']);
    assert.deepEqual(h.logged.map((line) => line.split(';')[0]), ['warn Consul unreachable', 'info Consul reachable again']);
    assert.equal(h.recorded[0]?.problem, 'connect ECONNREFUSED 127.0.0.1:8500');
    h.publisher.close();
  });

  it('while the status watch retries an outage, writes wait for its recovery instead of adding connection attempts', async () => {
    const time = new FakeTime();
    const consul = new RecordingConsul(time);
    const outage = trackConsulOutage({ users: () => ['status watch', 'report writes'], log: () => undefined, now: () => time.now, recovered: () => publisher.changed() });
    const publisher = publishConsulReports({
      client: consul,
      key: 'k',
      intervalMs: 10_000,
      report: () => ({ report: REPORT, census: null, lastUnhealthy: null }),
      record: () => undefined,
      counted: () => undefined,
      outage,
      now: () => time.now,
      timer: time.timer,
    });
    await time.advance(0);
    outage.failed('status watch', 'connect ECONNREFUSED', 0);
    for (let i = 0; i < 5; i += 1) publisher.changed();
    await time.advance(60_000);
    assert.equal(consul.writes.length, 1, 'nothing while the watch retries');
    outage.answered('status watch');
    await time.advance(1_000);
    assert.deepEqual(consul.writes.map((write) => write.at), [0, 60_000], 'at once when Consul answers the watch again');
    publisher.close();
  });

  it('a 413 naming a smaller limit is fitted at once', async () => {
    const h = harness(LARGEST);
    h.consul.answers = [{ kind: 'too-large', problem: 'HTTP 413: Request body too large, max size: 262144 bytes', maxBytes: 262_144 }];
    await h.time.advance(0);
    assert.equal(h.consul.writes.length, 2);
    assert.ok((h.consul.writes[0]?.bytes ?? 0) > 262_144);
    assert.ok((h.consul.writes[1]?.bytes ?? Infinity) <= 262_144);
    assert.equal(h.recorded[0]?.ok, true);
    assert.equal(h.recorded[0]?.censusTruncated, true);
    await h.time.advance(60_000);
    assert.ok((h.consul.writes[2]?.bytes ?? Infinity) <= 262_144, 'and remembered');
    h.publisher.close();
  });

  it('writes nothing before the first decision, and begins once there is one', async () => {
    const time = new FakeTime();
    const consul = new RecordingConsul(time);
    let ready = false;
    const publisher = publishConsulReports({
      client: consul,
      key: 'k',
      intervalMs: 60_000,
      report: () => (ready ? { report: REPORT, census: null, lastUnhealthy: null } : null),
      record: () => undefined,
      counted: () => undefined,
      outage: { failed: () => undefined, answered: () => undefined, retrying: () => false },
      now: () => time.now,
      timer: time.timer,
    });
    await time.advance(3_000);
    assert.equal(consul.writes.length, 0);
    ready = true;
    await time.advance(1_000);
    assert.equal(consul.writes.length, 1);
    publisher.close();
  });
});
