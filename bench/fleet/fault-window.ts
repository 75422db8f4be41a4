/**
 * One fault of the schedule as the ledger follows it: when it came, what the
 * HAProxies showed for its shard, and what happened to conferences meanwhile.
 */

/**
 * How a fault leaves its shard's running conferences:
 * - `drain`: they run on (operator drain, participants above PARTICIPANT_MAX);
 * - `weight`: they run on, and only the shard's weight changes;
 * - `unhealthy`: jicofo is alive but reports itself broken (500, flapping): the
 *   sessions stay open unless someone closes them;
 * - `dead`: they are over or frozen (jicofo killed, prosody hung);
 * - `sidecar`: the sidecar alone restarts or crashes; the shard is fine;
 * - `fleet`: no shard has a fault (first joiners racing through different HAProxies).
 */
export type FaultKind = 'drain' | 'weight' | 'unhealthy' | 'dead' | 'sidecar' | 'fleet';

/** HAProxy's state of a server, as test/e2e/components.ts stateOf names it. */
export type ServerState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';

/** A server with no agent verdict yet: a freshly started HAProxy shows it UP whatever its sidecar says. */
export type ServerView = ServerState | 'UNCHECKED';

export interface FaultWindow {
  readonly name: string;
  /** The shard the fault is on; null for a fault of the HAProxies alone. */
  readonly shard: string | null;
  /** The HAProxy the fault is on (reloaded, killed), if any: sessions that end meanwhile, on any shard, are its own. */
  readonly haproxy: number | null;
  readonly kind: FaultKind;
  readonly injectedAt: number;
  healedAt: number | null;
  /** HAProxy shows the shard UP again after the heal (plus a settling pause); moves until then belong to this fault. */
  closedAt: number | null;
  /** Sessions on the shard when the fault came. */
  affected: number;
  /** Of those and of later joiners, sessions that ended (not by leaving) while the fault lasted. */
  disconnected: number;
  /** ms from the injection until each disconnected participant was served by a healthy shard. */
  readonly failovers: number[];
  /** Participants disconnected and not yet served by a healthy shard. */
  readonly pending: Set<number>;
  /** First time an HAProxy showed the shard other than UP after the injection, DOWN (if ever), and every HAProxy UP again after the heal. */
  markedAt: number | null;
  markedAs: ServerState | null;
  /** When the last of the HAProxies showed it other than UP too. */
  allMarkedAt: number | null;
  downAt: number | null;
  /** HAProxy's words for it then: `DOWN (agent)` when the sidecar said so, `DOWN` when HAProxy's own check failed. */
  downStatus: string | null;
  backAt: number | null;
  /** Rooms that moved off the shard, and rooms that split, during the window. */
  readonly movedRooms: Set<string>;
  readonly splitRooms: Set<string>;
  /** The longest of the splits that began while it lasted, once ended (ms); null if none ended. */
  longestSplitMs: number | null;
  /** Running conferences that moved off a shard without a fault of its own while this fault lasted. */
  readonly movedWithoutFault: Set<string>;
  /** Running conferences that left the shard while it drained. */
  readonly drainMoves: Set<string>;
  /** Sessions elsewhere, on shards without a fault, that ended while this fault lasted. */
  disconnectedElsewhere: number;
  /** New conferences placed on the shard after the injection, and how long after. */
  readonly newRoomsAfterMs: number[];
  /** New conferences placed on a shard the HAProxies showed unavailable while this fault lasted. */
  newRoomsOnUnavailable: number;
  /** Failed joins while it lasted, by what went wrong. */
  readonly failures: Map<string, number>;
}

export function openWindow(name: string, shard: string | null, kind: FaultKind, at: number, affected: number, haproxy: number | null): FaultWindow {
  return {
    name,
    shard,
    haproxy,
    kind,
    injectedAt: at,
    healedAt: null,
    closedAt: null,
    affected,
    disconnected: 0,
    failovers: [],
    pending: new Set(),
    markedAt: null,
    markedAs: null,
    allMarkedAt: null,
    downAt: null,
    downStatus: null,
    backAt: null,
    movedRooms: new Set(),
    splitRooms: new Set(),
    longestSplitMs: null,
    movedWithoutFault: new Set(),
    drainMoves: new Set(),
    disconnectedElsewhere: 0,
    newRoomsAfterMs: [],
    newRoomsOnUnavailable: 0,
    failures: new Map(),
  };
}

/**
 * One sample of every HAProxy's view of the window's shard: marked when the
 * first one shows it other than UP, back when all of them show it UP again.
 */
export function markWindow(window: FaultWindow, views: readonly ServerView[], status: string | undefined, at: number): void {
  if (window.closedAt !== null || views.length === 0) return;
  const worst = views.find((view) => view === 'DOWN') ?? views.find((view) => view !== 'UP' && view !== 'UNCHECKED');
  if (window.markedAt === null && worst !== undefined) {
    window.markedAt = at;
    window.markedAs = worst;
  }
  if (window.allMarkedAt === null && window.markedAt !== null && window.healedAt === null && views.every((view) => view !== 'UP' && view !== 'UNCHECKED')) window.allMarkedAt = at;
  if (window.downAt === null && worst === 'DOWN') {
    window.downAt = at;
    window.downStatus = status ?? null;
  }
  if (window.healedAt !== null && window.backAt === null && views.every((view) => view === 'UP')) window.backAt = at;
}
