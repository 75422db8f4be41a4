import { markWindow, openWindow, type FaultKind, type FaultWindow, type ServerState, type ServerView } from './fault-window';
import type { EndCause } from './session';

/**
 * What happened to every conference during the run, from the participants'
 * side, set against the faults injected and the HAProxies' view of each shard.
 * Everything is counted as it happens; the figures are read at the end.
 */

export type { FaultKind, FaultWindow, ServerState, ServerView } from './fault-window';

interface Session {
  readonly room: string;
  readonly shard: string;
  /** The HAProxy that carried its join. */
  readonly via: number;
}

interface PendingPlacement {
  readonly room: string;
  readonly shard: string;
  readonly via: number;
  readonly at: number;
  readonly before: ServerState;
  /** ms since the room's previous conference ended, when it had one. */
  readonly sinceLastMs: number | null;
}

/** A room served by two shards at once, from when to when (ISO times, for comparing with an outside detector's). */
export interface SplitRecord {
  readonly room: string;
  readonly shards: string[];
  readonly from: string;
  to: string | null;
  durationMs: number | null;
}

/** A new conference placed on a shard that HAProxy showed unavailable. */
export interface UnavailablePlacement {
  readonly room: string;
  readonly shard: string;
  readonly state: ServerState;
  /** Its previous conference ended this long before (null: none known): a name used again within the table's expire follows its old entry. */
  readonly sinceLastMs: number | null;
}

export class Ledger {
  private readonly sessions = new Map<number, Session>();
  /** room → shard → live sessions. */
  private readonly live = new Map<string, Map<string, number>>();
  /** room → the shard of its latest conference, kept after it ended (to tell a failover from a fresh start). */
  private readonly lastShard = new Map<string, string>();
  /** room → when its latest conference ended. */
  private readonly endedAt = new Map<string, number>();
  readonly windows: FaultWindow[] = [];
  /** HAProxy index → shard → its view in the latest sample. */
  private readonly views = new Map<number, Map<string, ServerView>>();
  private placements: PendingPlacement[] = [];

  readonly roomsSeen = new Set<string>();
  /** Rooms that were, at some moment, served by two shards at once. */
  readonly splitRooms = new Set<string>();
  /** Every change of a room's shard (a running conference moved, or started again on another shard than its last), and when (ms since the epoch). */
  readonly moves: { readonly room: string; readonly at: number }[] = [];
  /** Every episode of a split, begun and ended. */
  readonly splits: SplitRecord[] = [];
  /** Rooms split right now, with their open episode and the faults going on when it began. */
  private readonly splitNow = new Map<string, { record: SplitRecord; since: number; windows: FaultWindow[] }>();
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
  readonly newRoomsOnUnavailable: UnavailablePlacement[] = [];
  /** Sessions ended by each cause other than leaving. */
  readonly endings = new Map<EndCause, number>();
  /** Times HAProxy 1 applied a new weight to a shard that stayed UP (the sidecar's WEIGHT_PARTICIPANTS steps). */
  weightChanges = 0;
  /** Samples of several HAProxies, and those in which two of them applied a different state or weight to a shard: their hash rings differed. */
  samples = 0;
  disagreeingSamples = 0;
  private readonly weights = new Map<string, number>();
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

