import type net from 'node:net';
import { upgradeRequest } from '../../test/helpers/conference-server';
import type { Browser } from './browser';
import type { ClientSettings, ConferenceSession, OnEnd, Opened } from './session';
import { words } from './session';
import { Timers } from './timers';

/**
 * A jitsi-meet websocket client: a real HTTP/1.1 Upgrade of
 * `/xmpp-websocket?room=` (test/helpers/conference-server.ts has the wire
 * protocol), pings as lib-jitsi-meet sends them (every 10 s, 5 s timeout,
 * given up after 2 missed), and its keep-alive: a plain GET of the websocket
 * URL every websocketKeepAlive × (0.2 … 1.0), whose `x-jitsi-shard` answer is
 * compared with the shard it joined; another shard means the room was moved,
 * and jitsi-meet reloads.
 */
/**
 * Reads an upgraded connection: the answer's status line goes to `status`
 * (which says whether to go on), then every line after the 101 to `line`.
 */
function readUpgraded(socket: net.Socket, status: (line: string) => boolean, line: (text: string) => void): void {
  let buffered = '';
  let upgraded = false;
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    if (!upgraded) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const first = buffered.slice(0, buffered.indexOf('\r\n'));
      buffered = buffered.slice(end + 4);
      if (!status(first)) return;
      upgraded = true;
    }
    for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      line(text);
    }
  });
}

export class WebsocketSession implements ConferenceSession {
  private socket: net.Socket | undefined;
  private readonly timers = new Timers();
  private awaitingPong: NodeJS.Timeout | undefined;
  private missedPings = 0;
  private shard = '';
  private over = false;

  constructor(
    private readonly room: string,
    private readonly browser: Browser,
    private readonly settings: ClientSettings,
    private readonly onEnd: OnEnd,
  ) {}

  open(): Promise<Opened> {
    return new Promise((resolve) => {
      const { socket, via } = this.browser.connect();
      this.socket = socket;
      let upgraded = false;
      let opened = false;
      const fail = (why: string, shard: string | null = null): void => {
        if (opened) return;
        opened = true;
        this.close();
        resolve({ joined: false, why, shard });
      };
      this.timers.after(this.settings.joinTimeoutMs, () => fail('join timeout'));
      socket.setEncoding('utf8');
      socket.setNoDelay(true);
      socket.once('connect', () => socket.write(upgradeRequest(this.room)));
      const upgrade = (status: string): boolean => {
        upgraded = status.startsWith('HTTP/1.1 101');
        if (!upgraded) fail(`upgrade answered ${status.slice(9, 12)}`);
        return upgraded;
      };
      readUpgraded(socket, upgrade, (line) => {
        if (this.socket !== socket) return;
        const [word = '', shard = ''] = words(line);
        if (opened) {
          this.onLine(word);
        } else if (word === 'joined') {
          opened = true;
          this.started(shard);
          resolve({ joined: true, shard, via });
        } else {
          fail(word === '' ? 'no answer' : word, shard === '' ? null : shard);
        }
      });
      socket.once('error', () => undefined);
      socket.once('close', () => {
        if (this.socket !== socket) return;
        if (opened) this.end('closed');
        else fail(upgraded ? 'closed after upgrade' : 'closed before upgrade');
      });
    });
  }

  leave(): void {
    const socket = this.socket;
    this.close();
    socket?.end('bye\n');
  }

  close(): void {
    this.over = true;
    this.timers.clear();
    this.awaitingPong = undefined;
    const socket = this.socket;
    this.socket = undefined;
    socket?.removeAllListeners();
    socket?.on('error', () => undefined);
    socket?.destroy();
  }

  /** Joined `shard`: pings and keep-alives begin. */
  private started(shard: string): void {
    this.timers.clear();
    this.shard = shard;
    this.schedulePing(Math.random() * this.settings.pingIntervalMs);
    this.scheduleKeepAlive();
  }

  private end(cause: Parameters<OnEnd>[0]): void {
    if (this.over) return;
    this.close();
    this.onEnd(cause);
  }

  private onLine(word: string): void {
    if (word === 'pong') {
      this.timers.cancel(this.awaitingPong);
      this.awaitingPong = undefined;
      this.missedPings = 0;
    } else if (word === 'ended') {
      this.end('ended');
    }
  }

  private schedulePing(delayMs: number): void {
    this.timers.after(delayMs, () => {
      if (this.socket === undefined) return;
      if (this.awaitingPong === undefined) {
        this.socket.write('ping\n');
        this.awaitingPong = this.timers.after(this.settings.pingTimeoutMs, () => {
          this.awaitingPong = undefined;
          this.missedPings += 1;
          if (this.missedPings >= this.settings.pingThreshold) this.end('ping');
        });
      }
      this.schedulePing(this.settings.pingIntervalMs);
    });
  }

  /** lib-jitsi-meet's `_maybeStartWSKeepAlive`: the next GET a random 20–100 % of the interval later. */
  private scheduleKeepAlive(): void {
    const every = this.settings.websocketKeepAliveMs;
    if (every <= 0) return;
    this.timers.after(every * (0.2 + 0.8 * Math.random()), () => {
      void this.browser.request('GET', `/xmpp-websocket?room=${encodeURIComponent(this.room)}`, this.settings.joinTimeoutMs).then((answer) => {
        if (this.over) return;
        // A failed keep-alive is only logged by the client; a shard that is not ours means the room moved.
        if (answer.shard !== undefined && answer.shard !== this.shard) this.end('shard-changed');
        else this.scheduleKeepAlive();
      });
    });
  }
}
