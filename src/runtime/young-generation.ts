import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * Under a burst of requests V8 doubles its young generation (two
 * semi-spaces) up to 2 × 16 MiB and keeps it: started as plain
 * `node dist/app.js`, that alone left 12 MiB of the growth after a flood.
 * The systemd unit passes --max-semi-space-size=2, but V8 reads that flag
 * only when it sets the heap up, so setting it from here does nothing
 * (measured). The growth factor is read at every growth, though: the daemon
 * holds the young generation at the unit's size by turning the factor down
 * to 1 once the young generation has reached it, and back up should V8
 * shrink it below.
 */

/** Two semi-spaces of 2 MiB: what --max-semi-space-size=2 gives. */
export const YOUNG_GENERATION_BYTES = 4 * 1024 * 1024;

/** V8's own factor: each growth doubles the young generation. */
const DEFAULT_GROWTH = 2;

/** The growth factor that keeps a young generation of `size` bytes from outgrowing `cap`. Pure. */
export function growthFactor(size: number, cap: number = YOUNG_GENERATION_BYTES): number {
  return size >= cap ? 1 : DEFAULT_GROWTH;
}

/** The operator (or the unit) sized the young generation on node's command line: theirs stands. */
export function sizedOnCommandLine(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((word) => /^--max[-_]semi[-_]space[-_]size\b/.test(word));
}

const youngGenerationSize = (): number =>
  v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;

/**
 * Holds the young generation at YOUNG_GENERATION_BYTES, looking after every
 * collection (a collection is when it can grow). Returns what stops it;
 * does nothing when node's command line sized it.
 */
export function holdYoungGeneration(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS): () => void {
  if (sizedOnCommandLine(execArgv, nodeOptions)) return () => undefined;
  let factor = DEFAULT_GROWTH;
  const look = (): void => {
    const wanted = growthFactor(youngGenerationSize());
    if (wanted === factor) return;
    factor = wanted;
    v8.setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
  };
  look();
  const observer = new PerformanceObserver(look);
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
