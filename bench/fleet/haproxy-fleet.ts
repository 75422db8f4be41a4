import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Haproxy, stateOf, type ServerView as HaproxyServer } from '../../test/e2e/components';
import { BACKEND, fillExample, type ExampleServer } from '../../test/e2e/example-config';
import { freePort, waitFor } from '../../test/helpers/daemon';
import type { ServerView } from './fault-window';
import { PeerLink } from './peer-link';

/**
 * The HAProxies in front of the shards, as a region runs them: each runs the
 * example filled in with its own addresses, its servers (in an order of its
 * own, as service discovery may list them) and every HAProxy as a peer, so
 * that all of them share the stick table. Each is started master-worker
 * (`-W`), as Debian's unit runs it, so a reload is a real graceful reload.
 * Peers reach each other through PeerLink relays the bench can cut.
 */

export interface HaproxyRuntime {
  /** A Debian tree to chroot into (Debian 13's HAProxy), or undefined for the host's own. */
  readonly root?: string;
  /** `haproxy -v`'s first line. */
  readonly version: string;
}

interface Member {
  readonly name: string;
  readonly frontend: number;
  readonly peerPort: number;
  readonly link: PeerLink;
  readonly runtime: HaproxyRuntime;
  readonly config: string;
  haproxy: Haproxy | undefined;
}

export class HaproxyFleet {
  private constructor(
    private readonly members: Member[],
    /** Whether the configuration shares its table through a peers section. */
    readonly peered: boolean,
  ) {}

  get size(): number {
    return this.members.length;
  }

  get frontends(): number[] {
    return this.members.map((member) => member.frontend);
  }

  get versions(): string[] {
    return this.members.map((member) => member.runtime.version);
  }

  /** The configuration HAProxy `index` runs. */
  config(index: number): string {
    return this.member(index).config;
  }

