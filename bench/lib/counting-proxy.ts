import { once } from 'node:events';
import net from 'node:net';

/**
 * A loopback TCP relay in front of a server that counts the connections
 * made to it: how often a client tries to reach that server, also while
 * nothing listens behind the relay. When the server is gone, the client's
 * connection is reset at once, as close as a relay can come to the refusal
 * the client would meet without it. It also notes when each HTTP request
 * passed and when the server's bytes came back, which splits a client's
 * reaction time into the server's part and the client's.
 */

/** One HTTP exchange seen on a relayed connection: its request line, and the server's bytes after it. */
export interface Exchange {
  readonly requestLine: string;
  readonly sentAt: number;
  /** performance.now() of each chunk the server sent back before the next request. */
  readonly replies: number[];
}

/** The start of an HTTP/1 request (a chunk that does not start so is the rest of one). */
const REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/1\.[01]/;

export class CountingProxy {
  /** performance.now() of each connection accepted. */
  readonly attempts: number[] = [];
  readonly exchanges: Exchange[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  private constructor(private readonly targetPort: number) {
    // Half-open on both sides, so a client that ends its request first still gets the answer.
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.relay(client));
  }

  static async start(targetPort: number): Promise<CountingProxy> {
    const proxy = new CountingProxy(targetPort);
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The first bytes the server sent at or after `since` in answer to a request whose line satisfies `wanted`. */
  firstReply(since: number, wanted: (requestLine: string) => boolean): number {
    const times = this.exchanges.filter((exchange) => wanted(exchange.requestLine)).flatMap((exchange) => exchange.replies.filter((at) => at >= since));
    return times.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...times);
  }

  /** Connections accepted from `from` (inclusive) to `to` (exclusive), in performance.now() time. */
  between(from: number, to: number): number[] {
    return this.attempts.filter((at) => at >= from && at < to);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: net.Socket): void {
    this.attempts.push(performance.now());
    const upstream = net.connect({ port: this.targetPort, host: '127.0.0.1', allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    }
    // What the client sends before the server took the connection waits in the socket.
    client.pipe(upstream);
    upstream.pipe(client);
    let exchange: Exchange | undefined;
    client.on('data', (chunk: Buffer) => {
      const line = chunk.toString('latin1', 0, Math.min(chunk.length, 2048)).split('\r\n')[0] ?? '';
      if (!REQUEST_LINE.test(line)) return;
      exchange = { requestLine: line, sentAt: performance.now(), replies: [] };
      this.exchanges.push(exchange);
    });
    upstream.on('data', () => exchange?.replies.push(performance.now()));
    upstream.once('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
  }
}
