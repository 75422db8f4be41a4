import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { answer, FakeSignalNode } from '../../src/demo/fake-signal-node';
import { consulBinary, ConsulAgent } from '../helpers/consul';
import { DAEMON, freePort, QUICK, startDaemon, waitFor, type Daemon } from '../helpers/daemon';
import { run, type RunResult } from '../helpers/run';
import { manyRooms, publishedValue, room, shardReport } from '../helpers/shard-reports';

/**
 * `signal-sidecar fleet` as built (node dist/app.js fleet …) against a real
 * Consul: literal reports of every kind, ACLs with default deny, and real
 * daemons publishing their reports and census.
 */

let binary: { path: string } | { skip: string } | undefined;
/** Fetched once for every suite here (scripts/fetch-consul.sh caches it). */
const consulPath = (): { path: string } | { skip: string } => (binary ??= consulBinary());

/** A suite's Consul, started in `before`, or why there is none on this machine. */
function consulSuite(options: { masterToken?: string } = {}) {
  const suite: { agent: ConsulAgent | undefined; skip: string } = { agent: undefined, skip: '' };
  before(async () => {
    const found = consulPath();
    if ('skip' in found) suite.skip = found.skip;
    else suite.agent = await ConsulAgent.start(found.path, options);
  });
  after(async () => {
    await suite.agent?.stop();
  });
  /** The test body runs with the agent, or the test is skipped with the reason. */
  const withConsul = (body: (agent: ConsulAgent, t: TestContext) => Promise<void>) => async (t: TestContext) => {
    if (suite.agent === undefined) {
      t.skip(suite.skip);
      return;
    }
    await body(suite.agent, t);
  };
  return withConsul;
}

/** The CLI's environment: the daemon's Consul settings, nothing else. */
const cliEnv = (agent: ConsulAgent, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  CONSUL_HOST: '127.0.0.1',
  CONSUL_PORT: String(agent.httpPort),
  CONSUL_REPORT_KEY: 'signal-report/prod/this-shard',
  ...extra,
});

/** `node dist/app.js fleet …` in a directory without a .env. */
const fleet = (env: NodeJS.ProcessEnv, ...args: string[]): Promise<RunResult> =>
  run(process.execPath, [DAEMON, 'fleet', ...args], { env, cwd: tmpdir(), timeoutMs: 30_000 });

const STANDUP = 'standup@conference.meet.example.com';

/** Each row's cells start where the header's do: the table is aligned. */
function assertAligned(stdout: string): void {
  const lines = stdout.split('\n');
  const header = lines.findIndex((line) => line.startsWith('SHARD '));
  assert.ok(header >= 0, stdout);
  const starts = (line: string): number[] => [...line.matchAll(/(?:^| {2})(\S)/g)].map((match) => (match.index ?? 0) + match[0].length - 1).slice(0, 3);
  const rows = lines.slice(header + 1, lines.indexOf('', header));
  assert.ok(rows.length > 0);
  for (const row of rows) assert.deepEqual(starts(row), starts(lines[header] ?? ''), `aligned with the header:\n${lines[header]}\n${row}`);
}

