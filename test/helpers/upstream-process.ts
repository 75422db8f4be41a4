import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Endpoint, Reply } from '../../src/demo/fake-signal-node';
import type { ConferenceSettings } from './conference-server';

/** How a process behaves besides answering its HTTP endpoints. */
export interface UpstreamOptions {
  /** Closes connections idle this long (Jetty's idle timeout, prosody's read_timeout). */
  readonly idleTimeoutMs?: number;
  /** prosody: also serve the shard's conferences (test/helpers/conference-server.ts). */
  readonly conferences?: ConferenceSettings;
  /** jicofo: hold a connection to prosody's component port. */
  readonly componentPort?: number;
}

/**
 * A simulated jicofo or prosody in a process of its own (test/helpers/
 * upstream-child.ts): killing it closes its sockets the way a crashed jicofo
 * does, which an in-process fake that merely changes its answer cannot show.
 */
export class UpstreamProcess {
  private constructor(
    readonly component: 'jicofo' | 'prosody',
    readonly port: number,
    readonly origin: string,
    private child: ChildProcess,
    private readonly options: UpstreamOptions,
  ) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Starts one on `port` (0: a free one) and resolves once it listens. */
  static async start(component: 'jicofo' | 'prosody', port = 0, options: UpstreamOptions = {}): Promise<UpstreamProcess> {
    const { child, origin } = await spawnChild(component, port, options);
    return new UpstreamProcess(component, Number(new URL(origin).port), origin, child, options);
  }

  /** Requests this process has seen on `endpoint` since it started. */
  count(endpoint: Endpoint): Promise<number> {
    return new Promise((done, fail) => {
      const onMessage = (message: { counted?: string; requests?: number }): void => {
        if (message.counted !== endpoint) return;
        this.child.off('message', onMessage);
        done(message.requests ?? 0);
      };
      this.child.on('message', onMessage);
      this.child.send({ count: endpoint }, (error) => {
        if (error !== null) fail(error);
      });
    });
  }

  /** Changes what one endpoint answers; resolves once the child has taken it. */
  set(endpoint: Endpoint, reply: Reply): Promise<void> {
    return new Promise((done, fail) => {
      const onMessage = (message: { ack?: string }): void => {
        if (message.ack !== endpoint) return;
        this.child.off('message', onMessage);
        done();
      };
      this.child.on('message', onMessage);
      this.child.send({ endpoint, reply }, (error) => {
        if (error !== null) fail(error);
      });
    });
  }

  /** Sends `signal` (SIGKILL: a crash; SIGSTOP/SIGCONT: a hang and its end). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Kills it and resolves once it is gone: its port then refuses connections. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.child.kill('SIGCONT');
    this.child.kill(signal);
    await gone;
  }

  /** Starts it again on the same port, as systemd restarts a crashed service. */
  async restart(): Promise<void> {
    await this.kill();
    this.child = (await spawnChild(this.component, this.port, this.options)).child;
  }

  stop(): Promise<void> {
    return this.kill();
  }
}

const CHILD = join(__dirname, 'upstream-child.ts');
const START_LIMIT_MS = 20_000;

function spawnChild(component: 'jicofo' | 'prosody', port: number, options: UpstreamOptions): Promise<{ child: ChildProcess; origin: string }> {
  const child = fork(CHILD, [JSON.stringify({ component, port, ...options })], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`the ${component} process did not listen within ${START_LIMIT_MS} ms: ${stderr}`));
    }, START_LIMIT_MS);
    child.once('message', (message: { origin?: string }) => {
      clearTimeout(timer);
      if (message.origin === undefined) fail(new Error(`unexpected first message from the ${component} process`));
      else done({ child, origin: message.origin });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`the ${component} process exited (${code ?? signal ?? '?'}) before it listened: ${stderr}`));
    });
  });
}
