import net from 'node:net';

/**
 * The network between the HAProxies' peers sections. Each HAProxy reaches
 * another one's peer port through one of these relays, so the bench can cut
 * the link as a partition does (connections go silent, no reset: the peers
 * notice only by their own heartbeats) and heal it.
 */
export class PeerLink {
  private readonly pairs = new Set<{ inbound: net.Socket; outbound: net.Socket | undefined }>();
  private cutNow = false;

  private constructor(
    private readonly server: net.Server,
    private readonly target: number,
  ) {}

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get cut(): boolean {
    return this.cutNow;
  }

  /** A relay to the peer port `target` on 127.0.0.1. */
  static async open(target: number): Promise<PeerLink> {
    const server = net.createServer();
    const link = new PeerLink(server, target);
    server.on('connection', (inbound) => link.accept(inbound));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return link;
  }

  /** Partition: from now on nothing passes, in either direction, on old or new connections. */
  partition(): void {
    this.cutNow = true;
    for (const pair of this.pairs) {
      pair.inbound.unpipe();
      pair.outbound?.unpipe();
      pair.inbound.pause();
      pair.outbound?.pause();
    }
  }

  /** The network is back: the connections that went silent are gone (their peers gave up on them), new ones pass. */
  heal(): void {
    this.cutNow = false;
    for (const pair of this.pairs) this.drop(pair);
  }

  close(): Promise<void> {
    for (const pair of this.pairs) this.drop(pair);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(inbound: net.Socket): void {
    inbound.on('error', () => undefined);
    const pair: { inbound: net.Socket; outbound: net.Socket | undefined } = { inbound, outbound: undefined };
    this.pairs.add(pair);
    inbound.once('close', () => this.drop(pair));
    if (this.cutNow) {
      inbound.pause();
      return;
    }
    const outbound = net.connect(this.target, '127.0.0.1');
    pair.outbound = outbound;
    outbound.on('error', () => undefined);
    outbound.once('close', () => this.drop(pair));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }

  private drop(pair: { inbound: net.Socket; outbound: net.Socket | undefined }): void {
    this.pairs.delete(pair);
    pair.inbound.destroy();
    pair.outbound?.destroy();
  }
}
