import type { Report } from '../decide/report';

/** One change of the reported state, as /signal/events and notifications carry it. */
export interface StateEvent {
  readonly time: string;
  readonly healthy: boolean;
  readonly status: string;
  readonly weight: string;
  /** Null for the first verdict after start. */
  readonly previousHealthy: boolean | null;
  readonly previousStatus: string | null;
  readonly reasons: readonly string[];
}

/** The event for a new report, or null when the reported state (health, status, weight) did not change. */
export function stateEvent(previous: Report | null, next: Report): StateEvent | null {
  if (previous !== null && previous.healthy === next.healthy && previous.status === next.status && previous.weight === next.weight) {
    return null;
  }
  return {
    time: next.time,
    healthy: next.healthy,
    status: next.status,
    weight: next.weight,
    previousHealthy: previous?.healthy ?? null,
    previousStatus: previous?.status ?? null,
    reasons: next.reasons,
  };
}

/**
 * The last HISTORY_SIZE state changes, newest first, kept in memory so an
 * operator can see what happened after the fact without digging in logs.
 */
export class History {
  private readonly events: StateEvent[] = [];
  private rendered = '{"events":[]}';

  constructor(private size: number) {}

  /** A new HISTORY_SIZE (a reload): the newest events stay. */
  resize(size: number): void {
    this.size = size;
    if (this.events.length <= size) return;
    this.events.length = size;
    this.rendered = JSON.stringify({ events: this.events });
  }

  record(event: StateEvent): void {
    this.events.unshift(event);
    if (this.events.length > this.size) this.events.length = this.size;
    this.rendered = JSON.stringify({ events: this.events });
  }

  /** The /signal/events body, rendered when an event arrives rather than per request. */
  get body(): string {
    return this.rendered;
  }
}
