import net from 'node:net';
import type { Upstream } from '../collect/sources';
import type { SourceName } from '../decide/samples';

/**
 * A crash is seen when it happens, not at the next poll: one idle TCP
 * connection is held open to each upstream, and a process that dies or exits
 * closes it (the kernel sends FIN or RST as it tears the process down, after
 * freeing its memory: milliseconds, more for a large heap). Its close asks for an
 * ordinary probe of the sources behind that upstream, which finds the port
 * refusing (a hard failure, as at any poll), and the watch connects again.
 *
 * Upstreams also close idle connections on their own (Jetty after 30 s,
 * prosody after 14 min, an nginx in front after 60 s): that close asks for a
 * probe too, which simply succeeds. Nothing here tells the two apart, which
 * is what keeps it simple and right.
 *
 * The policy (when to probe, when to connect) is pure and on an injected
 * clock; watchConnection below only carries it out on a socket.
 */

/** Least time between two probes a watch asks for; it also makes at most two connection attempts in this time. */
export const WATCH_GAP_MS = 1000;

export interface WatchTiming {
  readonly gapMs: number;
  /** Wait after a failed attempt (refused, timed out): a down upstream is not dialled in a loop. */
  readonly retryMs: number;
}

/** A failed attempt is retried at the polling interval: no sooner than a poll would notice the upstream back. */
export function watchTiming(pollingIntervalMs: number): WatchTiming {
  return { gapMs: WATCH_GAP_MS, retryMs: Math.max(WATCH_GAP_MS, pollingIntervalMs) };
}

export interface WatchMemory {
  /** When the latest probe asked for ran or will run; after `now`, one is pending. */
  readonly lastProbeAt: number;
  /** The two latest connection attempts, older first. */
  readonly attempts: readonly [number, number];
}

