import { randomBytes } from 'node:crypto';
import type http from 'node:http';

/**
 * A shard's BOSH sessions, as prosody's mod_bosh keeps them for jitsi-meet
 * clients that long-poll `/http-bind?room=` instead of holding a websocket.
 * A session lives on the shard that created it: a request carrying a `sid`
 * this shard does not know (the room's requests were sent to another shard)
 * is answered `terminate`, as prosody answers an unknown session with a
 * `type='terminate'` body (still HTTP 200), and the client has to reload.
 *
 * Wire protocol (POST; the body is not read, the query says what is meant):
 * - no `sid`: a new session, answered `joined <shard> <sid>`, or `no-focus
 *   <shard>` while no jicofo is connected;
 * - `sid=S&hold=ms`: a poll, held that long (as prosody holds a request until it
 *   has something to send), then answered `ok <shard>`; `ended <shard>` when
 *   the conference is over; a newer poll releases a held one, as in BOSH;
 * - `sid=S&type=terminate`: the participant leaves, answered `bye <shard>`.
 * A session with no poll held for `inactivityMs` is dropped (prosody's
 * bosh_max_inactivity), as when a client vanishes.
 */

interface BoshSession {
  readonly sid: string;
  readonly room: string;
  held: http.ServerResponse | undefined;
  heldTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** The conference ended while no poll was held: the next poll hears it. */
  ended: boolean;
}

const HOLD_LIMIT_MS = 120_000;
/** prosody's default bosh_max_inactivity. */
export const BOSH_INACTIVITY_MS = 60_000;

export class BoshSessions {
  private readonly sessions = new Map<string, BoshSession>();

  constructor(
    private readonly shard: string,
    private readonly hasFocus: () => boolean,
    private readonly inactivityMs = BOSH_INACTIVITY_MS,
  ) {}

  handle(query: URLSearchParams, res: http.ServerResponse): void {
    const sid = query.get('sid');
    if (sid === null) {
      this.create(query.get('room') ?? '', res);
      return;
    }
    const session = this.sessions.get(sid);
    if (session === undefined) {
      this.answer(res, 'terminate');
      return;
    }
    if (query.get('type') === 'terminate') {
      this.drop(session, 'ok');
      this.answer(res, 'bye');
      return;
    }
    if (session.ended) {
      this.drop(session, 'ended');
      this.answer(res, 'ended');
      return;
    }
    this.hold(session, res, Math.min(Number(query.get('hold') ?? 0) || 0, HOLD_LIMIT_MS));
  }

  /** Focus left: every conference of the shard is over. */
  endAll(): void {
    for (const session of this.sessions.values()) {
      if (session.held === undefined) session.ended = true;
      else this.drop(session, 'ended');
    }
  }

  /** Adds the live sessions per room into `rooms`. */
  count(rooms: Record<string, number>): void {
    for (const session of this.sessions.values()) if (!session.ended) rooms[session.room] = (rooms[session.room] ?? 0) + 1;
  }

  close(): void {
    for (const session of this.sessions.values()) this.drop(session, 'ended');
  }

  private create(room: string, res: http.ServerResponse): void {
    if (!this.hasFocus()) {
      this.answer(res, 'no-focus');
      return;
    }
    const sid = randomBytes(8).toString('hex');
    const session: BoshSession = { sid, room, held: undefined, heldTimer: undefined, idleTimer: undefined, ended: false };
    this.sessions.set(sid, session);
    this.idle(session);
    this.answer(res, 'joined', sid);
  }

  private hold(session: BoshSession, res: http.ServerResponse, holdMs: number): void {
    this.release(session, 'ok');
    clearTimeout(session.idleTimer);
    session.held = res;
    session.heldTimer = setTimeout(() => this.release(session, 'ok'), holdMs);
    session.heldTimer.unref();
    // The client or HAProxy gave up on the request: the session waits for the next one.
    res.once('close', () => {
      if (session.held !== res) return;
      clearTimeout(session.heldTimer);
      session.held = undefined;
      if (this.sessions.get(session.sid) === session) this.idle(session);
    });
  }

  /** Answers the held poll, if any; the session then waits for the next one. */
  private release(session: BoshSession, word: string): void {
    const res = session.held;
    if (res === undefined) return;
    clearTimeout(session.heldTimer);
    session.held = undefined;
    this.answer(res, word);
    if (this.sessions.get(session.sid) === session) this.idle(session);
  }

  private idle(session: BoshSession): void {
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => this.drop(session, 'ended'), this.inactivityMs);
    session.idleTimer.unref();
  }

  /** Forgets the session first, so releasing its held poll starts no idle timer. */
  private drop(session: BoshSession, word: string): void {
    this.sessions.delete(session.sid);
    clearTimeout(session.idleTimer);
    this.release(session, word);
  }

  private answer(res: http.ServerResponse, word: string, sid?: string): void {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'x-jitsi-shard': this.shard }).end(`${word} ${this.shard}${sid === undefined ? '' : ` ${sid}`}\n`);
  }
}
