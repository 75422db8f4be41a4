import type { ConsulClient, KeyRead } from '../consul/client';
import type { ConsulOutage } from '../consul/outage';
import { STATUS_READ_LIMIT, statusContents } from './status-file';

/**
 * CONSUL_STATUS: the status word from a Consul key, watched with blocking
 * queries (stale reads, so a leader election does not stop it). A write in
 * Consul answers the query held open at once, so the word reaches the agent
 * line within milliseconds, not after a pause and the next poll. Every rule
 * of the contract's *Consul KV* section is in this loop:
 *
 * - a new index is a new write (Consul gives none to a put of the value a
 *   key already holds, so neither does the watch);
 * - the same index again is a wait that ran out: nothing happened;
 * - an index lower than the last one is a Consul restarted or rebuilt: its
 *   answer is taken as it is and the watch goes on from there; after a
 *   failure the next query does not block at all, so a write to a new Consul
 *   whose index starts below the old one is not missed;
 * - 404 (absent or deleted key): the word in force stays, logged once per
 *   absence, not at each of its wake-ups (one per KV write in the cluster);
 * - no answer, 5xx, 403: the word in force stays, retries back off from 1 s
 *   to about 10 s with jitter; `outage` says so once, and once when it is
 *   back (consul/outage.ts).
 */

export interface ConsulStatusSample {
  readonly key: string;
  /** The last request was answered (200 or 404). */
  readonly reachable: boolean;
  /** The key existed at the last answer. */
  readonly keyFound: boolean;
  /** The last value read, trimmed and report-sized; kept while the key is absent or Consul away. Null before any. */
  readonly word: string | null;
  /** Consul's index of that value. */
  readonly index: number | null;
  /** When this watch read that value (ms since the epoch): the time of the write, as far as the sidecar can know it. */
  readonly appliedAt: number | null;
  /** Why the last request failed; null when it did not. */
  readonly problem: string | null;
}

export interface ConsulStatusWatchOptions {
  readonly client: ConsulClient;
  readonly key: string;
  /** How long Consul may hold one query when nothing changes. */
  readonly waitSeconds?: number;
  /** Each change of the sample, as it happens. */
  readonly record: (sample: ConsulStatusSample) => void;
  /** A new value was read at `appliedAt`: keep it where it outlives Consul (STATUS_PATH). */
  readonly persist: (word: string, appliedAt: number) => void;
  readonly log: (level: 'info' | 'warn', message: string, fields: Readonly<Record<string, unknown>>) => void;
  /** Told of every failed and every answered request. */
  readonly outage: ConsulOutage;
  /** Resolves after `ms`, or at once when the watch is closed. */
  readonly pause?: (ms: number, closed: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  /** Milliseconds since the epoch, comparable with a file's modification time. */
  readonly wallClock?: () => number;
}

export interface ConsulStatusWatch {
  close(): void;
}

/** A minute per query: a hung Consul shows within about 69 s, and an idle watch costs one request a minute. */
const WAIT_SECONDS = 60;
const FIRST_RETRY_MS = 1000;
const RETRY_CAP_MS = 10_000;

/** 1, 2, 4, 8, then 10 s, each stretched by up to a fifth at random: never faster than one try a second. */
export function retryDelay(failures: number, random: number): number {
  const base = Math.min(RETRY_CAP_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (1 + 0.2 * random));
}

const pauseFor = (ms: number, closed: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (closed.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      closed.removeEventListener('abort', done);
      resolve();
    }
    closed.addEventListener('abort', done);
  });

const sameSample = (a: ConsulStatusSample, b: ConsulStatusSample): boolean =>
  a.reachable === b.reachable && a.keyFound === b.keyFound && a.word === b.word && a.index === b.index && a.appliedAt === b.appliedAt && a.problem === b.problem;

export function watchConsulStatus(options: ConsulStatusWatchOptions): ConsulStatusWatch {
  const { client, key, log } = options;
  const waitSeconds = options.waitSeconds ?? WAIT_SECONDS;
  const pause = options.pause ?? pauseFor;
  const random = options.random ?? Math.random;
  const wallClock = options.wallClock ?? Date.now;
  const closed = new AbortController();
  let sample: ConsulStatusSample = { key, reachable: false, keyFound: false, word: null, index: null, appliedAt: null, problem: null };
  let index = 0;
  let failures = 0;
  let absenceLogged = false;

  const update = (next: ConsulStatusSample): void => {
    if (sameSample(sample, next)) return;
    sample = next;
    options.record(sample);
  };

  const failed = (read: Extract<KeyRead, { kind: 'failed' }>): number => {
    failures += 1;
    // The Consul that answers next may be another one (restarted, rebuilt)
    // whose index starts low: a query blocking on the old index would hold
    // until its wait ran out, and miss every write meanwhile. Ask afresh.
    index = 0;
    options.outage.failed('status watch', read.problem, read.status);
    update({ ...sample, reachable: false, problem: read.problem });
    return retryDelay(failures, random());
  };

  const answered = (read: Exclude<KeyRead, { kind: 'failed' }>): void => {
    failures = 0;
    options.outage.answered('status watch');
    if (read.index < index) log('info', 'Consul index went back (Consul restarted or rebuilt); watching from its new index', { key, from: index, to: read.index });
    // An index of 0 would make every query return at once (Consul's own advice: use 1).
    index = Math.max(1, read.index);
    if (read.kind === 'absent') {
      if (!absenceLogged) {
        log('warn', 'Consul status key absent; the status word in force stays', { key, word: sample.word });
        absenceLogged = true;
      }
      update({ ...sample, reachable: true, keyFound: false, problem: null });
      return;
    }
    if (absenceLogged) log('info', 'Consul status key present again', { key });
    absenceLogged = false;
    const word = statusContents(read.value);
    // A spent wait, or a read after an outage, of the value already in force.
    if (read.index === sample.index && word === sample.word) {
      update({ ...sample, reachable: true, keyFound: true, problem: null });
      return;
    }
    const appliedAt = wallClock();
    update({ key, reachable: true, keyFound: true, word, index: read.index, appliedAt, problem: null });
    options.persist(word, appliedAt);
  };

  const loop = async (): Promise<void> => {
    while (!closed.signal.aborted) {
      const read = await client.readKey(key, { index, waitSeconds, limitBytes: STATUS_READ_LIMIT });
      if (closed.signal.aborted) return;
      if (read.kind === 'failed') await pause(failed(read), closed.signal);
      else answered(read);
    }
  };
  void loop();

  return {
    close() {
      closed.abort();
      client.close();
    },
  };
}
