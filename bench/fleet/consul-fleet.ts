import { spawnSync } from 'node:child_process';
import { createConsulClient, type ConsulClient } from '../../src/consul/client';
import { readFleet } from '../../src/fleet/view';
import { ConsulAgent, consulBinary } from '../../test/helpers/consul';
import { DAEMON, sleep } from '../../test/helpers/daemon';
import { BOSH_INACTIVITY_MS } from '../../test/helpers/bosh-sessions';
import type { Ledger, ServerView } from './ledger';
import type { ConsulResults } from './report';
import { scoreDetection, type DetectorRead } from './split-detection';

/**
 * One real Consul for the whole fleet (`--consul`), as Jitsi's deployment
 * runs it: each sidecar watches `shard-states/bench/<shard>` and publishes
 * its report with the census to `signal-report/bench/<shard>`, the operator
 * drains and opens shards with a KV write, and a reader compares the
 * published censuses for rooms live on two shards, as `signal-sidecar
 * fleet` does.
 */

const ENV = 'bench';
/** The conference host of the census (prosody's MUC component); its JIDs name the rooms. */
export const CENSUS_HOST = 'conference.bench.example';
const READ_TIMEOUT_MS = 5000;
const READ_LIMIT_BYTES = 64 * 1024 * 1024;

export const statusKey = (shard: string): string => `shard-states/${ENV}/${shard}`;
export const REPORT_PREFIX = `signal-report/${ENV}/`;

/** The room a census JID names (`room@conference.…` → `room`). */
export const roomOfJid = (jid: string): string => jid.replace(/@[^@]*$/, '');

/** One operator drain through Consul: ms from the KV write answered until the first and every HAProxy showed the shard DRAIN. */
export interface KvDrain {
  readonly shard: string;
  readonly firstMs: number | null;
  readonly allMs: number | null;
}

type HaproxyViews = () => Promise<ReadonlyMap<number, ReadonlyMap<string, ServerView>>>;

const DRAIN_WAIT_MS = 30_000;

export class ConsulFleet {
  private readonly client: ConsulClient;
  /** Every drain written, once the HAProxies showed it (or 30 s passed). */
  readonly drains: KvDrain[] = [];

  private constructor(
    private readonly agent: ConsulAgent,
    /** CONSUL_REPORTS_INTERVAL, in ms: a report older than three is stale. */
    readonly reportsIntervalMs: number,
  ) {
    this.client = createConsulClient({ host: '127.0.0.1', port: agent.httpPort, secure: false, token: () => undefined });
  }

  static async start(reportsIntervalMs: number): Promise<ConsulFleet> {
    const binary = consulBinary();
    if ('skip' in binary) throw new Error(`--consul: ${binary.skip}`);
    return new ConsulFleet(await ConsulAgent.start(binary.path), reportsIntervalMs);
  }

  /** Where it listens, for the log. */
  get address(): string {
    return `127.0.0.1:${this.agent.httpPort}`;
  }

  /** A shard's sidecar settings, as Jitsi's Nomad job sets them for the original. */
  sidecarEnv(shard: string): Record<string, string> {
    return {
      CONSUL_HOST: '127.0.0.1',
      CONSUL_PORT: String(this.agent.httpPort),
      CONSUL_STATUS: 'true',
      CONSUL_STATUS_KEY: statusKey(shard),
      CONSUL_REPORTS: 'true',
      CONSUL_REPORT_KEY: `${REPORT_PREFIX}${shard}`,
      CONSUL_REPORTS_INTERVAL: String(this.reportsIntervalMs / 1000),
      CENSUS_POLL: 'true',
      CENSUS_HOST,
      CENSUS_REPORTS: 'true',
    };
  }

  /**
   * The operator's drain or ready: `consul kv put shard-states/<env>/<shard>
   * drain`. A drain is then timed until the HAProxies show it, in the
   * background: the fault goes on meanwhile.
   */
  async setStatus(shard: string, word: string, views: HaproxyViews | undefined): Promise<void> {
    await this.agent.put(statusKey(shard), word);
    if (word === 'drain' && views !== undefined) void this.timeDrain(shard, views, performance.now());
  }

