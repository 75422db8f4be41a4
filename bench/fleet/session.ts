/** What a participant's conference session is, whatever carries it (websocket or BOSH). */

export type ClientKind = 'websocket' | 'bosh';

export interface ClientSettings {
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly pingThreshold: number;
  /** A join (page, conference request, session) that takes longer has failed. */
  readonly joinTimeoutMs: number;
  /** Back-off between failed joins: base × 2^n, capped, then a random half to all of it. */
  readonly retryBaseMs: number;
  readonly retryCapMs: number;
  /** The pause between a session's end and the next join (the reload). */
  readonly reloadMs: number;
  /** lib-jitsi-meet's websocketKeepAlive: a GET of the websocket URL every keepAlive × (0.2 … 1.0). 0: none. */
  readonly websocketKeepAliveMs: number;
  /** How long the shard holds a BOSH poll (a random time in this range), and the round trip before the next one. */
  readonly boshHoldMs: readonly [number, number];
  readonly boshRoundTripMs: readonly [number, number];
}

/**
 * Why a session ended: the shard said the conference is over (`ended`), the
 * connection closed without a word (HAProxy or the shard closed it), pings or
 * polls went unanswered (`ping`), a BOSH poll reached a shard that does not
 * know the session (`terminated`), a websocket keep-alive was answered by
 * another shard (`shard-changed`: jitsi-meet reloads), or the participant left.
 */
export type EndCause = 'ended' | 'closed' | 'ping' | 'terminated' | 'shard-changed' | 'left';

export type Opened = { readonly joined: true; readonly shard: string; readonly via: number } | { readonly joined: false; readonly why: string; readonly shard: string | null };

export interface ConferenceSession {
  /** Joins; resolves with the shard and the HAProxy that carried the join, or with why not. */
  open(): Promise<Opened>;
  /** The participant leaves its conference (a `bye`, a BOSH terminate). */
  leave(): void;
  /** Drops everything without a word (the bench stops). */
  close(): void;
}

/** Called once when an open session ends by itself. */
export type OnEnd = (cause: EndCause) => void;

/** The first words of a shard's answer line: `joined shard1 sid`. */
export function words(line: string): string[] {
  return line.trim().split(' ');
}