describe('signal-sidecar fleet against a real Consul', () => {
  const withConsul = consulSuite();

  /** The fleet as Consul holds it: written at the start of each test that reads it, so ages are small. */
  async function writeFleet(agent: ConsulAgent): Promise<void> {
    const now = Date.now();
    const fresh = now - 4000;
    await agent.put('signal-report/prod/', '');
    await agent.put('signal-report/prod/shard1', publishedValue(shardReport(fresh), [room(STANDUP, 3), room('solo-a', 4), room('left', -1)]));
    await agent.put(
      'signal-report/prod/shard2',
      publishedValue(shardReport(fresh, { status: 'drain', weight: '0%', reasons: ['status drain (from Consul)'], stats: { jicofoParticipants: 5, jicofoConferences: 1 } }), [
        room(STANDUP, 2),
        room('solo-b', 1),
      ]),
    );
    await agent.put(
      'signal-report/prod/shard3',
      publishedValue(shardReport(now - 10 * 60_000 - 5000, { healthy: false, reasons: ['jicofo down (HTTP 500)'] }), [room(STANDUP, 6)]),
    );
    await agent.put('signal-report/prod/shard4', 'garbage{');
    await agent.put('signal-report/prod/shard5', '');
    await agent.put('signal-report/prod/shard6', publishedValue(shardReport(fresh), manyRooms(400, 'big'), 8192));
    // Another environment whose name starts the same: not part of signal-report/prod/.
    await agent.put('signal-report/prod-eu/shard1', publishedValue(shardReport(fresh), [room(STANDUP, 1)]));
    await agent.put('signal-report/quiet/q1', publishedValue(shardReport(fresh), [room('x', 2)]));
    await agent.put('signal-report/quiet/q2', publishedValue(shardReport(fresh), [room('y', 1), room('x', -1)]));
  }

  it('lists every shard in an aligned table, the split, what the check left out, a summary; exit 4', withConsul(async (agent, t) => {
    await writeFleet(agent);
    const result = await fleet(cliEnv(agent));
    t.diagnostic(`fleet output:\n${result.stdout}`);
    assert.equal(result.code, 4, result.stderr);
    assert.equal(result.stderr, '');
    const out = result.stdout;
    assert.match(out, /^Reports under signal-report\/prod\/ \(stale after 3m00s\):$/m, 'the folder of CONSUL_REPORT_KEY; three CONSUL_REPORTS_INTERVAL of 60 s');
    assert.match(out, /^SHARD {3}AGE +HEALTHY +STATUS +WEIGHT +PART +CONF +REASONS$/m);
    assert.match(out, /^shard1 +\d+s +yes +ready +100% +20 +4$/m);
    assert.match(out, /^shard2 +\d+s +yes +drain +0% +5 +1 +status drain \(from Consul\)$/m);
    assert.match(out, /^shard3 +10m\d\ds STALE +NO +ready +100% +20 +4 +jicofo down \(HTTP 500\)$/m);
    assert.match(out, /^shard4 +- +- +- +- +- +- +UNREADABLE: not JSON: "garbage\{"$/m);
    assert.match(out, /^shard5 +- +- +- +- +- +- +UNREADABLE: empty value$/m);
    assert.match(out, /^shard6 +\d+s +yes +ready/m);
    assertAligned(out);
    assert.doesNotMatch(out, /prod-eu/);
    assert.match(out, new RegExp(`^SPLIT: 1 room live on two or more shards at once \\(participants in brackets\\):\\n {2}${STANDUP} {2}shard1 \\(3\\), shard2 \\(2\\)$`, 'm'));
    assert.match(out, /^Not checked, stale \(a stopped sidecar's last census would give false alarms\): shard3$/m);
    assert.match(out, /^Not checked, unreadable: shard4, shard5$/m);
    assert.match(out, /^Census cut to fit Consul \(smaller rooms left out, their splits unseen\): shard6 \(\d+ of 400 rooms\)$/m);
    assert.match(out, /^6 shards: 3 healthy, 1 draining, 1 stale, 2 unreadable; 45 participants in 9 conferences$/m);
    for (const line of out.split('\n')) assert.ok(line.length <= 120, `at most 120 columns when stdout is no terminal: ${line}`);
  }));

  it('--json: every shard with the report as read, the splits, the check and the summary; exit 4', withConsul(async (agent) => {
    await writeFleet(agent);
    const result = await fleet(cliEnv(agent), 'signal-report/prod', '--json');
    assert.equal(result.code, 4, result.stderr);
    const json = JSON.parse(result.stdout) as {
      prefix: string;
      staleAfterSeconds: number;
      shards: { shard: string; readable: boolean; stale?: boolean; problem?: string; ageSeconds?: number; report?: { census: unknown[] }; census?: { truncated: boolean; totalRooms: number } }[];
      splits: unknown;
      splitCheck: { checked: number; leftOut: unknown; truncated: { shard: string; totalRooms: number }[] };
      summary: Record<string, number>;
    };
    assert.equal(json.prefix, 'signal-report/prod/', 'PREFIX without its / is one folder, not signal-report/prod-eu/ too');
    assert.equal(json.staleAfterSeconds, 180);
    assert.deepEqual(json.shards.map((shard) => shard.shard), ['shard1', 'shard2', 'shard3', 'shard4', 'shard5', 'shard6']);
    const [shard1, , shard3, shard4, , shard6] = json.shards;
    assert.ok((shard1?.ageSeconds ?? 0) >= 4 && (shard1?.ageSeconds ?? 0) < 60, String(shard1?.ageSeconds));
    assert.equal(shard1?.report?.census.length, 3);
    assert.equal(shard3?.stale, true);
    assert.deepEqual([shard4?.readable, shard4?.problem], [false, 'not JSON: "garbage{"']);
    assert.deepEqual([shard6?.census?.truncated, shard6?.census?.totalRooms], [true, 400]);
    assert.deepEqual(json.splits, [{ room: STANDUP, shards: [{ shard: 'shard1', participants: 3 }, { shard: 'shard2', participants: 2 }] }]);
    assert.equal(json.splitCheck.checked, 3);
    assert.deepEqual(json.splitCheck.leftOut, [
      { shard: 'shard3', why: 'stale' },
      { shard: 'shard4', why: 'unreadable' },
      { shard: 'shard5', why: 'unreadable' },
    ]);
    assert.deepEqual(json.splitCheck.truncated.map((shard) => [shard.shard, shard.totalRooms]), [['shard6', 400]]);
    assert.deepEqual(json.summary, { shards: 6, fresh: 3, stale: 1, unreadable: 2, healthy: 3, unhealthy: 0, draining: 1, participants: 45, conferences: 9, splits: 1 });
  }));

  it('with a longer stale limit a dead shard\'s last report is read again, and its census, unhealthy, still stays out of the split', withConsul(async (agent) => {
    await writeFleet(agent);
    const result = await fleet(cliEnv(agent), '--stale-after', '3600');
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stdout, /^shard3 +10m\d\ds +NO /m);
    assert.match(result.stdout, new RegExp(`^ {2}${STANDUP} {2}shard1 \\(3\\), shard2 \\(2\\)$`, 'm'));
    assert.match(result.stdout, /^Not checked, unhealthy \(.*\): shard3$/m);
    assert.doesNotMatch(result.stdout, /^Not checked, stale/m);
  }));

  it('exit 0 when no room is live on two shards', withConsul(async (agent) => {
    await writeFleet(agent);
    const result = await fleet(cliEnv(agent), 'signal-report/quiet/');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^No split conferences in the census of 2 shards\.$/m);
    assert.match(result.stdout, /^2 shards: 2 healthy; 40 participants in 8 conferences$/m);
    const stale = await fleet(cliEnv(agent), 'signal-report/quiet/', '--stale-after=1');
    assert.equal(stale.code, 0);
    assert.match(stale.stdout, /^No census to compare: no fresh report carries one/m);
    assert.match(stale.stdout, /^Not checked, stale .*: q1, q2$/m);
  }));

  it('a reader that stops early (| head) drops the rest of the output, nothing more: exit 4, no error', withConsul(async (agent) => {
    // Two shards with the same 3,000 live rooms: 3,000 split lines, far more than a pipe holds.
    for (const name of ['b1', 'b2']) await agent.put(`signal-report/big/${name}`, publishedValue(shardReport(Date.now()), manyRooms(3000, 'same')));
    const result = await run('bash', ['-c', `"$0" "$1" fleet signal-report/big/ | head -1; echo "exit \${PIPESTATUS[0]}" >&2`, process.execPath, DAEMON], {
      env: cliEnv(agent),
      cwd: tmpdir(),
      timeoutMs: 30_000,
    });
    assert.equal(result.stdout, 'Reports under signal-report/big/ (stale after 3m00s):\n');
    assert.equal(result.stderr, 'exit 4\n', 'no EPIPE, and the code of what was found');
  }));

  it('exit 1 with one line when nothing is under the prefix or Consul does not answer; 2 without a prefix to read', withConsul(async (agent) => {
    const empty = await fleet(cliEnv(agent), 'signal-report/nowhere/');
    assert.equal(empty.code, 1);
    assert.equal(empty.stdout, '');
    assert.equal(
      empty.stderr,
      `signal-sidecar: no reports under signal-report/nowhere/ in Consul at http://127.0.0.1:${agent.httpPort} (a wrong PREFIX? CONSUL_REPORTS off at the shards? ` +
        'With ACLs on, Consul hides keys from a read without a token: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)\n',
    );
    const port = await freePort();
    const down = await fleet(cliEnv(agent, { CONSUL_PORT: String(port) }));
    assert.equal(down.code, 1);
    assert.equal(down.stderr, `signal-sidecar: Consul at http://127.0.0.1:${port} does not answer: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    const noFolder = await fleet(cliEnv(agent, { CONSUL_REPORT_KEY: 'shard-report' }));
    assert.equal(noFolder.code, 2);
    assert.match(noFolder.stderr, /CONSUL_REPORT_KEY=shard-report is in no folder/);
  }));
});

describe('signal-sidecar fleet with Consul ACLs on (default deny)', () => {
  const master = `master-${randomUUID()}`;
  const withConsul = consulSuite({ masterToken: master });
  const dir = mkdtempSync(join(tmpdir(), 'fleet-acl-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A token with this policy; its SecretID. */
  async function tokenWith(agent: ConsulAgent, name: string, rules: string): Promise<string> {
    const policy = await agent.request('PUT', '/v1/acl/policy', JSON.stringify({ Name: name, Rules: rules }));
    assert.equal(policy.status, 200, policy.body);
    const token = await agent.request('PUT', '/v1/acl/token', JSON.stringify({ Policies: [{ Name: name }] }));
    assert.equal(token.status, 200, token.body);
    return (JSON.parse(token.body) as { SecretID: string }).SecretID;
  }

  let reader = '';
  let stranger = '';
  const secrets = (): string[] => [master, reader, stranger].filter((secret) => secret !== '');
  const assertNoToken = (result: RunResult): void => {
    for (const secret of secrets()) {
      assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'no token in any output');
    }
  };

  it('no token: Consul hides the keys rather than refuse (1.8.7 answers 404), and the line says where to set one', withConsul(async (agent) => {
    const now = Date.now();
    await agent.put('signal-report/prod/shard1', publishedValue(shardReport(now), [room(STANDUP, 2)]));
    await agent.put('signal-report/prod/shard2', publishedValue(shardReport(now), [room(STANDUP, 1)]));
    const result = await fleet(cliEnv(agent));
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^signal-sidecar: no reports under signal-report\/prod\/ .*With ACLs on, Consul hides keys from a read without a token: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE\)\n$/);
  }));

  it('a token Consul does not know: the 403 in one line, exit 1, the token nowhere', withConsul(async (agent) => {
    stranger = randomUUID();
    const result = await fleet(cliEnv(agent, { CONSUL_HTTP_TOKEN: stranger }));
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `signal-sidecar: Consul at http://127.0.0.1:${agent.httpPort} refused to read signal-report/prod/ (HTTP 403: ACL not found): ` +
        'the ACL token (CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE) is unknown to Consul or lacks key read on signal-report/prod/\n',
    );
    assertNoToken(result);
  }));

  it('a token without key read on the prefix finds nothing, and the line asks about its rights', withConsul(async (agent) => {
    const other = await tokenWith(agent, 'states-only', 'key_prefix "shard-states/" { policy = "read" }');
    const result = await fleet(cliEnv(agent, { CONSUL_HTTP_TOKEN: other }));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Consul hides the keys a token may not read: has it key read on signal-report\/prod\/\?\)\n$/);
    assert.ok(!result.stderr.includes(other));
  }));

  it('CONSUL_HTTP_TOKEN_FILE with key read on the prefix: the fleet, text and --json, and no token in either', withConsul(async (agent) => {
    reader = await tokenWith(agent, 'fleet-reader', 'key_prefix "signal-report/" { policy = "read" }');
    const file = join(dir, 'token');
    writeFileSync(file, `${reader}\n`);
    chmodSync(file, 0o600);
    const env = cliEnv(agent, { CONSUL_HTTP_TOKEN_FILE: file });
    const text = await fleet(env);
    assert.equal(text.code, 4, text.stderr);
    assert.match(text.stdout, /^shard1 +\d+s +yes +ready/m);
    assert.match(text.stdout, new RegExp(`^ {2}${STANDUP} {2}shard1 \\(2\\), shard2 \\(1\\)$`, 'm'));
    assertNoToken(text);
    const json = await fleet(env, '--json');
    assert.equal(json.code, 4, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { summary: { shards: number } }).summary.shards, 2);
    assertNoToken(json);
  }));
});

