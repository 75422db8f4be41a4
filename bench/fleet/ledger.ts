import type { EndCause } from './participant';

/**
 * What happened to every conference during the run, from the participants'
 * side, set against the faults injected and HAProxy's view of each shard.
 * Everything is counted as it happens; the figures are read at the end.
 */

/**
 * How a fault leaves its shard's running conferences:
 * - `drain`: they run on (operator drain, participants above PARTICIPANT_MAX);
 * - `unhealthy`: jicofo is alive but reports itself broken (500, flapping): the
 *   sessions stay open unless someone closes them;
 * - `dead`: they are over or frozen (jicofo killed, prosody hung);
 * - `sidecar`: the sidecar alone restarts or crashes; the shard is fine.
 */
export type FaultKind = 'drain' | 'unhealthy' | 'dead' | 'sidecar';

/** HAProxy's state of a server, as test/e2e/components.ts stateOf names it. */
export type ServerState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';

export interface FaultWindow {
  readonly name: string;
  readonly shard: string;
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
  /** First time HAProxy showed the shard other than UP after the injection, DOWN (if ever), and UP again after the heal. */
  markedAt: number | null;
  markedAs: ServerState | null;
  downAt: number | null;
  /** HAProxy's words for it then: `DOWN (agent)` when the sidecar said so, `DOWN` when HAProxy's own check failed. */
  downStatus: string | null;
  backAt: number | null;
  /** Rooms that moved off the shard, and rooms that split, during the window. */
  readonly movedRooms: Set<string>;
  readonly splitRooms: Set<string>;
  /** Sessions elsewhere, on shards without a fault, that ended while this fault lasted. */
  disconnectedElsewhere: number;
  /** New conferences placed on the shard after the injection, and how long after. */
  readonly newRoomsAfterMs: number[];
}

interface Session {
  readonly room: string;
  readonly shard: string;
}

interface PendingPlacement {
  readonly room: string;
  readonly shard: string;
  readonly at: number;
  readonly before: ServerState;
}

export class Ledger {
  private readonly sessions = new Map<number, Session>();
  /** room → shard → live sessions. */
  private readonly live = new Map<string, Map<string, number>>();
  /** room → the shard of its latest conference, kept after it ended (to tell a failover from a fresh start). */
  private readonly lastShard = new Map<string, string>();
  readonly windows: FaultWindow[] = [];
  private readonly state = new Map<string, ServerState>();
  private placements: PendingPlacement[] = [];

  readonly roomsSeen = new Set<string>();
  /** Rooms that were, at some moment, served by two shards at once. */
  readonly splitRooms = new Set<string>();
  /** Rooms split right now: an episode is counted (and given to the faults then active) when it begins. */
  private readonly splitNow = new Set<string>();
  /** Rooms moved although their shard had no fault. */
  readonly movedWithoutFault = new Set<string>();
  /** Rooms moved off a shard whose sidecar was being restarted or killed. */
  readonly restartMoved = new Set<string>();
  /** Rooms moved off a draining shard: a drain that did not keep its conference whole. */
  readonly drainMoved = new Set<string>();
  /** Rooms moved off a broken shard: the failover itself. */
  readonly failedOver = new Set<string>();
  /** Rooms whose conference ended and started again on another shard, without a fault: harmless, nobody was left behind. */
  readonly replacedAfterEmpty = new Set<string>();
  /** New conferences HAProxy placed on a shard it showed in DRAIN, DOWN or MAINT (before and after). */
  readonly newRoomsOnUnavailable: { room: string; shard: string; state: ServerState }[] = [];
  newRooms = 0;
  joins = 0;
  failedJoins = 0;
  disconnectedWithoutFault = 0;
  readonly examples: string[] = [];

  /**
   * `anomaly` hears of each move without a fault and each split as it happens,
   * so the run can read HAProxy's stick entry for the room at that moment.
   */
  constructor(
    private readonly now: () => number,
    private readonly anomaly: (room: string, what: string) => void = () => undefined,
  ) {}

  // ------------------------------------------------------------ faults

