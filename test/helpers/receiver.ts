import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly body: Record<string, unknown>;
  readonly at: number;
}

/** A notification receiver on loopback: answers with `status`, or never when `hang`. */
export class Receiver {
  readonly received: Received[] = [];
  attempts = 0;
  private readonly server: http.Server;
  url = '';

  constructor(private readonly behaviour: { status?: number; hang?: boolean } = {}) {
    this.server = http.createServer((req, res) => {
      this.attempts += 1;
      let text = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        if (this.behaviour.hang === true) return;
        this.received.push({ body: JSON.parse(text) as Record<string, unknown>, at: Date.now() });
        res.writeHead(this.behaviour.status ?? 204).end();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook?token=secret`;
    return this;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((done) => this.server.close(() => done()));
  }
}
