import http from 'node:http';
import net from 'node:net';
import type { RegionalBalancer } from './regional-balancer';

/**
 * One participant's browser tab as the network sees it: its HTTP requests
 * (page, conference request, BOSH polls, websocket keep-alives) share a
 * keep-alive connection or two, as a browser's do, and each new connection,
 * the websocket's included, goes wherever the regional balancer sends it.
 * Each answer says which HAProxy carried it and which shard answered.
 */

export interface Answer {
  readonly status: number;
  readonly body: string;
  /** The `x-jitsi-shard` header, when a shard answered. */
  readonly shard: string | undefined;
  /** The HAProxy that carried the request. */
  readonly via: number;
}

class BalancedAgent extends http.Agent {
  readonly viaOf = new WeakMap<net.Socket, number>();

  constructor(
    private readonly balancer: RegionalBalancer,
    private readonly pinned: number | undefined,
  ) {
    // Two connections at most, as BOSH clients keep two requests in flight at most.
    super({ keepAlive: true, maxSockets: 2 });
  }

  override createConnection(): net.Socket {
    const via = this.balancer.pick(this.pinned);
    const socket = net.connect(this.balancer.port(via), '127.0.0.1');
    this.viaOf.set(socket, via);
    return socket;
  }
}

export class Browser {
  private readonly agent: BalancedAgent;

  constructor(
    private readonly balancer: RegionalBalancer,
    /** An HAProxy this participant reaches while it is in rotation (a client of another region), else any. */
    private readonly pinned?: number,
  ) {
    this.agent = new BalancedAgent(balancer, pinned);
  }

  /**
   * One request; an error (refused, cut, timed out, aborted by `signal`) is
   * an answer with status 0 and the error as body.
   */
  request(method: 'GET' | 'POST', path: string, timeoutMs: number, signal?: AbortSignal): Promise<Answer> {
    return new Promise((resolve) => {
      let via = -1;
      const request = http.request({ host: 'meet.example.com', port: 80, method, path, agent: this.agent, ...(signal === undefined ? {} : { signal }) }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.once('end', () => {
          const header = response.headers['x-jitsi-shard'];
          resolve({ status: response.statusCode ?? 0, body, shard: typeof header === 'string' ? header : undefined, via });
        });
        response.once('error', (error) => resolve({ status: 0, body: error.message, shard: undefined, via }));
      });
      request.once('socket', (socket: net.Socket) => {
        via = this.agent.viaOf.get(socket) ?? -1;
      });
      request.setTimeout(timeoutMs, () => request.destroy(new Error('timeout')));
      request.once('error', (error) => resolve({ status: 0, body: error.message, shard: undefined, via }));
      request.end();
    });
  }

  /** A connection of its own (the websocket), and the HAProxy it reached. */
  connect(): { socket: net.Socket; via: number } {
    const via = this.balancer.pick(this.pinned);
    return { socket: net.connect(this.balancer.port(via), '127.0.0.1'), via };
  }

  /** The tab is closed: its connections go. */
  close(): void {
    this.agent.destroy();
  }
}
