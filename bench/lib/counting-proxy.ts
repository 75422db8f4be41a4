import { once } from 'node:events';
import net from 'node:net';

/**
 * A loopback TCP relay in front of a server that counts the connections
 * made to it: how often a client tries to reach that server, also while
 * nothing listens behind the relay. When the server is gone, the client's
 * connection is reset at once, as close as a relay can come to the refusal
 * the client would meet without it.
 */
export class CountingProxy {
  /** performance.now() of each connection accepted. */
  readonly attempts: number[] = [];
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
    upstream.once('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
  }
}
