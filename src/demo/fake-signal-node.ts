import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

/**
 * A simulated signal node for the demo and the tests: a jicofo and a prosody
 * on loopback answering with payloads captured from the real services, each
 * reply switchable at run time (error codes, hangs, resets, junk).
 */

export type Reply =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly body: string;
      readonly contentType?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /**
   * A 200 whose body (no Content-Length) is `bytes` long, written `chunkBytes`
   * at a time with `gapMs` between pieces: a huge body (gap 0), a dripping one
   * (tiny chunks, long gaps), or a body split exactly where the reader's cap is.
   */
  | { readonly kind: 'stream'; readonly bytes: number; readonly chunkBytes: number; readonly gapMs: number; readonly prefix?: string }
  /** Accepts the request and never answers. */
  | { readonly kind: 'hang' }
  /** Destroys the connection without an answer. */
  | { readonly kind: 'reset' };

export type Endpoint = 'jicofoHealth' | 'jicofoStats' | 'prosody' | 'census';

const PATHS: Readonly<Record<string, Endpoint>> = {
  '/about/health': 'jicofoHealth',
  '/stats': 'jicofoStats',
  '/http-bind': 'prosody',
  '/room-census': 'census',
};

export const FIXTURES_DIR = join(__dirname, '..', '..', 'test', 'fixtures');

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES_DIR, name), 'utf8');
}

export const answer = (status: number, body: string, contentType?: string): Reply => ({
  kind: 'answer',
  status,
  body,
  ...(contentType === undefined ? {} : { contentType }),
});

/** A redirect to `location`: the prober must report it, not follow it. */
export const redirect = (location: string, status = 302): Reply => ({ kind: 'answer', status, body: '', headers: { Location: location } });

/** The real payloads, by the situation they come from. */
export const REPLIES = {
  jicofoHealthy: (): Reply => answer(200, fixture('jicofo-health-healthy.txt'), 'text/plain; charset=UTF-8'),
  jicofoSoftDown: (): Reply => answer(503, fixture('jicofo-health-softdown.txt'), 'text/plain; charset=UTF-8'),
  jicofoHardDown: (): Reply => answer(500, fixture('jicofo-health-unhealthy.txt'), 'text/plain; charset=UTF-8'),
  stats: (): Reply => answer(200, fixture('jicofo-stats.json'), 'application/json'),
  statsWith: (participants: unknown, conferences: unknown = 4): Reply => {
    const stats = JSON.parse(fixture('jicofo-stats.json')) as Record<string, unknown>;
    return answer(200, JSON.stringify({ ...stats, participants, conferences }), 'application/json');
  },
  prosodyHealthy: (): Reply => answer(200, fixture('prosody-http-bind.html'), 'text/html; charset=utf-8'),
  census: (): Reply => answer(200, fixture('room-census.json')),
};

export interface FakeSignalNodeOptions {
  /** Like a stock jitsi-meet prosody: BOSH only for this Host, 404 "Unknown host" otherwise. */
  readonly prosodyVirtualHost?: string;
  /** Closes a connection idle this long, as Jetty (30 s) and prosody (14 min) do; unset: Node's own timeouts. */
  readonly idleTimeoutMs?: number;
}

export class FakeSignalNode {
  private readonly replies = new Map<Endpoint, Reply>([
    ['jicofoHealth', REPLIES.jicofoHealthy()],
    ['jicofoStats', REPLIES.stats()],
    ['prosody', REPLIES.prosodyHealthy()],
    ['census', REPLIES.census()],
  ]);
  private readonly sockets = new Set<Socket>();
  /** Bytes of the latest `stream` reply the client took before it ended or hung up, per endpoint. */
  readonly streamed = new Map<Endpoint, number>();
  /** Requests seen per endpoint, with the Host header each carried. */
  readonly seen: { endpoint: Endpoint; host: string | undefined; at: number }[] = [];
  private jicofo: http.Server | undefined;
  private prosody: http.Server | undefined;
  jicofoOrigin = '';
  prosodyOrigin = '';

  constructor(private readonly options: FakeSignalNodeOptions = {}) {}

  /** Starts both fakes on free loopback ports (or the given ones). */
  async start(jicofoPort = 0, prosodyPort = 0): Promise<this> {
    this.jicofo = await this.listen(jicofoPort);
    this.prosody = await this.listen(prosodyPort);
    this.jicofoOrigin = `http://127.0.0.1:${(this.jicofo.address() as AddressInfo).port}`;
    this.prosodyOrigin = `http://127.0.0.1:${(this.prosody.address() as AddressInfo).port}`;
    return this;
  }

  set(endpoint: Endpoint, reply: Reply): void {
    this.replies.set(endpoint, reply);
  }

  count(endpoint: Endpoint): number {
    return this.seen.filter((request) => request.endpoint === endpoint).length;
  }

  /** Closes jicofo's port: later connections are refused. */
  async stopJicofo(): Promise<void> {
    await this.closeServer(this.jicofo);
    this.jicofo = undefined;
  }

  async stopProsody(): Promise<void> {
    await this.closeServer(this.prosody);
    this.prosody = undefined;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([this.closeServer(this.jicofo), this.closeServer(this.prosody)]);
  }

  private closeServer(server: http.Server | undefined): Promise<void> {
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private listen(port: number): Promise<http.Server> {
    const server = http.createServer((req, res) => this.handle(req, res));
    // With no 'timeout' listener, Node destroys a socket idle this long.
    if (this.options.idleTimeoutMs !== undefined) server.setTimeout(this.options.idleTimeoutMs);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const endpoint = PATHS[path];
    if (endpoint === undefined) {
      res.writeHead(404).end();
      return;
    }
    const host = req.headers.host;
    this.seen.push({ endpoint, host, at: Date.now() });
    const virtualHost = this.options.prosodyVirtualHost;
    if (endpoint === 'prosody' && virtualHost !== undefined && host?.split(':')[0] !== virtualHost) {
      res.writeHead(404, { 'Content-Type': 'text/html' }).end('Unknown host');
      return;
    }
    const reply = this.replies.get(endpoint);
    if (reply === undefined || reply.kind === 'hang') return;
    if (reply.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (reply.kind === 'stream') {
      this.stream(endpoint, res, reply);
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...reply.headers, 'Content-Length': Buffer.byteLength(reply.body) };
    if (reply.contentType !== undefined) headers['Content-Type'] = reply.contentType;
    res.writeHead(reply.status, headers).end(reply.body);
  }

  private stream(endpoint: Endpoint, res: http.ServerResponse, reply: Extract<Reply, { kind: 'stream' }>): void {
    const filler = Buffer.alloc(reply.chunkBytes, 'x');
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    this.streamed.set(endpoint, 0);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    // The client hanging up ends the loop; nothing is written after that.
    res.once('close', () => clearTimeout(timer));
    const more = (): void => {
      if (res.destroyed) return;
      if (sent >= reply.bytes) {
        res.end();
        return;
      }
      let piece = filler.subarray(0, Math.min(reply.chunkBytes, reply.bytes - sent));
      if (sent === 0 && reply.prefix !== undefined) {
        piece = Buffer.concat([Buffer.from(reply.prefix), piece]).subarray(0, piece.length);
      }
      sent += piece.length;
      const flowing = res.write(piece, () => {
        this.streamed.set(endpoint, sent);
      });
      // Respect backpressure: a client that stops reading stops the writer.
      if (!flowing) res.once('drain', next);
      else next();
    };
    const next = (): void => {
      timer = setTimeout(more, reply.gapMs);
    };
    more();
  }
}
