import type { Samples, SourceName } from '../decide/samples';
import type { Source } from './sources';

export interface PollerDeps {
  readonly now: () => number;
  /** Receives every completed round; a round covers the sources started together. */
  readonly record: (update: Partial<Samples>) => void;
  readonly probed: (source: SourceName, success: boolean, seconds: number) => void;
  readonly failed: (source: SourceName, error: unknown) => void;
}

/**
 * Polls every source at a fixed rate: tick k starts at start + k × interval,
 * whatever the previous round took. A source still busy from an earlier tick
 * is not started again, so a hung upstream never has two probes in flight.
 */
export class Poller {
  private readonly inFlight = new Set<SourceName>();
  /** Sources asked for again while busy: re-run as soon as they finish. */
  private readonly again = new Set<SourceName>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private tick = 0;
  /** When the latest scheduled round started. */
  private lastTickAt = 0;
  private running = false;

  constructor(
    private sources: readonly Source[],
    private intervalMs: number,
    private readonly deps: PollerDeps,
  ) {}

  start(): void {
    this.running = true;
    this.startedAt = this.deps.now();
    this.tick = 0;
    this.onTick();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** New sources from the next round on (a reload); probes in flight finish and are recorded. */
  setSources(sources: readonly Source[]): void {
    this.sources = sources;
  }

  /**
   * A new interval (a reload), counted from the round that last started:
   * the next round comes one new interval after it or, if that is past, at
   * the first moment of the new schedule that is not.
   */
  setInterval(intervalMs: number): void {
    this.intervalMs = intervalMs;
    if (!this.running) return;
    clearTimeout(this.timer);
    this.startedAt = this.lastTickAt;
    this.tick = 0;
    this.scheduleNext();
  }

  /** Polls some sources now, outside the schedule (the status file changed). */
  refresh(names: readonly SourceName[]): void {
    if (!this.running) return;
    this.runRound(this.sources.filter((source) => names.includes(source.name)));
  }

  private onTick(): void {
    if (!this.running) return;
    this.lastTickAt = this.deps.now();
    this.runRound(this.sources);
    this.scheduleNext();
  }

  private scheduleNext(): void {
    const now = this.deps.now();
    // Skip ticks that are already past (a stalled event loop), never burst to catch up.
    this.tick = Math.max(this.tick + 1, Math.ceil((now - this.startedAt) / this.intervalMs));
    const delay = Math.max(0, this.startedAt + this.tick * this.intervalMs - now);
    this.timer = setTimeout(() => this.onTick(), delay);
  }

  private runRound(sources: readonly Source[]): void {
    const starting = sources.filter((source) => {
      if (this.inFlight.has(source.name)) {
        this.again.add(source.name);
        return false;
      }
      return true;
    });
    if (starting.length === 0) return;
    for (const source of starting) this.inFlight.add(source.name);
    void Promise.all(starting.map((source) => this.probe(source))).then((results) => {
      const update: Record<string, unknown> = {};
      for (const [name, sample] of results) {
        this.inFlight.delete(name);
        if (sample !== undefined) update[name] = sample;
      }
      if (this.running) this.deps.record(update);
      const rerun = starting.filter((source) => this.again.delete(source.name));
      if (rerun.length > 0 && this.running) this.runRound(rerun);
    });
  }

  private async probe(source: Source): Promise<[SourceName, unknown]> {
    const started = this.deps.now();
    try {
      const sample = await source.collect();
      this.deps.probed(source.name, source.succeeded(sample), (this.deps.now() - started) / 1000);
      return [source.name, sample];
    } catch (error) {
      // Collectors return failures as data; reaching here is a bug, kept from
      // crashing the daemon and reported.
      this.deps.failed(source.name, error);
      return [source.name, undefined];
    }
  }
}
