import { join } from 'node:path';
import type { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { PLAIN_LAUNCH, agentAnswer, sleep, startDaemon, type Daemon } from '../../test/helpers/daemon';
import type { SidecarCommand } from '../fleet/sidecar-process';
import { CountingProxy } from '../lib/counting-proxy';
import { startSidecar } from '../lib/servers';

/**
 * The sidecars the Consul phase measures, configured as Jitsi's deployment
 * configures the original: the status key watched, reports published, the
 * default polling interval. Each reaches Consul through a counting relay of
 * its own, so its connection attempts can be told apart.
 */

export const STATUS_KEY = 'shard-states/bench/shard1';
export const POLL_MS = 5000;

export type Side = 'ours' | 'other';

export interface UnderTest {
  readonly side: Side;
  readonly daemon: Daemon;
  readonly proxy: CountingProxy;
  readonly reportKey: string;
}

function consulEnv(proxy: CountingProxy, reportKey: string): Record<string, string> {
  return {
    POLLING_INTERVAL: String(POLL_MS / 1000),
    // A jicofo failure shows at once and recovers at once, as in the failures phase.
    HEALTH_DAMPENING_INTERVAL: '0',
    DRAIN_GRACE_INTERVAL: '0',
    CONSUL_HOST: '127.0.0.1',
    CONSUL_PORT: String(proxy.port),
    CONSUL_STATUS: 'true',
    CONSUL_STATUS_KEY: STATUS_KEY,
    CONSUL_REPORTS: 'true',
    CONSUL_REPORT_KEY: reportKey,
  };
}

/**
 * The built daemon as the other phases start it, or, with `other`, any
 * sidecar that reads the original's environment variables (its status file
 * in `scratch`).
 */
export async function startUnderTest(side: Side, node: FakeSignalNode, consulPort: number, scratch: string, other?: SidecarCommand): Promise<UnderTest> {
  const proxy = await CountingProxy.start(consulPort);
  const reportKey = `signal-report/bench/shard1-${side}`;
  const env = consulEnv(proxy, reportKey);
  try {
    const daemon =
      other === undefined
        ? await startSidecar(node, env)
        : await startDaemon(
            { JICOFO_ORIG: node.jicofoOrigin, PROSODY_ORIG: node.prosodyOrigin, STATUS_PATH: join(scratch, `shard-status-${side}`), ...env },
            { status: 'ready\n', wait: false, launch: { ...PLAIN_LAUNCH, env: other.env }, elsewhere: { root: '/', argv: [other.command, ...other.args] } },
          );
    return { side, daemon, proxy, reportKey };
  } catch (error) {
    await proxy.close();
    throw error;
  }
}

/** The word of an agent line (`up drain 0%` → `drain`); '' when the agent gave no line. */
export const wordOf = (line: string): string => line.split(' ')[1] ?? '';

export async function agentLine(sidecar: UnderTest): Promise<string> {
  return agentAnswer(sidecar.daemon.agentPort, 1000).catch(() => '');
}

/**
 * performance.now() when the agent's line first satisfies `wanted`, asking
 * it about every millisecond; Infinity when `limitMs` after `since` passed.
 */
export async function agentUntil(sidecar: UnderTest, wanted: (line: string) => boolean, since: number, limitMs: number): Promise<number> {
  while (performance.now() - since < limitMs) {
    if (sidecar.daemon.child.exitCode !== null) return Number.POSITIVE_INFINITY;
    if (wanted(await agentLine(sidecar))) return performance.now();
    await sleep(1);
  }
  return Number.POSITIVE_INFINITY;
}

export const says = (word: string) => (line: string): boolean => wordOf(line) === word;

export async function stopUnderTest(sidecar: UnderTest): Promise<void> {
  await sidecar.daemon.stop();
  await sidecar.proxy.close();
}