  /**
   * Fills in `text` for each runtime and starts them; resolves once every one
   * has a first agent verdict for every shard. Peers are written when there
   * are several HAProxies, or when the example has a peers section of its own
   * (it then keeps its table across reloads).
   */
  static async start(text: string, servers: readonly ExampleServer[], runtimes: readonly HaproxyRuntime[]): Promise<HaproxyFleet> {
    const peered = runtimes.length > 1 || /^peers /m.test(text);
    const members: Member[] = [];
    for (const [index, runtime] of runtimes.entries()) {
      const peerPort = await freePort();
      members.push({ name: `haproxy${index + 1}`, frontend: await freePort(), peerPort, link: await PeerLink.open(peerPort), runtime, config: '', haproxy: undefined });
    }
    const filled = members.map((member, index) => {
      // Servers in another order on each HAProxy: forced ids, where the example has them, keep the hash ring the same.
      const order = [...servers.slice(index % servers.length), ...servers.slice(0, index % servers.length)];
      const peers = members.map((other) => ({ name: other.name, port: other === member ? member.peerPort : other.link.port }));
      return { ...member, config: fillExample(member.frontend, order, text, peered ? peers : undefined) };
    });
    const fleet = new HaproxyFleet(filled, peered);
    try {
      for (const index of filled.keys()) await fleet.launch(index);
      for (const index of filled.keys()) await fleet.verdicts(index);
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  /** HAProxy `index`, started as its unit would start it. */
  async launch(index: number): Promise<void> {
    const member = this.member(index);
    member.haproxy = await Haproxy.start(member.config, { args: ['-W', '-L', member.name], ...(member.runtime.root === undefined ? {} : { root: member.runtime.root }) });
  }

  /** Resolves once HAProxy `index` has an agent verdict for every server. */
  async verdicts(index: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${this.member(index).name}: a first agent verdict for every shard`, async () => {
      const servers = await this.servers(index);
      return servers.size > 0 && [...servers.values()].every((server) => server.lastAgent.startsWith('via agent')) ? true : undefined;
    }, timeoutMs, 50);
  }

  async servers(index: number): Promise<Map<string, HaproxyServer>> {
    const haproxy = this.member(index).haproxy;
    if (haproxy === undefined) throw new Error(`${this.member(index).name} is not running`);
    return haproxy.servers(BACKEND);
  }

  /** Each running HAProxy's view of every shard, and the weights it applies; one that does not answer is left out. */
  async views(): Promise<{ views: Map<number, Map<string, ServerView>>; statuses: Map<string, string>; weights: Map<number, Map<string, number>> }> {
    const views = new Map<number, Map<string, ServerView>>();
    const weights = new Map<number, Map<string, number>>();
    const statuses = new Map<string, string>();
    await Promise.all(
      this.members.map(async (member, index) => {
        if (member.haproxy === undefined) return;
        try {
          const servers = await member.haproxy.servers(BACKEND);
          views.set(index, new Map([...servers].map(([name, server]) => [name, server.lastAgent.startsWith('via agent') ? stateOf(server) : 'UNCHECKED'])));
          weights.set(index, new Map([...servers].map(([name, server]) => [name, server.weight])));
          for (const [name, server] of servers) if (!statuses.has(name) || server.status.startsWith('DOWN')) statuses.set(name, server.status);
        } catch {
          // A sample lost to a busy or restarting HAProxy: the next one follows.
        }
      }),
    );
    return { views, statuses, weights };
  }

  /** One command on HAProxy `index`'s admin socket ('' when it is not running). */
  async command(index: number, line: string): Promise<string> {
    const haproxy = this.member(index).haproxy;
    return haproxy === undefined ? '' : haproxy.command(line);
  }

  /** The room's stick entry on every HAProxy, for the examples of what went wrong. */
  async entries(room: string): Promise<string> {
    const key = encodeURIComponent(room);
    const each = await Promise.all(
      this.members.map(async (member, index) => {
        const entry = await this.command(index, `show table ${BACKEND} key ${key}`).catch((error: unknown) => String(error));
        return `${member.name}: ${entry.trim().split('\n').slice(1).join(' ') || 'none'}`;
      }),
    );
    return each.join('; ');
  }

  /**
   * What the example asks before a reload or stop (and Jitsi's own unit
   * does): the servers' state saved where its server-state-file reads it, so
   * that the new process starts with the drains and weights of the old one.
   */
  async saveState(index: number): Promise<void> {
    const member = this.member(index);
    if (!/^\s*server-state-file /m.test(member.config)) return;
    const haproxy = this.running(index);
    writeFileSync(join(haproxy.dir, 'server-state'), await haproxy.command('show servers state'));
  }

  /** A graceful reload (`systemctl reload`: SIGUSR2 to the master); resolves once the new worker answers on the socket. */
  async reload(index: number): Promise<number> {
    const haproxy = this.running(index);
    const before = await this.workerPid(index);
    const started = performance.now();
    haproxy.reload();
    await waitFor(`${this.member(index).name}: a new worker`, async () => {
      const pid = await this.workerPid(index).catch(() => before);
      return pid !== before ? true : undefined;
    }, 20_000, 20);
    return performance.now() - started;
  }

  /** The host's HAProxy dies (kill -9 of its workers and its master): its connections are gone. */
  async kill(index: number): Promise<void> {
    await this.running(index).crash();
  }

  /** Starts HAProxy `index` again after a kill (the old process is reaped first). */
  async restart(index: number): Promise<void> {
    const member = this.member(index);
    await member.haproxy?.stop();
    member.haproxy = undefined;
    await this.launch(index);
  }

  /**
   * Whether HAProxy `index` has learnt the table from its peers since it
   * started: `show peers` shows the section's resync flags (local and remote
   * learning finished, 0x1 and 0x2) once a peer has taught it everything.
   */
  async synced(index: number): Promise<boolean> {
    if (!this.peered) return true;
    const peers = await this.command(index, 'show peers').catch(() => '');
    const flags = /flags=0x([0-9a-f]+)/.exec(peers);
    return flags !== null && (Number.parseInt(flags[1] ?? '0', 16) & 0x3) === 0x3;
  }

  /** Stick entries HAProxy `index` holds (the `used:` of `show table`). */
  async entryCount(index: number): Promise<number> {
    const table = await this.command(index, `show table ${BACKEND}`).catch(() => '');
    return Number(/used:(\d+)/.exec(table)?.[1] ?? 0);
  }

  /** The network between all peers goes silent, and comes back. */
  partition(): void {
    for (const member of this.members) member.link.partition();
  }

  heal(): void {
    for (const member of this.members) member.link.heal();
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((member) => member.haproxy?.stop() ?? Promise.resolve()));
    await Promise.all(this.members.map((member) => member.link.close()));
    for (const member of this.members) member.haproxy = undefined;
  }

  private async workerPid(index: number): Promise<string> {
    const info = await this.command(index, 'show info');
    return /^Pid: (\d+)/m.exec(info)?.[1] ?? '';
  }

  private running(index: number): Haproxy {
    const haproxy = this.member(index).haproxy;
    if (haproxy === undefined) throw new Error(`${this.member(index).name} is not running`);
    return haproxy;
  }

  private member(index: number): Member {
    const member = this.members[index];
    if (member === undefined) throw new Error(`no HAProxy ${index + 1}`);
    return member;
  }
}
