import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Child } from '../../test/e2e/components';
import { DAEMON, ROOT, shippedLaunch, sleep } from '../../test/helpers/daemon';

/**
 * One shard's sidecar as a process of its own, started the way the systemd
 * unit starts it (or by any command given with --sidecar-cmd), configured only
 * through the original's environment variables. Restarts follow the unit:
 * `systemctl restart` stops with SIGTERM and starts again at once; a crash
 * (kill -9) is restarted after RestartSec.
 */

const UNIT = join(ROOT, 'debian', 'signal-sidecar.service');

/** The shipped daemon's command line, read from the unit. */
export function defaultSidecarCommand(): { command: string; args: string[]; env: Record<string, string> } {
  const launch = shippedLaunch(UNIT);
  return { command: process.execPath, args: [...launch.nodeFlags, DAEMON], env: { ...launch.env } };
}

/** RestartSec= of the shipped unit, in ms (systemd's default, 100 ms, when absent). */
export function restartDelayMs(): number {
  const match = /^RestartSec=(\d+(?:\.\d+)?)\s*$/m.exec(readFileSync(UNIT, 'utf8'));
  return match === null ? 100 : Number(match[1]) * 1000;
}

export interface SidecarCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** Environment the launcher sets besides the sidecar's own variables (the unit's Environment=). */
  readonly env: Readonly<Record<string, string>>;
}

/** `--sidecar-cmd "node /path/app.js"`: words split on spaces, no shell. */
export function parseSidecarCommand(text: string): SidecarCommand {
  const [command, ...args] = text.trim().split(/\s+/);
  if (command === undefined || command === '') throw new Error('--sidecar-cmd: empty command');
  return { command, args, env: {} };
}

const READY_LIMIT_MS = 20_000;
const STOP_LIMIT_MS = 10_000;

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class SidecarProcess {
  private child: Child | undefined;
  /** How many times it was started, for the logs. */
  starts = 0;

  constructor(
    readonly name: string,
    private readonly launch: SidecarCommand,
    /** HTTP_PORT, TCP_PORT, JICOFO_ORIG, … as the original reads them. */
    readonly env: Readonly<Record<string, string>>,
  ) {}

  get httpPort(): number {
    return Number(this.env.HTTP_PORT);
  }

  get agentPort(): number {
    return Number(this.env.TCP_PORT);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts it; resolves once its HTTP port accepts connections. */
  async start(): Promise<void> {
    const child = new Child(this.name, this.launch.command, [...this.launch.args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...this.launch.env, ...this.env },
    });
    this.child = child;
    this.starts += 1;
    const deadline = Date.now() + READY_LIMIT_MS;
    while (Date.now() < deadline) {
      if (!child.alive) throw new Error(`sidecar ${this.name} exited at start: ${child.log()}`);
      if (await accepts(this.httpPort)) return;
      await sleep(25);
    }
    throw new Error(`sidecar ${this.name} did not listen on ${this.httpPort} within ${READY_LIMIT_MS} ms: ${child.log()}`);
  }

  /** `systemctl restart`: SIGTERM, wait for the exit, start again. Resolves with the ms it was gone. */
  async restart(): Promise<number> {
    const stopped = Date.now();
    await this.child?.stop('SIGTERM', STOP_LIMIT_MS);
    await this.start();
    return Date.now() - stopped;
  }

  /** A crash: SIGKILL, then systemd's restart after RestartSec. Resolves with the ms it was gone. */
  async crash(): Promise<number> {
    const killed = Date.now();
    await this.child?.stop('SIGKILL', STOP_LIMIT_MS);
    await sleep(restartDelayMs());
    await this.start();
    return Date.now() - killed;
  }

  log(): string {
    return this.child?.log() ?? '';
  }

  async stop(): Promise<void> {
    await this.child?.stop('SIGTERM', STOP_LIMIT_MS);
  }
}