export const FRESH_WATCH: WatchMemory = {
  lastProbeAt: Number.NEGATIVE_INFINITY,
  attempts: [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
};

/**
 * `start`: the watch begins. `closed`: a connection that was open ended (the
 * upstream closed it, reset it, or sent something). `failed`: an attempt
 * did not connect (refused, unreachable, timed out). `answered`: a probe of
 * the sources behind the upstream succeeded.
 */
export type WatchEvent = 'start' | 'closed' | 'failed' | 'answered';

export interface WatchPlan {
  readonly memory: WatchMemory;
  /** When to probe the sources behind this upstream; null: no probe (or the pending one stands). */
  readonly probeAt: number | null;
  /** The pending probe is replaced by this one. */
  readonly dropPending: boolean;
  /** When to try to connect; null: as planned before. */
  readonly connectAt: number | null;
}

/** What to do after `event` at `now`. Pure. */
export function plan(memory: WatchMemory, event: WatchEvent, now: number, timing: WatchTiming): WatchPlan {
  const [older, newer] = memory.attempts;
  const pending = memory.lastProbeAt > now;
  switch (event) {
    case 'start':
      return planned(memory, null, now);
    case 'closed':
      // Probe at once, unless a probe was asked for less than a gap ago:
      // then once more when the gap is over, which later closes join.
      // Connect twice per gap at most: an idle close just before a crash
      // still finds the port refusing at once, and an upstream that closes
      // every connection straight away is not dialled in a loop.
      return planned(memory, pending ? null : Math.max(now, memory.lastProbeAt + timing.gapMs), Math.max(now, older + timing.gapMs));
    case 'failed':
      // Refused while a probe waits for its gap: the upstream went between
      // two closes (an idle close, then a crash): probe now. Otherwise the
      // close before already probed, and the scheduled polls report the
      // upstream while it stays away.
      return planned(memory, pending ? now : null, Math.max(now, newer + timing.retryMs), pending);
    case 'answered': {
      // Waiting out a retry while the upstream answers again (restarted):
      // watch it now, not at the end of the retry, so it is watched by the
      // time the node is reported up again.
      const sooner = Math.max(now, older + timing.gapMs);
      if (newer <= now || sooner >= newer) return { memory, probeAt: null, dropPending: false, connectAt: null };
      return { memory: { ...memory, attempts: [older, sooner] }, probeAt: null, dropPending: false, connectAt: sooner };
    }
  }
}

function planned(memory: WatchMemory, probeAt: number | null, connectAt: number, dropPending = false): WatchPlan {
  return {
    memory: { lastProbeAt: probeAt ?? memory.lastProbeAt, attempts: [memory.attempts[1], connectAt] },
    probeAt,
    dropPending,
    connectAt,
  };
}

export type WatchCount = 'connected' | 'closed' | 'failed';

export interface ConnectionWatch {
  /** A probe of the sources behind the upstream succeeded. */
  answered(): void;
  close(): void;
}

export interface WatchTarget {
  readonly host: string;
  readonly port: number;
}

/** Host and port of an http(s) origin (its path, if any, does not matter to a TCP connection). */
export function targetOf(origin: string): WatchTarget {
  const url = new URL(origin);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

export interface ConnectionWatchOptions {
  readonly timing: WatchTiming;
  /** How long an attempt may take to connect before it counts as failed. */
  readonly connectTimeoutMs: number;
  readonly now: () => number;
  /** Asks for a probe of the sources behind this upstream. */
  readonly probe: () => void;
  readonly counted: (event: WatchCount) => void;
}

/**
 * Keep-alive probes find a peer that vanished without a word (a host gone,
 * a container moved), so the watch does not sit on a dead connection. They
 * are TCP-level: an upstream's idle timeout does not see them.
 */
const KEEPALIVE_MS = 60_000;

/** Holds one idle connection to `target` and carries out `plan` on its events. */
export function watchConnection(target: WatchTarget, options: ConnectionWatchOptions): ConnectionWatch {
  const { timing, now } = options;
  let memory = FRESH_WATCH;
  let socket: net.Socket | undefined;
  let connectTimer: NodeJS.Timeout | undefined;
  // A late timer may still be due when the next probe is planned a gap later: both stand.
  const probes = new Set<NodeJS.Timeout>();
  let stopped = false;

  const carryOut = (event: WatchEvent): void => {
    const next = plan(memory, event, now(), timing);
    memory = next.memory;
    if (next.dropPending) {
      for (const timer of probes) clearTimeout(timer);
      probes.clear();
    }
    if (next.probeAt !== null && next.probeAt <= now()) {
      options.probe();
    } else if (next.probeAt !== null) {
      const timer = later(next.probeAt - now(), () => {
        probes.delete(timer);
        options.probe();
      });
      probes.add(timer);
    }
    if (next.connectAt !== null) {
      clearTimeout(connectTimer);
      connectTimer = later(next.connectAt - now(), connect);
    }
  };

  const connect = (): void => {
    if (stopped) return;
    const attempt = net.connect({ host: target.host, port: target.port });
    socket = attempt;
    attempt.unref();
    attempt.setTimeout(options.connectTimeoutMs);
    let open = false;
    let over = false;
    const end = (): void => {
      if (over) return;
      over = true;
      attempt.destroy();
      if (stopped) return;
      options.counted(open ? 'closed' : 'failed');
      carryOut(open ? 'closed' : 'failed');
    };
    attempt.once('connect', () => {
      open = true;
      attempt.setTimeout(0);
      attempt.setKeepAlive(true, KEEPALIVE_MS);
      options.counted('connected');
    });
    // An idle upstream has nothing to say; what it does send (Node's 408)
    // comes just before its close, so it ends the connection here and now.
    attempt.on('data', end);
    // 'end' (FIN) comes before 'close', which waits for our side to finish.
    attempt.once('end', end);
    attempt.once('timeout', end);
    attempt.once('close', end);
    attempt.on('error', end);
  };

  carryOut('start');
  return {
    answered: () => carryOut('answered'),
    close() {
      stopped = true;
      clearTimeout(connectTimer);
      for (const timer of probes) clearTimeout(timer);
      socket?.destroy();
    },
  };
}

function later(delayMs: number, run: () => void): NodeJS.Timeout {
  const timer = setTimeout(run, Math.max(0, delayMs));
  timer.unref();
  return timer;
}

export interface UpstreamWatchDeps {
  readonly pollingIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly now: () => number;
  readonly refresh: (sources: readonly SourceName[]) => void;
  readonly counted: (upstream: Upstream['name'], event: WatchCount) => void;
}

export interface UpstreamsWatch {
  /** A probe of `source` succeeded. */
  answered(source: SourceName): void;
  close(): void;
}

/** One watch per upstream; a close probes the sources behind that upstream through the poller. */
export function watchUpstreams(upstreams: readonly Upstream[], deps: UpstreamWatchDeps): UpstreamsWatch {
  const timing = watchTiming(deps.pollingIntervalMs);
  const watches = upstreams.map((upstream) =>
    watchConnection(targetOf(upstream.origin), {
      timing,
      connectTimeoutMs: deps.connectTimeoutMs,
      now: deps.now,
      probe: () => deps.refresh(upstream.sources),
      counted: (event) => deps.counted(upstream.name, event),
    }),
  );
  return {
    answered(source) {
      upstreams.forEach((upstream, i) => {
        if (upstream.sources.includes(source)) watches[i]?.answered();
      });
    },
    close() {
      for (const watch of watches) watch.close();
    },
  };
}
