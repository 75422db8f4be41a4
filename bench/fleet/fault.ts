import type { Crowd } from './crowd';
import type { FaultKind, Ledger } from './ledger';
import type { HaproxyFleet } from './haproxy-fleet';
import type { RegionalBalancer } from './regional-balancer';
import type { FleetShard } from './shard';

/** What a fault of the chaos schedule is, and what it may act on. */

export interface Timing {
  /** The sidecars' POLLING_INTERVAL, HEALTH_DAMPENING_INTERVAL, DRAIN_GRACE_INTERVAL and PROBE_TIMEOUT, in ms. */
  readonly pollMs: number;
  readonly dampeningMs: number;
  readonly graceMs: number;
  readonly probeTimeoutMs: number;
  /** How long a plain fault is held. */
  readonly holdMs: number;
  /** The example's agent-inter and stick-table expire. */
  readonly agentInterMs: number;
  readonly expireMs: number;
}

export interface FaultContext {
  /** The shard this fault is on (the schedule's turn); faults of the HAProxies alone leave it be. */
  readonly shard: FleetShard;
  readonly shards: readonly FleetShard[];
  readonly haproxies: HaproxyFleet;
  readonly balancer: RegionalBalancer;
  readonly crowd: Crowd;
  readonly ledger: Ledger;
  readonly timing: Timing;
  readonly log: (line: string) => void;
}

export interface Fault {
  readonly name: string;
  readonly kind: FaultKind;
  /** False for a fault of the HAProxies alone: its window names no shard. */
  readonly onShard: boolean;
  /** The HAProxy it reloads or kills (index), if any: every session that ends meanwhile is the fault's. */
  readonly haproxy?: number;
  /** What HAProxy should show for the shard while the fault lasts (null: no change). */
  readonly expect: 'DRAIN' | 'DOWN' | null;
  /**
   * The longest a correct sidecar may take to make that verdict visible in its
   * agent line (HAProxy's agent-inter comes on top); null when nothing should change.
   */
  readonly detectionBoundMs: number | null;
  /** Injects the fault, keeps it for its duration, and heals it. `heal` is the moment it ends. */
  run(context: FaultContext, heal: () => void): Promise<void>;
  /** The shard the fault needs, when not just the schedule's next one. */
  readonly pickShard?: (shards: readonly FleetShard[], ledger: Ledger, crowd: Crowd) => FleetShard | undefined;
}