  /**
   * A fault begins on `shard`, and on HAProxy `haproxy` when it is one of an
   * HAProxy (its sessions are affected too, and their ends are the fault's).
   */
  openWindow(name: string, shard: string | null, kind: FaultKind, haproxy: number | null = null): FaultWindow {
    const affected = [...this.sessions.values()].filter((session) => session.shard === shard || session.via === haproxy).length;
    const window = openWindow(name, shard, kind, this.now(), affected, haproxy);
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

  /** The fault a session's end belongs to: its shard's, else an HAProxy's going on now. */
  private faultOf(session: Session): FaultWindow | undefined {
    return this.faultOn(session.shard) ?? this.active().find((window) => window.haproxy !== null);
  }

  /** A shard whose conferences are over or frozen right now: its sessions do not count as serving. */
  private dead(shard: string): boolean {
    const fault = this.faultOn(shard);
    return fault !== undefined && fault.kind === 'dead' && fault.healedAt === null;
  }

  /** A shard that serves its participants properly now. */
  private healthy(shard: string): boolean {
    const fault = this.faultOn(shard);
    return fault === undefined || !(fault.kind === 'dead' || fault.kind === 'unhealthy') || fault.healedAt !== null;
  }

  // ------------------------------------------------------------ HAProxy

  /**
   * One sample of each HAProxy's view of every shard (HAProxy index → shard →
   * view), with `show stat`'s status words and the weights HAProxy applies.
   */
  observe(views: ReadonlyMap<number, ReadonlyMap<string, ServerView>>, statuses: ReadonlyMap<string, string> = new Map(), weights: ReadonlyMap<number, ReadonlyMap<string, number>> = new Map()): void {
    const at = this.now();
    for (const [haproxy, shards] of views) this.views.set(haproxy, new Map(shards));
    for (const [shard, weight] of weights.get(0) ?? []) {
      const before = this.weights.get(shard);
      if (before !== undefined && before !== weight && before > 0 && weight > 0) this.weightChanges += 1;
      this.weights.set(shard, weight);
    }
    this.compareRings(views, weights);
    for (const window of this.windows) {
      if (window.shard !== null) markWindow(window, this.viewsOf(window.shard), statuses.get(window.shard), at);
    }
    // A new conference counts as placed on an unavailable shard only when the
    // samples on both sides of its placement agree.
    const settled = this.placements.filter((placement) => placement.at < at);
    this.placements = this.placements.filter((placement) => placement.at >= at);
    for (const placement of settled) {
      const after = this.stateFor(placement.shard, placement.via);
      if (placement.before === 'UP' || after === 'UP') continue;
      this.newRoomsOnUnavailable.push({ room: placement.room, shard: placement.shard, state: after, sinceLastMs: placement.sinceLastMs });
      for (const window of this.active(placement.at)) window.newRoomsOnUnavailable += 1;
      const reused = placement.sinceLastMs === null ? '' : ` (its last conference ended ${Math.round(placement.sinceLastMs / 1000)} s before)`;
      this.example(`new room ${placement.room} placed on ${placement.shard} while HAProxy ${placement.via + 1} showed it ${after}${reused}`);
    }
  }

  private compareRings(views: ReadonlyMap<number, ReadonlyMap<string, ServerView>>, weights: ReadonlyMap<number, ReadonlyMap<string, number>>): void {
    if (weights.size < 2) return;
    this.samples += 1;
    const ring = (haproxy: number, shards: ReadonlyMap<string, number>): string =>
      JSON.stringify([...shards].sort(([a], [b]) => a.localeCompare(b)).map(([shard, weight]) => [shard, views.get(haproxy)?.get(shard), weight]));
    const rings = [...weights].map(([haproxy, shards]) => ring(haproxy, shards));
    if (new Set(rings).size > 1) this.disagreeingSamples += 1;
  }

  private viewsOf(shard: string): ServerView[] {
    return [...this.views.values()].map((shards) => shards.get(shard) ?? 'UP');
  }

  /**
   * The shard as HAProxy `via` saw it; one with no agent verdict yet (just
   * started) knows nothing of a drain, so the other HAProxies' view counts.
   */
  private stateFor(shard: string, via: number): ServerState {
    const own = this.views.get(via)?.get(shard);
    if (own !== undefined && own !== 'UNCHECKED') return own;
    return this.serverState(shard);
  }

  /** The shard as the HAProxies show it: DOWN if any shows it DOWN, else DRAIN or MAINT if any does, else UP. */
  serverState(shard: string): ServerState {
    const views = this.viewsOf(shard);
    if (views.includes('DOWN')) return 'DOWN';
    return views.find((view): view is ServerState => view !== 'UP' && view !== 'UNCHECKED') ?? 'UP';
  }

  // ------------------------------------------------------------ participants

  /**
   * A conference exists while someone is in its room: prosody destroys a room
   * when its last occupant leaves, so a join into an empty room starts a new
   * conference (placed wherever HAProxy sends it), and only a join next to
   * live sessions on another shard moves (and splits) a running one.
   */
  joined(participant: number, room: string, shard: string, via: number): void {
    const at = this.now();
    this.joins += 1;
    this.roomsSeen.add(room);
    const running = [...(this.live.get(room) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).map(([name]) => name);
    if (running.length === 0) this.newConference(room, shard, via, at);
    else if (!running.includes(shard)) this.moved(room, running[0] ?? '', shard);
    this.lastShard.set(room, shard);
    this.sessions.set(participant, { room, shard, via });
    const shards = this.live.get(room) ?? new Map<string, number>();
    shards.set(shard, (shards.get(shard) ?? 0) + 1);
    this.live.set(room, shards);
    this.checkSplit(room);
    for (const window of this.windows) {
      if (!window.pending.has(participant)) continue;
      // Served again: by a healthy shard, or by its own once that is fixed (a draining one never stopped serving).
      const broken = window.kind === 'dead' || window.kind === 'unhealthy';
      if (shard !== window.shard ? this.healthy(shard) : window.healedAt !== null || !broken) {
        window.pending.delete(participant);
        window.failovers.push(at - window.injectedAt);
      }
    }
  }

  private newConference(room: string, shard: string, via: number, at: number): void {
    this.newRooms += 1;
    const ended = this.endedAt.get(room);
    this.placements.push({ room, shard, via, at, before: this.stateFor(shard, via), sinceLastMs: ended === undefined ? null : at - ended });
    const fault = this.faultOn(shard);
    if (fault !== undefined && fault.kind !== 'sidecar') fault.newRoomsAfterMs.push(at - fault.injectedAt);
    const before = this.lastShard.get(room);
    if (before === undefined || before === shard) return;
    this.moves.push({ room, at: performance.timeOrigin + at });
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

  ended(participant: number, cause: EndCause): void {
    const session = this.sessions.get(participant);
    if (session === undefined) return;
    this.sessions.delete(participant);
    const shards = this.live.get(session.room);
    const left = (shards?.get(session.shard) ?? 1) - 1;
    if (left > 0) shards?.set(session.shard, left);
    else shards?.delete(session.shard);
    if (shards !== undefined && shards.size === 0) {
      this.live.delete(session.room);
      this.endedAt.set(session.room, this.now());
    }
    this.checkSplit(session.room);
    if (cause === 'left') return;
    this.endings.set(cause, (this.endings.get(cause) ?? 0) + 1);
    const fault = this.faultOf(session);
    if (fault !== undefined && ((fault.kind !== 'sidecar' && fault.kind !== 'weight') || fault.haproxy !== null)) {
      fault.disconnected += 1;
      fault.pending.add(participant);
      return;
    }
    // Disconnected although its own shard had no fault (or only its sidecar or weight had one).
    this.disconnectedWithoutFault += 1;
    for (const window of this.active()) if (window.shard !== session.shard) window.disconnectedElsewhere += 1;
    if (fault !== undefined) fault.disconnected += 1;
    this.example(`participant ${participant} of ${session.room} on ${session.shard} disconnected (${cause}) without a fault of its shard`);
  }

  /** Failed joins by what went wrong (`no-focus`, `join timeout`, `upgrade answered 503`, …). */
  readonly failures = new Map<string, number>();

  failed(why: string): void {
    this.failedJoins += 1;
    for (const counts of [this.failures, ...this.active().map((window) => window.failures)]) counts.set(why, (counts.get(why) ?? 0) + 1);
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

  /** Running conferences per shard (a split room counts on each of its shards). */
  conferencesPerShard(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const shards of this.live.values()) for (const [shard, sessions] of shards) if (sessions > 0) counts.set(shard, (counts.get(shard) ?? 0) + 1);
    return counts;
  }

  /** The shard a room runs on now (its largest part), if it runs. */
  shardOf(room: string): string | undefined {
    return [...(this.live.get(room) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1])[0]?.[0];
  }

  private moved(room: string, from: string, to: string): void {
    this.moves.push({ room, at: performance.timeOrigin + this.now() });
    const fault = this.faultOn(from);
    if (fault === undefined || fault.kind === 'weight' || fault.kind === 'fleet') {
      this.movedWithoutFault.add(room);
      this.example(`room ${room} moved ${from} → ${to} without a fault on ${from}`);
      this.anomaly(room, `moved ${from} → ${to} without a fault on ${from}`);
      for (const window of this.active()) {
        window.movedRooms.add(room);
        window.movedWithoutFault.add(room);
      }
      return;
    }
    fault.movedRooms.add(room);
    if (fault.kind === 'sidecar') {
      this.restartMoved.add(room);
      this.example(`room ${room} moved ${from} → ${to} during ${fault.name}`);
    } else if (fault.kind === 'drain') {
      this.drainMoved.add(room);
      fault.drainMoves.add(room);
      this.example(`room ${room} moved off draining ${from} → ${to} during ${fault.name}`);
    } else {
      this.failedOver.add(room);
    }
  }

  private checkSplit(room: string): void {
    const serving = [...(this.live.get(room)?.keys() ?? [])].filter((shard) => !this.dead(shard));
    const open = this.splitNow.get(room);
    if (serving.length < 2) {
      if (open !== undefined) {
        const lasted = Math.round(this.now() - open.since);
        open.record.to = this.iso(this.now());
        open.record.durationMs = lasted;
        for (const window of open.windows) window.longestSplitMs = Math.max(window.longestSplitMs ?? 0, lasted);
        this.splitNow.delete(room);
      }
      return;
    }
    if (open !== undefined) return;
    const record: SplitRecord = { room, shards: serving, from: this.iso(this.now()), to: null, durationMs: null };
    this.splits.push(record);
    const windows = this.active();
    this.splitNow.set(room, { record, since: this.now(), windows });
    this.example(`room ${room} split over ${serving.join(', ')}`);
    this.anomaly(room, `split over ${serving.join(', ')}`);
    this.splitRooms.add(room);
    for (const window of windows) window.splitRooms.add(room);
  }

  private iso(at: number): string {
    return new Date(performance.timeOrigin + at).toISOString();
  }

  /** What the ledger knows of a room: live sessions per shard. */
  roomView(room: string): string {
    return JSON.stringify(Object.fromEntries(this.live.get(room) ?? new Map<string, number>()));
  }

  example(line: string): void {
    if (this.examples.length < 200) this.examples.push(`${Math.round(this.now())} ms: ${line}`);
  }
}
