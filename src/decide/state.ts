import { decideAfterPoll, decideAgain, type Decision } from './decide';
import { FRESH_MEMORY, type FlapMemory } from './flap';
import type { DecisionSettings } from './observe';
import type { ReportSettings } from './report';
import { NO_SAMPLES, type Samples, type SourceName } from './samples';

export type StateSettings = DecisionSettings & ReportSettings;

/** What the servers send, rendered once per decision so requests only copy bytes. */
export interface Rendered {
  readonly decision: Decision;
  readonly healthy: boolean;
  readonly reportBody: string;
  readonly agentLine: Buffer;
  /** Encoded once per census sample: a busy node's census is megabytes. */
  readonly censusBody: Buffer;
}

export type DecisionListener = (previous: Rendered | null, next: Rendered, samples: Samples) => void;

/** Sources that must have answered once before any verdict is given. */
const REQUIRED: readonly SourceName[] = ['jicofoHealth', 'jicofoStats', 'prosody', 'statusFile'];

const EMPTY_CENSUS = Buffer.from('{"room_census":[]}');

/**
 * The census as served: rendered only when a new census sample arrived. A
 * status-file change or the end of a grace interval decides again with the
 * same census, and encoding 6,000 rooms (1.7 MB) again would cost each of
 * them milliseconds. A failed census keeps the last good one.
 */
function censusBody(decision: Decision, previous: Rendered | null): Buffer {
  const census = decision.observation.census;
  if (previous !== null && (census === null || census === previous.decision.observation.census)) return previous.censusBody;
  return census === null ? EMPTY_CENSUS : Buffer.from(census.json);
}

/**
 * The one shared state: latest samples, flap memory and the rendered
 * decision. Polls write it; the servers only read `current`.
 */
export class SignalState {
  private samples: Samples = NO_SAMPLES;
  private memory: FlapMemory = FRESH_MEMORY;
  private rendered: Rendered | null = null;
  private reconsiderTimer: NodeJS.Timeout | undefined;
  private readonly waiting: (() => void)[] = [];
  private readonly listeners: DecisionListener[] = [];

  constructor(
    private settings: StateSettings,
    private readonly now: () => number,
  ) {}

  /** The latest decision; null until the first poll has completed. */
  get current(): Rendered | null {
    return this.rendered;
  }

  onDecision(listener: DecisionListener): void {
    this.listeners.push(listener);
  }

  /** Resolves once a first decision exists (at once if it already does). */
  firstDecision(): Promise<void> {
    if (this.rendered !== null) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /**
   * Takes the samples of a completed poll round (all sources, or only some),
   * or a new status word from Consul: what health is decided on.
   */
  record(update: Partial<Samples>): void {
    this.samples = { ...this.samples, ...update };
    if (REQUIRED.some((source) => this.samples[source] === null)) return;
    const decision = decideAfterPoll(this.samples, this.memory, this.now(), this.settings);
    this.memory = decision.memory;
    this.publish(decision);
  }

  /** Takes a sample that only informs the report (a Consul write's outcome): no poll, no flap memory. */
  note(update: Partial<Samples>): void {
    this.samples = { ...this.samples, ...update };
    if (this.rendered !== null) this.reconsider();
  }

  /**
   * New settings (a reload), decided on at once. The flap memory stays: a
   * drain grace or dampening in progress goes on, its end moved to what the
   * new interval gives from the same start (the episode's start for grace,
   * the last unhealthy poll for dampening), as if the new interval had been
   * in force all along. A shorter one can end it at once; a longer one
   * extends it. New thresholds count the polls already in the streak.
   */
  reconfigure(settings: StateSettings): void {
    this.settings = settings;
    if (this.rendered !== null) this.reconsider();
  }

  /** Stops the time-based re-decision timer (shutdown). */
  close(): void {
    clearTimeout(this.reconsiderTimer);
  }

  private reconsider(): void {
    const decision = decideAgain(this.samples, this.memory, this.now(), this.settings);
    this.publish(decision);
  }

  private publish(decision: Decision): void {
    const previous = this.rendered;
    this.rendered = {
      decision,
      healthy: decision.report.healthy,
      reportBody: JSON.stringify(decision.report),
      agentLine: Buffer.from(decision.agentLine),
      censusBody: censusBody(decision, previous),
    };
    clearTimeout(this.reconsiderTimer);
    if (decision.reconsiderAt !== null) {
      // +1 ms so the new decision is taken strictly after the boundary.
      const delay = Math.max(0, decision.reconsiderAt - this.now()) + 1;
      this.reconsiderTimer = setTimeout(() => this.reconsider(), delay);
      this.reconsiderTimer.unref();
    }
    for (const listener of this.listeners) listener(previous, this.rendered, this.samples);
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
