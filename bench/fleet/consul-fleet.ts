import { spawnSync } from 'node:child_process';
import { createConsulClient, type ConsulClient } from '../../src/consul/client';
import { readFleet } from '../../src/fleet/view';
import { ConsulAgent, consulBinary } from '../../test/helpers/consul';
import { DAEMON, sleep } from '../../test/helpers/daemon';
import type { DetectorRead } from './split-detection';

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
export const roomOfJid = (jid: string): string => jid.slice(0, jid.lastIndexOf('@') === -1 ? jid.length : jid.lastIndexOf('@'));

export class ConsulFleet {
  private readonly client: ConsulClient;

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

  get version(): string {
    return `Consul on 127.0.0.1:${this.agent.httpPort}`;
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

  /** The operator's drain or ready: `consul kv put shard-states/<env>/<shard> drain`. */
  async setStatus(shard: string, word: string): Promise<void> {
    await this.agent.put(statusKey(shard), word);
  }

  /** The rooms the published censuses show live on two shards or more, now. */
  async splitRooms(): Promise<string[] | undefined> {
    const tree = await this.client.readTree(REPORT_PREFIX, READ_TIMEOUT_MS, READ_LIMIT_BYTES);
    if (tree.kind === 'failed') return undefined;
    const view = readFleet(tree.entries, { now: Date.now(), staleAfterMs: 3 * this.reportsIntervalMs });
    return view.check.splits.map((split) => roomOfJid(split.room));
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
export async function feedCensus(shards: readonly { refreshCensus(host: string): Promise<void> }[], running: () => boolean): Promise<void> {
  while (running()) {
    await Promise.all(shards.map((shard) => shard.refreshCensus(CENSUS_HOST)));
    await sleep(1000);
  }
}

/** The split check over the published reports, once a second, while `running`; a failed read is left out. */
export async function readSplits(consul: ConsulFleet, reads: DetectorRead[], running: () => boolean): Promise<void> {
  while (running()) {
    const rooms = await consul.splitRooms();
    if (rooms !== undefined) reads.push({ at: Date.now(), rooms });
    await sleep(1000);
  }
}
