import net from 'node:net';

/**
 * The shard's nginx: HAProxy's server address for the shard. It accepts every
 * connection and passes its bytes to prosody's conference port (as nginx
 * proxies /xmpp-websocket and /http-bind to prosody), so when prosody hangs
 * the shard's address still accepts connections and HAProxy's plain `check`
 * still passes, as on a real shard; only the sidecar's agent can tell.
 * Runs in the bench's own process: it never fails, like nginx in these faults.
 */
export class ShardFront {
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  private constructor(upstreamPort: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(upstreamPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.once('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  static async start(upstreamPort: number): Promise<ShardFront> {
    const front = new ShardFront(upstreamPort);
    await new Promise<void>((resolve, reject) => {
      front.server.once('error', reject);
      front.server.listen(0, '127.0.0.1', () => resolve());
    });
    return front;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}
