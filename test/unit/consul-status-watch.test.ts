import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryDelay, watchConsulStatus, type ConsulStatusSample } from '../../src/collect/consul-status';
import type { ConsulClient, KeyRead, KeyReadOptions } from '../../src/consul/client';
import type { ConsulOutage } from '../../src/consul/outage';

/**
 * The watch against a scripted Consul: each readKey call takes the next
 * answer; the pauses it asks for are recorded, not waited for.
 */
class ScriptedConsul implements ConsulClient {
  readonly asked: KeyReadOptions[] = [];
  private waiting: ((read: KeyRead) => void) | undefined;
  private readonly queue: KeyRead[] = [];
  closed = false;

  answer(...reads: KeyRead[]): void {
    this.queue.push(...reads);
    this.flush();
  }

  readKey(_key: string, options: KeyReadOptions): Promise<KeyRead> {
    this.asked.push(options);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.flush();
    });
  }

  private flush(): void {
    const next = this.queue[0];
    if (this.waiting === undefined || next === undefined) return;
    this.queue.shift();
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve(next);
  }

  writeKey(): never {
    throw new Error('the watch never writes');
  }

  readTree(): never {
    throw new Error('the watch never lists');
  }

  close(): void {
    this.closed = true;
  }
}

const value = (text: string, index: number): KeyRead => ({ kind: 'value', value: text, index });
const absent = (index: number): KeyRead => ({ kind: 'absent', index });
const failed = (problem: string, status = 0): KeyRead => ({ kind: 'failed', problem, status });

