import http from 'node:http';
import net from 'node:net';
import { upgradeRequest } from '../../test/helpers/conference-server';

/**
 * A simulated participant joining as jitsi-meet does through HAProxy: a page
 * request carrying `?room=` (config.js), then one long-lived connection, a
 * real HTTP/1.1 Upgrade of `/xmpp-websocket?room=` (test/helpers/
 * conference-server.ts has the wire protocol). It pings as lib-jitsi-meet does
 * (every 10 s, 5 s timeout, the connection given up after 2 missed pings) and
 * joins again when its conference ends or its connection drops, the way the
 * client's reload does, retrying with back-off while joins fail.
 */

export interface ClientSettings {
  readonly frontend: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly pingThreshold: number;
  /** A join (page request, upgrade, first line) that takes longer has failed. */
  readonly joinTimeoutMs: number;
  /** Back-off between failed joins: base × 2^n, capped, then a random half to all of it. */
  readonly retryBaseMs: number;
  readonly retryCapMs: number;
  /** The pause between a session's end and the next join (the reload). */
  readonly reloadMs: number;
}

/**
 * Why a session ended: the shard said the conference is over (`ended`), the
 * connection closed without a word (HAProxy or the shard closed it), pings
 * went unanswered, or the participant left.
 */
export type EndCause = 'ended' | 'closed' | 'ping' | 'left';

export interface ClientEvents {
  joined(participant: Participant, shard: string): void;
  ended(participant: Participant, shard: string, cause: EndCause): void;
  /** `shard` is who answered, when known (`no-focus`). */
  failed(participant: Participant, why: string, shard: string | null): void;
}

type Phase = 'idle' | 'joining' | 'live' | 'stopped';

export class Participant {
  private phase: Phase = 'idle';
  private socket: net.Socket | undefined;
  private shardName: string | undefined;
  private failures = 0;
  private missedPings = 0;
  private timers: NodeJS.Timeout[] = [];
  private awaitingPong: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    public room: string,
    private readonly settings: ClientSettings,
    private readonly events: ClientEvents,
    private readonly agent: http.Agent,
  ) {}

  get live(): boolean {
    return this.phase === 'live';
  }

  get shard(): string | undefined {
    return this.phase === 'live' ? this.shardName : undefined;
  }

  /** Joins after `delayMs`. */
  join(delayMs = 0): void {
    if (this.phase === 'stopped') return;
    this.phase = 'joining';
    this.later(delayMs, () => void this.attempt());
  }

  /** Leaves its conference (a `bye`), and joins `room` again after `rejoinMs` (null: stays away). */
  leave(rejoinMs: number | null, room = this.room): void {
    if (this.phase !== 'live' || this.socket === undefined) return;
    const shard = this.shardName ?? '';
    const socket = this.socket;
    this.reset();
    socket.end('bye\n');
    this.events.ended(this, shard, 'left');
    this.room = room;
    this.phase = 'idle';
    if (rejoinMs !== null) this.join(rejoinMs);
  }

  stop(): void {
    this.phase = 'stopped';
    this.reset();
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((candidate) => candidate !== timer);
      action();
    }, ms);
    this.timers.push(timer);
  }

  private reset(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    clearTimeout(this.awaitingPong);
    this.awaitingPong = undefined;
    this.socket?.removeAllListeners();
    this.socket?.on('error', () => undefined);
    this.socket?.destroy();
    this.socket = undefined;
  }

  private async attempt(): Promise<void> {
    if (this.phase !== 'joining') return;
    const page = await this.page();
    if (this.phase !== 'joining') return;
    if (page !== null) {
      this.retry(page, null);
      return;
    }
    this.upgrade();
  }

  /** config.js?room=: null when it answered 200. */
  private page(): Promise<string | null> {
    return new Promise((resolve) => {
      const request = http.get(
        { host: '127.0.0.1', port: this.settings.frontend, path: `/config.js?room=${encodeURIComponent(this.room)}`, agent: this.agent },
        (response) => {
          response.resume();
          response.once('end', () => resolve(response.statusCode === 200 ? null : `page ${response.statusCode ?? 0}`));
          response.once('error', () => resolve('page cut'));
        },
      );
      request.setTimeout(this.settings.joinTimeoutMs, () => request.destroy(new Error('timeout')));
      request.once('error', (error) => resolve(`page ${error.message}`));
    });
  }

  private upgrade(): void {
    const socket = net.connect(this.settings.frontend, '127.0.0.1');
    this.socket = socket;
    let buffered = '';
    let upgraded = false;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    const deadline = setTimeout(() => this.retry('join timeout', null), this.settings.joinTimeoutMs);
    this.timers.push(deadline);
    socket.once('connect', () => socket.write(upgradeRequest(this.room)));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const status = buffered.slice(0, buffered.indexOf('\r\n'));
        buffered = buffered.slice(end + 4);
        if (!status.startsWith('HTTP/1.1 101')) {
          this.retry(`upgrade answered ${status.slice(9, 12)}`, null);
          return;
        }
        upgraded = true;
      }
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        this.onLine(line);
        if (this.socket !== socket) return;
        newline = buffered.indexOf('\n');
      }
    });
    socket.once('error', () => undefined);
    socket.once('close', () => {
      if (this.socket !== socket) return;
      if (this.phase === 'live') this.endSession('closed');
      else this.retry(upgraded ? 'closed after upgrade' : 'closed before upgrade', null);
    });
  }

  private onLine(line: string): void {
    const [word, shard = ''] = line.split(' ');
    if (this.phase === 'joining') {
      if (word === 'joined') {
        for (const timer of this.timers) clearTimeout(timer);
        this.timers = [];
        this.phase = 'live';
        this.shardName = shard;
        this.failures = 0;
        this.missedPings = 0;
        this.events.joined(this, shard);
        this.schedulePing(Math.random() * this.settings.pingIntervalMs);
      } else {
        this.retry(word ?? 'no answer', shard === '' ? null : shard);
      }
      return;
    }
    if (word === 'pong') {
      clearTimeout(this.awaitingPong);
      this.awaitingPong = undefined;
      this.missedPings = 0;
    } else if (word === 'ended') {
      this.endSession('ended');
    }
  }

  private schedulePing(delayMs: number): void {
    this.later(delayMs, () => {
      if (this.phase !== 'live' || this.socket === undefined) return;
      if (this.awaitingPong === undefined) {
        this.socket.write('ping\n');
        this.awaitingPong = setTimeout(() => {
          this.awaitingPong = undefined;
          this.missedPings += 1;
          if (this.missedPings >= this.settings.pingThreshold) this.endSession('ping');
        }, this.settings.pingTimeoutMs);
      }
      this.schedulePing(this.settings.pingIntervalMs);
    });
  }

  private endSession(cause: EndCause): void {
    const shard = this.shardName ?? '';
    this.reset();
    this.phase = 'idle';
    this.events.ended(this, shard, cause);
    this.join(this.settings.reloadMs);
  }

  private retry(why: string, shard: string | null): void {
    if (this.phase !== 'joining') return;
    this.reset();
    this.events.failed(this, why, shard);
    const base = Math.min(this.settings.retryCapMs, this.settings.retryBaseMs * 2 ** this.failures);
    this.failures += 1;
    this.join(base * (0.5 + Math.random() / 2));
  }
}