  private async timeDrain(shard: string, views: HaproxyViews, written: number): Promise<void> {
    let firstMs: number | null = null;
    while (performance.now() - written < DRAIN_WAIT_MS) {
      const shown = [...(await views()).values()].map((view) => view.get(shard));
      if (firstMs === null && shown.includes('DRAIN')) firstMs = performance.now() - written;
      if (shown.length > 0 && shown.every((state) => state === 'DRAIN')) {
        this.drains.push({ shard, firstMs, allMs: performance.now() - written });
        return;
      }
      await sleep(50);
    }
    this.drains.push({ shard, firstMs, allMs: null });
  }

  /** The rooms the published censuses show live on two shards or more, now, each with where (`shard3 (1), shard5 (2)`). */
  async splitRooms(): Promise<{ room: string; where: string }[] | undefined> {
    const tree = await this.client.readTree(REPORT_PREFIX, READ_TIMEOUT_MS, READ_LIMIT_BYTES);
    if (tree.kind === 'failed') return undefined;
    const view = readFleet(tree.entries, { now: Date.now(), staleAfterMs: 3 * this.reportsIntervalMs });
    return view.check.splits.map((split) => ({ room: roomOfJid(split.room), where: split.shards.map((on) => `${on.shard} (${on.participants})`).join(', ') }));
  }

  /** What an operator sees: `signal-sidecar fleet signal-report/bench/`, run by the built daemon. */
  fleetCommand(): string {
    const run = spawnSync(process.execPath, [DAEMON, 'fleet', REPORT_PREFIX], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CONSUL_HOST: '127.0.0.1', CONSUL_PORT: String(this.agent.httpPort), CONSUL_REPORTS_INTERVAL: String(this.reportsIntervalMs / 1000), COLUMNS: '150' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return `$ signal-sidecar fleet ${REPORT_PREFIX}   (exit ${String(run.status)})\n${run.stdout}${run.stderr}`;
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.agent.stop();
  }
}

/** Every shard's census follows its rooms, once a second, while `running`. */
async function feedCensus(shards: readonly { refreshCensus(host: string): Promise<void> }[], running: () => boolean): Promise<void> {
  while (running()) {
    await Promise.all(shards.map((shard) => shard.refreshCensus(CENSUS_HOST)));
    await sleep(1000);
  }
}

/**
 * The split check of `signal-sidecar fleet` run over the fleet's reports
 * once a second, and its score against the bench's ledger at the end.
 */
export class SplitCheck {
  private readonly reads: DetectorRead[] = [];

  constructor(private readonly consul: ConsulFleet) {}

  /**
   * The census feed and the reader, while `running`; a failed read is left
   * out. The first time a room is listed, `explain` says where.
   */
  loops(shards: readonly { refreshCensus(host: string): Promise<void> }[], explain: (room: string, where: string) => void, running: () => boolean): Promise<void>[] {
    return [feedCensus(shards, running), this.read(explain, running)];
  }

  private async read(explain: (room: string, where: string) => void, running: () => boolean): Promise<void> {
    const explained = new Set<string>();
    while (running()) {
      const split = await this.consul.splitRooms();
      if (split !== undefined) {
        this.reads.push({ at: Date.now(), rooms: split.map((entry) => entry.room) });
        for (const { room, where } of split.filter((entry) => !explained.has(entry.room))) {
          explained.add(room);
          explain(room, where);
        }
      }
      await sleep(1000);
    }
  }

  /**
   * The score. A read's census can be as old as the census fed to prosody
   * (1 s), the sidecar's poll of it (`pollMs`), its next report, and the
   * reader's own second.
   */
  score(ledger: Ledger, pollMs: number, runEnd: number): Omit<ConsulResults, 'fleetCommand'> {
    const faults = ledger.windows.map((window) => ({
      name: window.name,
      from: performance.timeOrigin + window.injectedAt,
      to: performance.timeOrigin + (window.closedAt ?? performance.now()),
    }));
    const lagMs = 1000 + pollMs + this.consul.reportsIntervalMs + 1000;
    const detection = scoreDetection({ splits: ledger.splits, reads: this.reads, moves: ledger.moves, lagMs, ghostMs: BOSH_INACTIVITY_MS, runEnd, faults });
    return { reportsIntervalMs: this.consul.reportsIntervalMs, detection, drains: this.consul.drains };
  }
}