/** Lets the watch's loop take every answer queued so far. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function harness() {
  const consul = new ScriptedConsul();
  const samples: ConsulStatusSample[] = [];
  const persisted: [string, number][] = [];
  const logged: [string, string][] = [];
  const pauses: number[] = [];
  const told: string[] = [];
  const outage: ConsulOutage = {
    failed: (user, problem, status) => told.push(`${user} failed ${status} ${problem}`),
    answered: (user) => told.push(`${user} answered`),
    retrying: () => false,
  };
  let clock = 1_000_000;
  const watch = watchConsulStatus({
    client: consul,
    key: 'shard-states/prod/shard1',
    waitSeconds: 60,
    record: (sample) => samples.push(sample),
    persist: (word, at) => persisted.push([word, at]),
    log: (level, message) => logged.push([level, message]),
    outage,
    pause: (ms) => {
      pauses.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    wallClock: () => (clock += 10),
  });
  return { consul, samples, persisted, logged, pauses, told, watch, last: () => samples[samples.length - 1] };
}

describe('Consul status watch', () => {
  it('applies a value at once and blocks on its index for the next one', async () => {
    const h = harness();
    h.consul.answer(value('drain\n', 42));
    await settle();
    assert.equal(h.last()?.word, 'drain');
    assert.equal(h.last()?.index, 42);
    assert.deepEqual(h.persisted.map(([word]) => word), ['drain']);
    assert.deepEqual(h.consul.asked.map((options) => options.index), [0, 42]);
    assert.equal(h.consul.asked[1]?.waitSeconds, 60);
    h.watch.close();
    assert.equal(h.consul.closed, true);
  });

  it('a wait that runs out with the same index changes nothing', async () => {
    const h = harness();
    h.consul.answer(value('ready', 7), value('ready', 7), value('ready', 7));
    await settle();
    assert.equal(h.samples.length, 1);
    assert.equal(h.persisted.length, 1);
    h.watch.close();
  });

  it('a new index is a new write, even of the same word, and is dated anew', async () => {
    const h = harness();
    h.consul.answer(value('drain', 7), value('drain', 9));
    await settle();
    assert.deepEqual(h.samples.map((sample) => sample.index), [7, 9]);
    assert.ok((h.samples[1]?.appliedAt ?? 0) > (h.samples[0]?.appliedAt ?? 0));
    assert.deepEqual(h.persisted.map(([word, at]) => [word, at]), h.samples.map((sample) => [sample.word, sample.appliedAt]));
    h.watch.close();
  });

  it('an absent key keeps the word in force, logs once however often it wakes, and says when it is back', async () => {
    const h = harness();
    h.consul.answer(value('maint', 5), absent(6), absent(8), absent(11), absent(12));
    await settle();
    assert.equal(h.last()?.word, 'maint', 'the last value stays');
    assert.equal(h.last()?.keyFound, false);
    assert.equal(h.logged.filter(([, message]) => message.includes('absent')).length, 1);
    assert.deepEqual(h.persisted.map(([word]) => word), ['maint'], 'nothing is written for an absent key');
    h.consul.answer(value('ready', 13));
    await settle();
    assert.equal(h.last()?.word, 'ready');
    assert.equal(h.logged.filter(([, message]) => message.includes('present again')).length, 1);
    h.watch.close();
  });

  it('a key absent from the start gives no word at all', async () => {
    const h = harness();
    h.consul.answer(absent(3));
    await settle();
    assert.equal(h.last()?.word, null);
    assert.equal(h.last()?.reachable, true);
    assert.equal(h.persisted.length, 0);
    h.watch.close();
  });

  it('an index that goes back (Consul rebuilt) is taken as a new value, and the watch goes on from the new index', async () => {
    const h = harness();
    h.consul.answer(value('ready', 900), value('drain', 12));
    await settle();
    assert.equal(h.last()?.word, 'drain');
    assert.equal(h.last()?.index, 12);
    assert.equal(h.consul.asked[2]?.index, 12, 'the next query blocks on the new index, not the old one');
    assert.equal(h.logged.filter(([, message]) => message.includes('went back')).length, 1);
    h.watch.close();
  });

  it('an index that goes back to the same word is still a new write', async () => {
    const h = harness();
    h.consul.answer(value('drain', 900), value('drain', 4));
    await settle();
    assert.deepEqual(h.samples.map((sample) => sample.index), [900, 4]);
    h.watch.close();
  });

  it('never blocks on index 0, which would return at once forever', async () => {
    const h = harness();
    h.consul.answer(absent(0), absent(0));
    await settle();
    assert.deepEqual(h.consul.asked.slice(1, 3).map((options) => options.index), [1, 1]);
    h.watch.close();
  });

  it('failures keep the word, back off from 1 s to about 10 s, and tell the outage account of each request', async () => {
    const h = harness();
    h.consul.answer(value('drain', 5));
    for (let i = 0; i < 8; i += 1) h.consul.answer(failed('connect ECONNREFUSED 127.0.0.1:8500'));
    await settle();
    assert.equal(h.last()?.word, 'drain');
    assert.equal(h.last()?.reachable, false);
    assert.equal(h.last()?.problem, 'connect ECONNREFUSED 127.0.0.1:8500');
    assert.deepEqual(h.pauses, [1100, 2200, 4400, 8800, 11000, 11000, 11000, 11000]);
    assert.ok(h.pauses.every((ms) => ms >= 1000), 'never more than one attempt a second');
    h.consul.answer(failed('HTTP 500: No cluster leader', 500), failed('HTTP 403: Permission denied', 403), value('drain', 5));
    await settle();
    assert.deepEqual(h.told.slice(-4), [
      'status watch failed 0 connect ECONNREFUSED 127.0.0.1:8500',
      'status watch failed 500 HTTP 500: No cluster leader',
      'status watch failed 403 HTTP 403: Permission denied',
      'status watch answered',
    ]);
    assert.deepEqual(h.logged, [], 'the account logs, not the watch');
    assert.equal(h.last()?.reachable, true);
    assert.equal(h.persisted.length, 1, 'the same index after the outage is not a new write');
    h.watch.close();
  });

  it('after a failure, asks without blocking: a restarted Consul\'s index starts below the one held', async () => {
    const h = harness();
    h.consul.answer(value('drain', 900), failed('socket hang up'), value('ready', 14));
    await settle();
    assert.deepEqual(h.consul.asked.map((options) => options.index), [0, 900, 0, 14]);
    assert.equal(h.last()?.word, 'ready');
    h.watch.close();
  });

  it('the same value at the same index after an outage is not a new write (an operator\'s later file stays in force)', async () => {
    const h = harness();
    h.consul.answer(value('drain', 900), failed('socket hang up'), value('drain', 900));
    await settle();
    assert.deepEqual(h.samples.map((sample) => [sample.reachable, sample.appliedAt]), [
      [true, 1_000_010],
      [false, 1_000_010],
      [true, 1_000_010],
    ]);
    assert.equal(h.persisted.length, 1);
    h.watch.close();
  });

  it('a hostile value is cut to a report-sized word, which the status rules then call unknown', async () => {
    const h = harness();
    h.consul.answer(value(`  ${'x'.repeat(5000)}\u0000\n`, 3));
    await settle();
    assert.ok((h.last()?.word?.length ?? 0) <= 129);
    assert.equal(h.consul.asked[0]?.limitBytes, 4096, 'never more than the status file would be read');
    h.watch.close();
  });
});

describe('retry delay', () => {
  it('doubles from 1 s, caps at 10 s, and stretches by up to a fifth', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 50].map((n) => retryDelay(n, 0)), [1000, 2000, 4000, 8000, 10000, 10000]);
    assert.equal(retryDelay(1, 0.999), 1200);
    assert.equal(retryDelay(9, 1), 12000);
  });
});