  openWindow(name: string, shard: string, kind: FaultKind): FaultWindow {
    const window: FaultWindow = {
      name,
      shard,
      kind,
      injectedAt: this.now(),
      healedAt: null,
      closedAt: null,
      affected: [...this.sessions.values()].filter((session) => session.shard === shard).length,
      disconnected: 0,
      failovers: [],
      pending: new Set(),
      markedAt: null,
      markedAs: null,
      downAt: null,
      downStatus: null,
      backAt: null,
      movedRooms: new Set(),
      splitRooms: new Set(),
      disconnectedElsewhere: 0,
      newRoomsAfterMs: [],
    };
    this.windows.push(window);
    return window;
  }

  healed(window: FaultWindow): void {
    window.healedAt = this.now();
    // A frozen shard that answers again may revive sessions beside the moved ones.
    for (const room of [...this.live.keys()]) this.checkSplit(room);
  }

  close(window: FaultWindow): void {
    window.closedAt = this.now();
  }

  private active(at = this.now()): FaultWindow[] {
    return this.windows.filter((window) => window.injectedAt <= at && window.closedAt === null);
  }

  private faultOn(shard: string): FaultWindow | undefined {
    return this.active().find((window) => window.shard === shard);
  }

  /** A shard whose conferences are over or frozen right now: its sessions do not count as serving. */
  private dead(shard: string): boolean {
    const fault = this.faultOn(shard);
    return fault !== undefined && fault.kind === 'dead' && fault.healedAt === null;
  }

  /** A shard that serves its participants properly now. */
  private healthy(shard: string): boolean {
    const fault = this.faultOn(shard);
    return fault === undefined || fault.kind === 'sidecar' || fault.kind === 'drain' || fault.healedAt !== null;
  }

  // ------------------------------------------------------------ HAProxy

  /** One sample of HAProxy's view of every shard, with its status column (`show stat`). */
  observe(states: ReadonlyMap<string, ServerState>, statuses: ReadonlyMap<string, string> = new Map()): void {
    const at = this.now();
    for (const [shard, state] of states) {
      this.state.set(shard, state);
      for (const window of this.windows) {
        if (window.shard !== shard || window.closedAt !== null) continue;
        if (window.markedAt === null && state !== 'UP') {
          window.markedAt = at;
          window.markedAs = state;
        }
        if (window.downAt === null && state === 'DOWN') {
          window.downAt = at;
          window.downStatus = statuses.get(shard) ?? null;
        }
        if (window.healedAt !== null && window.backAt === null && state === 'UP') window.backAt = at;
      }
    }
    // A new conference counts as placed on an unavailable shard only when the
    // samples on both sides of its placement agree.
    const settled = this.placements.filter((placement) => placement.at < at);
    this.placements = this.placements.filter((placement) => placement.at >= at);
    for (const placement of settled) {
      const after = states.get(placement.shard) ?? 'UP';
      if (placement.before !== 'UP' && after !== 'UP') {
        this.newRoomsOnUnavailable.push({ room: placement.room, shard: placement.shard, state: after });
        this.example(`new room ${placement.room} placed on ${placement.shard} while HAProxy showed it ${after}`);
      }
    }
  }

  serverState(shard: string): ServerState {
    return this.state.get(shard) ?? 'UP';
  }

  // ------------------------------------------------------------ participants

