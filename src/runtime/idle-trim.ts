import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './logger';

/**
 * After a burst of requests V8 keeps the heap it grew and returns it only
 * when its memory reducer runs, 10 to 20 s into the quiet. Full collections
 * on the first quiet second give it back at once, at a moment when the
 * pause (about 36 ms) delays no one.
 */

/**
 * The function --expose-gc defines, also when node was started without it
 * (plain `node dist/app.js`): V8 reads that flag when it makes a context, so
 * a context made after setting it has `gc`. The flag is cleared again, and
 * the daemon's own global stays as it was.
 */
export function fullCollection(global: { gc?: NodeJS.GCFunction } = globalThis): NodeJS.GCFunction {
  if (typeof global.gc === 'function') return global.gc;
  v8.setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as NodeJS.GCFunction;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

export interface TrimSettings {
  /** Heap growth above the floor worth a collection. */
  readonly slackBytes: number;
  /** Event-loop utilization (0 to 1) below which the last second counts as quiet. */
  readonly quietUtilization: number;
  /** Quiet seconds after a trim before the collection that lets V8 shrink its young generation. */
  readonly settleSeconds: number;
}

/**
 * Quiet is under a quarter busy: polling every 0.1 s alone kept the loop 12
 * to 26 % busy on a shared 2-core machine (measured), and at 5 % the trim
 * then never ran. A flood keeps it near 100 %.
 */
export const TRIM_SETTINGS: TrimSettings = { slackBytes: 4 * 1024 * 1024, quietUtilization: 0.25, settleSeconds: 6 };

/** One look at the process, taken every second. */
export interface HeapLook {
  /** V8's committed heap (total_heap_size). */
  readonly committedBytes: number;
  /** Event-loop utilization over the second before. */
  readonly utilization: number;
}

/**
 * Collect when the last second was quiet and the heap is more than the slack
 * above its floor: the smallest size it had since start or since the last
 * collection. Taking the floor from after a collection means a heap that
 * holds more live data than before is not collected again every second.
 */
export function shouldTrim(look: HeapLook, floorBytes: number, settings: TrimSettings = TRIM_SETTINGS): boolean {
  return look.utilization < settings.quietUtilization && look.committedBytes - floorBytes > settings.slackBytes;
}

/**
 * The trim gives the old generation back, but V8 shrinks its young
 * generation (4 MiB, both halves resident after a burst) only in a
 * collection that finds allocation low over the 5 s before it, and an idle
 * daemon collects seldom. So after a busy second (or a trim), once
 * `settleSeconds` quiet seconds follow in a row, one collection more.
 * Returns the quiet seconds still to wait (null: nothing to wait for) and
 * whether to collect now. Pure.
 */
export function settleStep(remaining: number | null, quiet: boolean, settings: TrimSettings = TRIM_SETTINGS): { remaining: number | null; collect: boolean } {
  if (!quiet) return { remaining: settings.settleSeconds, collect: false };
  if (remaining === null) return { remaining, collect: false };
  return remaining <= 1 ? { remaining: null, collect: true } : { remaining: remaining - 1, collect: false };
}

const committed = (): number => v8.getHeapStatistics().total_heap_size;
const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

/** Starts the once-a-second look; `gc` runs one full collection. Returns the function that stops it. */
export function startIdleTrim(gc: () => void, logger: Logger, settings: TrimSettings = TRIM_SETTINGS): () => void {
  logger.debug('heap trim on: full collections on the first quiet second after the heap grew', { slackMiB: mib(settings.slackBytes) });
  let floor = committed();
  let settle: number | null = null;
  let before = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const look: HeapLook = { committedBytes: committed(), utilization: performance.eventLoopUtilization(now, before).utilization };
    before = now;
    floor = Math.min(floor, look.committedBytes);
    const step = settleStep(settle, look.utilization < settings.quietUtilization, settings);
    settle = step.remaining;
    if (step.collect) {
      gc();
      floor = committed();
      logger.debug('heap settled after a busy spell', { toMiB: mib(floor) });
      return;
    }
    if (!shouldTrim(look, floor, settings)) return;
    const started = performance.now();
    // Twice: the second releases the pages the first emptied (measured 5 s
    // after a flood: +13.5 MiB above start with one, +10.0 with two).
    gc();
    gc();
    floor = committed();
    settle = settings.settleSeconds;
    logger.debug('heap trimmed after a busy spell', { fromMiB: mib(look.committedBytes), toMiB: mib(floor), ms: Math.round(performance.now() - started) });
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
