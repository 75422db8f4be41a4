import { sleep } from '../../test/helpers/daemon';
import type { ConsulAgent } from '../../test/helpers/consul';
import { randomPhases, writeStatus } from '../scenarios';
import { POLL_MS, STATUS_KEY, agentLine, agentUntil, says, wordOf, type UnderTest } from './sidecars';

/**
 * Status words written the operator's two ways, timed until each sidecar's
 * agent line carries them: a KV write in Consul (what Jitsi's scripts do)
 * and an atomic replacement of the status file.
 */

export const WORDS = ['drain', 'ready', 'maint'] as const;

/** One write, and when each sidecar's agent showed its word (performance.now(); Infinity: not within the limit). */
export interface TimedWrite {
  readonly word: string;
  /** Just before the write was sent. */
  readonly sentAt: number;
  /** When the write was answered (Consul's HTTP answer; the rename's return for a file). */
  readonly answeredAt: number;
  readonly seenAt: readonly number[];
  /** KV writes: when Consul's answer to each sidecar's watch passed its relay. */
  readonly watchAnsweredAt?: readonly number[];
}

/** Milliseconds from the answer (or from just before the write) to each sidecar's agent line. */
export const fromAnswer = (writes: readonly TimedWrite[], index: number): number[] => writes.map((write) => (write.seenAt[index] ?? Infinity) - write.answeredAt);
export const fromSent = (writes: readonly TimedWrite[], index: number): number[] => writes.map((write) => (write.seenAt[index] ?? Infinity) - write.sentAt);

export async function putStatus(consul: ConsulAgent, word: string): Promise<void> {
  const answer = await consul.request('PUT', `/v1/kv/${STATUS_KEY}`, word);
  if (answer.status !== 200) throw new Error(`PUT ${STATUS_KEY}: HTTP ${answer.status} ${answer.body}`);
}

/**
 * Watches every agent from just before `write` until each shows `word`: the
 * watchers run while the write is under way, so a word that arrives before
 * the write's own answer is seen.
 */
async function timed(sidecars: readonly UnderTest[], word: string, limitMs: number, write: () => Promise<void> | void): Promise<TimedWrite> {
  const sentAt = performance.now();
  const seen = Promise.all(sidecars.map((sidecar) => agentUntil(sidecar, says(word), sentAt, limitMs)));
  await write();
  const answeredAt = performance.now();
  return { word, sentAt, answeredAt, seenAt: await seen };
}

/**
 * `n` writes of drain, ready and maint in turn, each at a random moment of
 * the poll interval (stratified, as in the failures phase) after the last
 * one was seen everywhere.
 */
async function inTurn(n: number, sidecars: readonly UnderTest[], write: (word: string) => Promise<void> | void, log: (line: string) => void, what: string): Promise<TimedWrite[]> {
  const writes: TimedWrite[] = [];
  const limitMs = 2 * POLL_MS + 2000;
  for (const [i, offset] of randomPhases(n, POLL_MS).entries()) {
    await sleep(offset);
    const word = WORDS[i % WORDS.length] ?? 'drain';
    const result = await timed(sidecars, word, limitMs, () => write(word));
    writes.push(result);
    const shown = result.seenAt.map((at, index) => `${sidecars[index]?.side ?? '?'} ${(at - result.answeredAt).toFixed(1)} ms`);
    log(`  ${what} ${i + 1} (${word}): ${shown.join(', ')}`);
  }
  return writes;
}

/** A read of the status key: the watch's blocking query (the key's slashes may be escaped). */
const readsStatusKey = (requestLine: string): boolean => requestLine.startsWith('GET ') && decodeURIComponent(requestLine).includes(`/v1/kv/${STATUS_KEY}`);

export async function kvWrites(consul: ConsulAgent, sidecars: readonly UnderTest[], n: number, log: (line: string) => void): Promise<TimedWrite[]> {
  const writes = await inTurn(n, sidecars, (word) => putStatus(consul, word), log, 'KV write');
  return writes.map((write) => ({ ...write, watchAnsweredAt: sidecars.map((sidecar) => sidecar.proxy.firstReply(write.sentAt, readsStatusKey)) }));
}

/** Milliseconds from the write's answer to Consul's answer to the watch, and from there to the agent line. */
export const consulPart = (writes: readonly TimedWrite[], index: number): number[] => writes.map((write) => (write.watchAnsweredAt?.[index] ?? Infinity) - write.answeredAt);
export const sidecarPart = (writes: readonly TimedWrite[], index: number): number[] => writes.map((write) => (write.seenAt[index] ?? Infinity) - (write.watchAnsweredAt?.[index] ?? Infinity));

export function fileWrites(sidecars: readonly UnderTest[], n: number, log: (line: string) => void): Promise<TimedWrite[]> {
  return inTurn(n, sidecars, (word) => sidecars.forEach((sidecar) => writeStatus(sidecar.daemon, word)), log, 'status file');
}

/**
 * A word that no agent shows now, so its arrival cannot be mistaken for an
 * old one; with a choice, not the word written last, so a stuck watch sees
 * the word change in Consul rather than the same word written again.
 */
async function freshWord(sidecars: readonly UnderTest[], last: string | undefined): Promise<string> {
  const shown = new Set((await Promise.all(sidecars.map(agentLine))).map(wordOf));
  const fresh = WORDS.filter((word) => !shown.has(word));
  return fresh.find((word) => word !== last) ?? fresh[0] ?? 'drain';
}

/** `n` KV writes, one after another, each given `limitMs` to reach every agent. */
export async function writesWithin(consul: () => ConsulAgent, sidecars: readonly UnderTest[], n: number, limitMs: number, log: (line: string) => void): Promise<TimedWrite[]> {
  const writes: TimedWrite[] = [];
  for (let i = 0; i < n; i += 1) {
    const word = await freshWord(sidecars, writes.at(-1)?.word);
    const result = await timed(sidecars, word, limitMs, () => putStatus(consul(), word));
    writes.push(result);
    const shown = result.seenAt.map((at, index) => `${sidecars[index]?.side ?? '?'} ${Number.isFinite(at) ? `${(at - result.answeredAt).toFixed(0)} ms` : `not within ${limitMs / 1000} s`}`);
    log(`  write ${i + 1} to the new Consul (${word}): ${shown.join(', ')}`);
  }
  return writes;
}
