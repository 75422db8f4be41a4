import net from 'node:net';
import type { SignalState } from '../decide/state';

export interface AgentDeps {
  readonly state: SignalState;
  /** Called for every line written: counts health checks answered. */
  readonly answered: (healthy: boolean) => void;
}

/** A client that neither reads nor closes is dropped after this. */
const LINGER_MS = 5000;
/**
 * Pending connections the kernel queues for us (capped by net.core.somaxconn).
 * Node's default of 511 overflows when thousands connect at once; the overflow
 * is answered with SYN cookies, and a client that never sends a byte (HAProxy's
 * agent check) can then wait forever for a line on a connection we never saw.
 */
const BACKLOG = 4096;

/**
 * The HAProxy agent-check agent: one line per connection, then close.
 * Before the first poll it holds connections instead of inventing a verdict;
 * once stopping it answers nothing, so HAProxy keeps its last verdict and a
 * restart moves no conferences.
 */
export class Agent {
  private readonly server: net.Server;
  private readonly held = new Set<net.Socket>();
  private readonly open = new Set<net.Socket>();
  private stopping = false;

  constructor(private readonly deps: AgentDeps) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    deps.state.onDecision(() => this.release());
  }

  listen(port: number, host: string | undefined): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: BACKLOG }, () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting and drops held connections without a word. */
  close(): Promise<void> {
    this.stopping = true;
    for (const socket of this.open) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.held.delete(socket);
    });
    // Whatever a client sends is ignored; errors (resets) only end this socket.
    socket.on('error', () => socket.destroy());
    socket.resume();
    if (this.deps.state.current === null) {
      this.held.add(socket);
      return;
    }
    this.answer(socket);
  }

  private answer(socket: net.Socket): void {
    const current = this.deps.state.current;
    if (current === null || this.stopping) return;
    this.deps.answered(current.healthy);
    // A deadline, not an idle timeout: a client that trickles a byte now and
    // then after its line would otherwise hold the socket forever.
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
    socket.end(current.agentLine);
  }

  private release(): void {
    for (const socket of this.held) this.answer(socket);
    this.held.clear();
  }
}