describe('signal-sidecar fleet reading what real daemons publish', () => {
  const withConsul = consulSuite();
  const nodes: FakeSignalNode[] = [];
  const daemons: Daemon[] = [];
  after(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await Promise.all(nodes.map((node) => node.stop()));
  });

  /** A fake signal node with this census, and a daemon publishing to signal-report/live/<shard>. */
  async function shard(agent: ConsulAgent, name: string, census: unknown[]): Promise<Daemon> {
    const node = await new FakeSignalNode().start();
    nodes.push(node);
    node.set('census', answer(200, JSON.stringify({ room_census: census })));
    const daemon = await startDaemon(
      {
        ...QUICK,
        POLLING_INTERVAL: '0.5',
        JICOFO_ORIG: node.jicofoOrigin,
        PROSODY_ORIG: node.prosodyOrigin,
        CENSUS_POLL: 'true',
        CENSUS_HOST: 'conference.meet.example.com',
        CONSUL_REPORTS: 'true',
        CENSUS_REPORTS: 'true',
        CONSUL_REPORTS_INTERVAL: '1',
        CONSUL_HOST: '127.0.0.1',
        CONSUL_PORT: String(agent.httpPort),
        CONSUL_REPORT_KEY: `signal-report/live/${name}`,
      },
      { status: 'ready' },
    );
    daemons.push(daemon);
    return daemon;
  }

  it('lists the daemons\' shards and their split room, then leaves a stopped one out as stale', withConsul(async (agent, t) => {
    await shard(agent, 'shard-a', [room(STANDUP, 3), room('only-a@conference.meet.example.com', 2)]);
    const b = await shard(agent, 'shard-b', [room(STANDUP, 2), room('only-b@conference.meet.example.com', 1), room('left@conference.meet.example.com', -1)]);
    for (const name of ['shard-a', 'shard-b']) {
      await waitFor(`${name}'s report with its census in Consul`, async () => ((await agent.get(`signal-report/live/${name}`))?.includes(STANDUP) === true ? true : undefined), 15_000, 100);
    }
    // CONSUL_REPORT_KEY is this shard's: its folder is the default PREFIX. The reader's interval
    // makes stale 6 s: a daemon writing every second stays fresh on a busy machine.
    const env = cliEnv(agent, { CONSUL_REPORT_KEY: 'signal-report/live/shard-a', CONSUL_REPORTS_INTERVAL: '2' });
    const live = await fleet(env);
    t.diagnostic(`fleet output:\n${live.stdout}`);
    assert.equal(live.code, 4, live.stderr);
    assert.match(live.stdout, /^Reports under signal-report\/live\/ \(stale after 6s\):$/m);
    assert.match(live.stdout, /^shard-a +\d+s +yes +ready +100% +20 +4$/m);
    assert.match(live.stdout, /^shard-b +\d+s +yes +ready +100% +20 +4$/m);
    assert.match(live.stdout, new RegExp(`^ {2}${STANDUP} {2}shard-a \\(3\\), shard-b \\(2\\)$`, 'm'));
    assert.match(live.stdout, /^2 shards: 2 healthy; 40 participants in 8 conferences$/m);
    assertAligned(live.stdout);

    await b.stop();
    const after = await waitFor(
      'shard-b to go stale',
      async () => {
        const result = await fleet(env);
        return /^shard-b +\d+s STALE/m.test(result.stdout) ? result : undefined;
      },
      30_000,
      500,
    );
    t.diagnostic(`fleet output once shard-b stopped:\n${after.stdout}`);
    assert.equal(after.code, 0, 'a stopped shard\'s last census is no split');
    assert.match(after.stdout, /^shard-a +\d+s +yes +ready/m);
    assert.match(after.stdout, /^No split conferences in the census of 1 shard\.$/m);
    assert.match(after.stdout, /^Not checked, stale \(a stopped sidecar's last census would give false alarms\): shard-b$/m);
  }));
});