  /**
   * A conference exists while someone is in its room: prosody destroys a room
   * when its last occupant leaves, so a join into an empty room starts a new
   * conference (placed wherever HAProxy sends it), and only a join next to
   * live sessions on another shard moves (and splits) a running one.
   */
  joined(participant: number, room: string, shard: string): void {
    const at = this.now();
    this.joins += 1;
    this.roomsSeen.add(room);
    const running = [...(this.live.get(room) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).map(([name]) => name);
    if (running.length === 0) {
      this.newRooms += 1;
      this.placements.push({ room, shard, at, before: this.serverState(shard) });
      const fault = this.faultOn(shard);
      if (fault !== undefined && fault.kind !== 'sidecar') fault.newRoomsAfterMs.push(at - fault.injectedAt);
      const before = this.lastShard.get(room);
      if (before !== undefined && before !== shard) {
        // A conference that ended on a broken shard and starts again elsewhere
        // failed over; one that emptied anywhere else (a draining shard
        // included: that is what drain is for) simply started afresh.
        const left = this.faultOn(before);
        if (left !== undefined && (left.kind === 'dead' || left.kind === 'unhealthy')) {
          this.failedOver.add(room);
          left.movedRooms.add(room);
        } else {
          this.replacedAfterEmpty.add(room);
        }
      }
    } else if (!running.includes(shard)) {
      this.moved(room, running[0] ?? '', shard);
    }
    this.lastShard.set(room, shard);
    this.sessions.set(participant, { room, shard });
    const shards = this.live.get(room) ?? new Map<string, number>();
    shards.set(shard, (shards.get(shard) ?? 0) + 1);
    this.live.set(room, shards);
    this.checkSplit(room);
    for (const window of this.windows) {
      if (!window.pending.has(participant)) continue;
      if (shard !== window.shard ? this.healthy(shard) : window.healedAt !== null) {
        window.pending.delete(participant);
        window.failovers.push(at - window.injectedAt);
      }
    }
  }

  ended(participant: number, cause: EndCause): void {
    const session = this.sessions.get(participant);
    if (session === undefined) return;
    this.sessions.delete(participant);
    const shards = this.live.get(session.room);
    const left = (shards?.get(session.shard) ?? 1) - 1;
    if (left > 0) shards?.set(session.shard, left);
    else shards?.delete(session.shard);
    if (shards !== undefined && shards.size === 0) this.live.delete(session.room);
    this.checkSplit(session.room);
    if (cause === 'left') return;
    const fault = this.faultOn(session.shard);
    if (fault !== undefined && fault.kind !== 'sidecar') {
      fault.disconnected += 1;
      fault.pending.add(participant);
      return;
    }
    // Disconnected although its own shard had no fault (or only its sidecar had one).
    this.disconnectedWithoutFault += 1;
    for (const window of this.active()) if (window.shard !== session.shard) window.disconnectedElsewhere += 1;
    if (fault !== undefined) fault.disconnected += 1;
    this.example(`participant ${participant} of ${session.room} on ${session.shard} disconnected (${cause}) without a fault of its shard`);
  }

  /** Failed joins by what went wrong (`no-focus`, `join timeout`, `upgrade answered 503`, …). */
  readonly failures = new Map<string, number>();

  failed(why: string): void {
    this.failedJoins += 1;
    this.failures.set(why, (this.failures.get(why) ?? 0) + 1);
  }

  /** The room's name is given up (its meeting is over for good); a later use of it is another meeting. */
  retired(room: string): void {
    this.lastShard.delete(room);
  }

  /** Live sessions per shard, as the participants see them. */
  sessionsPerShard(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const session of this.sessions.values()) counts.set(session.shard, (counts.get(session.shard) ?? 0) + 1);
    return counts;
  }

  private moved(room: string, from: string, to: string): void {
    const fault = this.faultOn(from);
    if (fault === undefined) {
      this.movedWithoutFault.add(room);
      this.example(`room ${room} moved ${from} → ${to} without a fault on ${from}`);
      this.anomaly(room, `moved ${from} → ${to} without a fault on ${from}`);
      for (const window of this.active()) window.movedRooms.add(room);
      return;
    }
    fault.movedRooms.add(room);
    if (fault.kind === 'sidecar') {
      this.restartMoved.add(room);
      this.example(`room ${room} moved ${from} → ${to} during ${fault.name}`);
    } else if (fault.kind === 'drain') {
      this.drainMoved.add(room);
      this.example(`room ${room} moved off draining ${from} → ${to} during ${fault.name}`);
    } else {
      this.failedOver.add(room);
    }
  }

  private checkSplit(room: string): void {
    const serving = [...(this.live.get(room)?.keys() ?? [])].filter((shard) => !this.dead(shard));
    if (serving.length < 2) {
      this.splitNow.delete(room);
      return;
    }
    if (this.splitNow.has(room)) return;
    this.splitNow.add(room);
    this.example(`room ${room} split over ${serving.join(', ')}`);
    this.anomaly(room, `split over ${serving.join(', ')}`);
    this.splitRooms.add(room);
    for (const window of this.active()) window.splitRooms.add(room);
  }

  /** What the ledger knows of a room: live sessions per shard. */
  roomView(room: string): string {
    return JSON.stringify(Object.fromEntries(this.live.get(room) ?? new Map<string, number>()));
  }

  example(line: string): void {
    if (this.examples.length < 200) this.examples.push(`${Math.round(this.now())} ms: ${line}`);
  }
}
