import { BoshSession } from './bosh-session';
import type { Browser } from './browser';
import type { ClientKind, ClientSettings, ConferenceSession, EndCause } from './session';
import { Timers } from './timers';
import { WebsocketSession } from './websocket-session';

/**
 * A simulated participant joining as jitsi-meet does through HAProxy: the
 * page (`config.js?room=`), the conference request, then its session, over a
 * websocket or BOSH (websocket-session.ts, bosh-session.ts). When its session
 * ends it reloads and joins again, retrying with back-off while joins fail.
 */

export interface ClientEvents {
  /** `via`: the HAProxy that carried the join. */
  joined(participant: Participant, shard: string, via: number): void;
  ended(participant: Participant, shard: string, cause: EndCause): void;
  /** `shard` is who answered, when known (`no-focus`). */
  failed(participant: Participant, why: string, shard: string | null): void;
}

type Phase = 'idle' | 'joining' | 'live' | 'stopped';

const SESSIONS = { websocket: WebsocketSession, bosh: BoshSession } as const;

export class Participant {
  private phase: Phase = 'idle';
  private session: ConferenceSession | undefined;
  private shardName: string | undefined;
  private failures = 0;
  private readonly timers = new Timers();

  constructor(
    readonly id: number,
    public room: string,
    readonly kind: ClientKind,
    private readonly settings: ClientSettings,
    private readonly events: ClientEvents,
    private readonly browser: Browser,
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
    this.timers.after(delayMs, () => void this.attempt());
  }

  /** Leaves its conference, and joins `room` again after `rejoinMs` (null: stays away). */
  leave(rejoinMs: number | null, room = this.room): void {
    if (this.phase !== 'live' || this.session === undefined) return;
    const shard = this.shardName ?? '';
    this.session.leave();
    this.session = undefined;
    this.events.ended(this, shard, 'left');
    this.room = room;
    this.phase = 'idle';
    if (rejoinMs !== null) this.join(rejoinMs);
  }

  stop(): void {
    this.phase = 'stopped';
    this.timers.clear();
    this.session?.close();
    this.session = undefined;
    this.browser.close();
  }

  private async attempt(): Promise<void> {
    if (this.phase !== 'joining') return;
    const room = encodeURIComponent(this.room);
    // The page and the conference request come first, each routed by the room like everything after them.
    for (const [method, path] of [['GET', `/config.js?room=${room}`], ['POST', `/conference-request/v1?room=${room}`]] as const) {
      const answer = await this.browser.request(method, path, this.settings.joinTimeoutMs);
      if (this.phase !== 'joining') return;
      if (answer.status !== 200) {
        this.retry(`${path.split('?')[0] ?? path} ${answer.status === 0 ? answer.body : answer.status}`, null);
        return;
      }
    }
    const session: ConferenceSession = new SESSIONS[this.kind](this.room, this.browser, this.settings, (cause) => this.ended(session, cause));
    this.session = session;
    const opened = await session.open();
    if (this.phase !== 'joining' || this.session !== session) {
      session.close();
      return;
    }
    if (!opened.joined) {
      this.session = undefined;
      this.retry(opened.why, opened.shard);
      return;
    }
    this.phase = 'live';
    this.shardName = opened.shard;
    this.failures = 0;
    this.events.joined(this, opened.shard, opened.via);
  }

  private ended(session: ConferenceSession, cause: EndCause): void {
    if (this.session !== session || this.phase !== 'live') return;
    this.session = undefined;
    this.phase = 'idle';
    this.events.ended(this, this.shardName ?? '', cause);
    this.join(this.settings.reloadMs);
  }

  private retry(why: string, shard: string | null): void {
    if (this.phase !== 'joining') return;
    this.events.failed(this, why, shard);
    const base = Math.min(this.settings.retryCapMs, this.settings.retryBaseMs * 2 ** this.failures);
    this.failures += 1;
    this.join(base * (0.5 + Math.random() / 2));
  }
}
