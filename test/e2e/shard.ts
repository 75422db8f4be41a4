import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeSignalNode, type FakeSignalNodeOptions } from '../../src/demo/fake-signal-node';
import { holdComponentLink, serveConferences } from '../helpers/conference-server';
import { freePort, startAgainst, type Daemon } from '../helpers/daemon';
import { tempDir } from './components';

/** The shard's nginx as HAProxy reaches it: its conferences (test/helpers/conference-server.ts), focus always present. */
export interface ShardWeb {
  readonly port: number;
  stop(): Promise<void>;
}

export async function startWeb(name: string): Promise<ShardWeb> {
  const [port, componentPort] = [await freePort(), await freePort()];
  const conferences = await serveConferences({ shard: name, port, componentPort });
  const release = holdComponentLink(componentPort);
  return {
    port,
    async stop() {
      release();
      await conferences.close();
    },
  };
}

/**
 * Short intervals so grace and dampening can be watched within seconds.
 * DRAIN_GRACE_INTERVAL must stay above HEALTH_DAMPENING_INTERVAL, or the
 * daemon raises it (contract).
 */
export const FAST = {
  POLLING_INTERVAL: '0.5',
  HEALTH_DAMPENING_INTERVAL: '2',
  DRAIN_GRACE_INTERVAL: '3',
  PROBE_TIMEOUT: '2',
} as const;

export const seconds = (value: string): number => Number(value) * 1000;

/**
 * One simulated signal node as HAProxy sees it: the shard's conferences
 * standing in for its nginx (a GET answers the shard's name; an Upgrade of
 * /xmpp-websocket is a participant), a fake jicofo + prosody, and the real
 * sidecar (dist/app.js) watching them, with its status file.
 */
export class Shard {
  daemon!: Daemon;
  private constructor(
    readonly name: string,
    readonly web: ShardWeb,
    readonly fake: FakeSignalNode,
    readonly dir: string,
    private env: Record<string, string>,
  ) {}

  get statusFile(): string {
    return join(this.dir, 'shard-status');
  }

  get agentPort(): number {
    return this.daemon.agentPort;
  }

  static async start(name: string, env: Record<string, string> = {}, fakeOptions: FakeSignalNodeOptions = {}): Promise<Shard> {
    const web = await startWeb(name);
    const fake = await new FakeSignalNode(fakeOptions).start();
    const shard = new Shard(name, web, fake, tempDir(`shard-${name}`), env);
    writeFileSync(shard.statusFile, 'ready\n');
    shard.daemon = await startAgainst(fake, shard.daemonEnv(), null);
    return shard;
  }

  setStatus(word: string): void {
    writeFileSync(this.statusFile, `${word}\n`);
  }

  /** SIGTERM, then the same daemon again on the same ports, as systemd restarts it. */
  async restart(env: Record<string, string> = this.env): Promise<{ stoppedMs: number; gapMs: number }> {
    this.env = env;
    const started = Date.now();
    await this.daemon.stop('SIGTERM');
    const stopped = Date.now();
    this.daemon = await startAgainst(
      this.fake,
      { ...this.daemonEnv(), HTTP_PORT: String(this.daemon.httpPort), TCP_PORT: String(this.daemon.agentPort) },
      null,
    );
    return { stoppedMs: stopped - started, gapMs: Date.now() - stopped };
  }

  async stop(): Promise<void> {
    await this.daemon.stop('SIGTERM');
    await Promise.all([this.fake.stop(), this.web.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private daemonEnv(): Record<string, string> {
    return { ...FAST, STATUS_PATH: this.statusFile, ...this.env };
  }
}
