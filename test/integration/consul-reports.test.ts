import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { answer, REPLIES } from '../../src/demo/fake-signal-node';
import { ConsulAgent, consulBinary } from '../helpers/consul';
import { get, QUICK, report, sleep, startDaemon, waitFor, type Daemon } from '../helpers/daemon';
import { daemonSuite } from '../helpers/daemon-suite';
import { CONFERENCE_HOST, LARGEST_NODE_PARTICIPANTS, largestNode } from '../helpers/largest-node';

/**
 * Reports written to a real Consul by the built daemon: at the interval, at
 * once on a change, the largest shard's census cut to fit, a smaller limit
 * that Consul names, and a Consul that goes away.
 */

const REPORT_KEY = 'signal-report/prod/shard1';
const binary = consulBinary();
const skip = 'skip' in binary ? binary.skip : undefined;

interface Written {
  healthy: boolean;
  status: string;
  agentmessage: string;
  census: { room_name: string; participants: number }[];
  censusTruncated?: boolean;
  censusRooms?: number;
  lastUnhealthy?: string | null;
  time: string;
}

describe('Consul reports through the daemon', { skip }, () => {
  const suite = daemonSuite('consul-reports-');
  let consul: ConsulAgent;
  let small: ConsulAgent;

  before(async () => {
    if (!('path' in binary)) return;
    consul = await ConsulAgent.start(binary.path);
    small = await ConsulAgent.start(binary.path, { hcl: ['limits { kv_max_value_size = 65536 }'] });
  });
  after(async () => {
    await consul?.kill();
    await small?.kill();
  });

  const start = (agent: ConsulAgent, env: Record<string, string> = {}): Promise<Daemon> =>
    startDaemon(
      {
        ...QUICK,
        JICOFO_ORIG: suite.fake.jicofoOrigin,
        PROSODY_ORIG: suite.fake.prosodyOrigin,
        CONSUL_REPORTS: 'true',
        CONSUL_HOST: '127.0.0.1',
        CONSUL_PORT: String(agent.httpPort),
        CONSUL_REPORT_KEY: REPORT_KEY,
        ...env,
      },
      { status: 'ready\n' },
    ).then((daemon) => (suite.daemon = daemon));

  const written = async (agent: ConsulAgent): Promise<Written | undefined> => {
    const text = await agent.get(REPORT_KEY);
    return text === undefined ? undefined : (JSON.parse(text) as Written);
  };
  const until = (agent: ConsulAgent, what: string, check: (value: Written) => boolean, timeoutMs = 10_000): Promise<Written> =>
    waitFor(what, async () => {
      const value = await written(agent);
      return value !== undefined && check(value) ? value : undefined;
    }, timeoutMs, 50);

  it('writes the report with census [] at start, and a failure at once, not at the next interval', async () => {
    await consul.delete(REPORT_KEY);
    const daemon = await start(consul, { CONSUL_REPORTS_INTERVAL: '60' });
    const first = await until(consul, 'a first report', (value) => value.healthy);
    assert.deepEqual(first.census, []);
    assert.equal(first.agentmessage, 'up ready 100%');
    assert.equal(first.lastUnhealthy, null);
    suite.fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    const failed = await until(consul, 'the failure in Consul', (value) => !value.healthy, 5_000);
    assert.match(failed.agentmessage, /^down/);
    assert.equal(failed.lastUnhealthy, failed.time);
    suite.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    const back = await until(consul, 'health again', (value) => value.healthy, 5_000);
    // The moment it recovered: readers leave its census out for a minute after it.
    const recovered = Date.parse(back.lastUnhealthy ?? '');
    assert.ok(recovered > Date.parse(failed.time) && recovered <= Date.parse(back.time), `${String(back.lastUnhealthy)} between ${failed.time} and ${back.time}`);
    const view = (await report(daemon.httpPort)).consul as { reachable: boolean; reports: { lastWriteOk: boolean; bytes: number } };
    assert.equal(view.reachable, true);
    assert.equal(view.reports.lastWriteOk, true);
    const metrics = (await get(daemon.httpPort, '/metrics')).body;
    assert.match(metrics, /^signal_consul_report_writes_total\{result="written"\} [3-9]/m);
    assert.match(metrics, /^signal_consul_reachable 1$/m);
  });

  it('writes again every CONSUL_REPORTS_INTERVAL', async () => {
    await consul.delete(REPORT_KEY);
    await start(consul, { CONSUL_REPORTS_INTERVAL: '1' });
    const first = await until(consul, 'a first report', () => true);
    const later = await until(consul, 'a later report', (value) => value.time !== first.time, 5_000);
    assert.ok(Date.parse(later.time) > Date.parse(first.time));
  });

  it('the largest shard\'s census (6,000 participants) is cut to fit 512 KiB and says so', async (t) => {
    const snapshot = largestNode('alone');
    suite.fake.set('census', answer(200, snapshot.census));
    suite.fake.set('jicofoStats', answer(200, snapshot.stats, 'application/json'));
    try {
      await consul.delete(REPORT_KEY);
      const daemon = await start(consul, { CENSUS_POLL: 'true', CENSUS_HOST: CONFERENCE_HOST, CENSUS_REPORTS: 'true', POLLING_INTERVAL: '0.5' });
      const value = await until(consul, 'a report with the census', (candidate) => candidate.censusRooms === LARGEST_NODE_PARTICIPANTS, 20_000);
      const bytes = Buffer.byteLength((await consul.get(REPORT_KEY)) ?? '');
      assert.ok(bytes <= 512 * 1024, `${bytes} bytes`);
      assert.equal(value.censusTruncated, true);
      assert.ok(value.census.length > 1000 && value.census.length < LARGEST_NODE_PARTICIPANTS, `${value.census.length} rooms kept`);
      const view = (await report(daemon.httpPort)).consul as { reports: { bytes: number; censusTruncated: boolean } };
      assert.deepEqual([view.reports.bytes, view.reports.censusTruncated], [bytes, true]);
      assert.match((await get(daemon.httpPort, '/metrics')).body, /^signal_consul_report_census_truncated 1$/m);
      t.diagnostic(`consul: the largest shard's report as written: ${bytes} bytes, ${value.census.length} of ${value.censusRooms ?? '?'} rooms (census ${snapshot.census.length} bytes)`);
    } finally {
      suite.fake.set('census', REPLIES.census());
      suite.fake.set('jicofoStats', REPLIES.stats());
    }
  });

  it('a Consul with a smaller value limit is fitted from its 413 answer', async () => {
    const snapshot = largestNode('alone');
    suite.fake.set('census', answer(200, snapshot.census));
    try {
      await small.delete(REPORT_KEY);
      await start(small, { CENSUS_POLL: 'true', CENSUS_HOST: CONFERENCE_HOST, CENSUS_REPORTS: 'true', POLLING_INTERVAL: '0.5' });
      const value = await until(small, 'a report that fits 64 KiB', (candidate) => candidate.censusRooms === LARGEST_NODE_PARTICIPANTS, 20_000);
      assert.equal(value.censusTruncated, true);
      assert.ok(Buffer.byteLength((await small.get(REPORT_KEY)) ?? '') <= 65536);
    } finally {
      suite.fake.set('census', REPLIES.census());
    }
  });

  it('a Consul that goes away: one line, the next write at the interval, and one line when it is back', async () => {
    if (!('path' in binary)) return;
    const away = await ConsulAgent.start(binary.path);
    const port = away.httpPort;
    const daemon = await start(away, { CONSUL_REPORTS_INTERVAL: '1' });
    await until(away, 'a first report', () => true);
    await away.kill();
    await waitFor('the failed write to be logged', () => (daemon.lines.some((line) => line.includes('Consul unreachable')) ? true : undefined));
    await sleep(3500);
    assert.equal(daemon.lines.filter((line) => line.includes('Consul unreachable')).length, 1, 'one line for the outage');
    assert.equal(((await report(daemon.httpPort)).consul as { reachable: boolean }).reachable, false);
    const back = await ConsulAgent.start(binary.path, { httpPort: port });
    try {
      await until(back, 'a report in the new Consul', () => true, 10_000);
      await waitFor('the recovery line', () => (daemon.lines.some((line) => line.includes('Consul reachable again')) ? true : undefined));
      assert.equal(daemon.child.exitCode, null);
    } finally {
      await back.kill();
    }
  });

  it('a hung Consul (SIGSTOP) does not stop the daemon answering, and writes do not pile up', async () => {
    if (!('path' in binary)) return;
    const hung = await ConsulAgent.start(binary.path);
    const daemon = await start(hung, { CONSUL_REPORTS_INTERVAL: '1' });
    try {
      await until(hung, 'a first report', () => true);
      process.kill(hung.pid, 'SIGSTOP');
      for (let i = 0; i < 6; i += 1) {
        suite.fake.set('jicofoHealth', i % 2 === 0 ? REPLIES.jicofoHardDown() : REPLIES.jicofoHealthy());
        await sleep(500);
        assert.equal((await get(daemon.httpPort, '/health')).status, 200);
      }
      const established = connectionsTo(daemon.child.pid ?? 0, hung.httpPort);
      assert.ok(established <= 1, `${established} connections to the hung Consul`);
    } finally {
      process.kill(hung.pid, 'SIGCONT');
      suite.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
      await hung.kill();
    }
  });
});

/** A process's TCP connections to a loopback port, from /proc/net/tcp and its file descriptors. */
function connectionsTo(pid: number, port: number): number {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return match === null ? [] : [match[1]];
      } catch {
        return [];
      }
    }),
  );
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[2]?.endsWith(`:${hex}`) && inodes.has(fields[9] ?? ''))
    .length;
}
