import type { Browser } from './browser';
import type { ClientSettings, ConferenceSession, EndCause, OnEnd, Opened } from './session';
import { words } from './session';
import { between, Timers } from './timers';

/**
 * A jitsi-meet BOSH client (strophe's long polling): one POST to
 * `/http-bind?room=` creates the session on whichever shard HAProxy picks,
 * then one poll at a time is held by that shard and, once answered, the next
 * one follows a network round trip later, so between two polls the
 * participant has no open request at all. Every poll is routed by HAProxy
 * again: one that reaches another shard is answered `terminate` (that shard
 * has no such session) and the client has to reload. A poll that fails or
 * goes unanswered is sent again; two failures in a row end the session.
 * test/helpers/bosh-sessions.ts is the shard's side.
 */
export class BoshSession implements ConferenceSession {
  private sid = '';
  private readonly timers = new Timers();
  private failures = 0;
  private over = false;
  /** Aborts the poll in flight: a reloading tab drops its requests, and they must not hold its connections. */
  private readonly requests = new AbortController();

  constructor(
    private readonly room: string,
    private readonly browser: Browser,
    private readonly settings: ClientSettings,
    private readonly onEnd: OnEnd,
  ) {}

  private get path(): string {
    return `/http-bind?room=${encodeURIComponent(this.room)}`;
  }

  async open(): Promise<Opened> {
    const answer = await this.browser.request('POST', this.path, this.settings.joinTimeoutMs);
    const [word = '', shard = '', sid = ''] = words(answer.body);
    if (answer.status !== 200) return { joined: false, why: answer.status === 0 ? `bosh ${answer.body}` : `bosh ${answer.status}`, shard: null };
    if (word !== 'joined') return { joined: false, why: word, shard: shard === '' ? null : shard };
    this.sid = sid;
    this.schedulePoll();
    return { joined: true, shard, via: answer.via };
  }

  leave(): void {
    const sid = this.sid;
    this.close();
    if (sid !== '') void this.browser.request('POST', `${this.path}&sid=${sid}&type=terminate`, this.settings.joinTimeoutMs);
  }

  close(): void {
    this.over = true;
    this.timers.clear();
    this.requests.abort();
  }

  private end(cause: EndCause): void {
    if (this.over) return;
    this.close();
    this.onEnd(cause);
  }

  private schedulePoll(): void {
    this.timers.after(between(...this.settings.boshRoundTripMs), () => void this.poll());
  }

  private async poll(): Promise<void> {
    const hold = between(...this.settings.boshHoldMs);
    const answer = await this.browser.request('POST', `${this.path}&sid=${this.sid}&hold=${hold}`, hold + this.settings.pingTimeoutMs, this.requests.signal);
    if (this.over) return;
    const [word = ''] = words(answer.body);
    if (answer.status === 200 && word === 'ok') {
      this.failures = 0;
      this.schedulePoll();
    } else if (answer.status === 200 && word === 'ended') {
      this.end('ended');
    } else if (answer.status === 200 && word === 'terminate') {
      this.end('terminated');
    } else {
      this.failures += 1;
      if (this.failures >= this.settings.pingThreshold) this.end(answer.body === 'timeout' ? 'ping' : 'closed');
      else this.schedulePoll();
    }
  }
}
