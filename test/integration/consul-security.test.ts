import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConsulAgent, consulBinary, testCertificates } from '../helpers/consul';
import { agentAnswer, agentSays, DAEMON, freePort, get, QUICK, report, sleep, startDaemon, verdict, waitFor, type Daemon } from '../helpers/daemon';
import { daemonSuite } from '../helpers/daemon-suite';
import { run } from '../helpers/run';

/**
 * ACL tokens, https and reloads against a real Consul, through the built
 * daemon: with ACLs on and default deny, a missing token is a lost watch, not
 * a crash; the token works from the environment or a file, a rotated file is
 * read again after a 403, and the token itself never shows anywhere.
 */

const KEY = 'shard-states/prod/shard1';
const REPORT_KEY = 'signal-report/prod/shard1';
const MASTER = '0d5d3c2e-4c5b-4f57-9b1a-6f0c2b5e9a11';
const binary = consulBinary();
const skip = 'skip' in binary ? binary.skip : undefined;

describe('Consul with ACLs on and default deny', { skip }, () => {
  const suite = daemonSuite('consul-acl-');
  let consul: ConsulAgent;
  let reader = '';

  before(async () => {
    if (!('path' in binary)) return;
    consul = await ConsulAgent.start(binary.path, { masterToken: MASTER });
    await consul.put(KEY, 'drain');
    // A token that may read the status key and write the report key, and nothing else.
    const rules = `key_prefix "shard-states/" { policy = "read" }\nkey_prefix "signal-report/" { policy = "write" }`;
    const policy = await consul.request('PUT', '/v1/acl/policy', JSON.stringify({ Name: 'signal-sidecar', Rules: rules }));
    assert.equal(policy.status, 200, policy.body);
    const token = await consul.request('PUT', '/v1/acl/token', JSON.stringify({ Policies: [{ Name: 'signal-sidecar' }] }));
    assert.equal(token.status, 200, token.body);
    reader = (JSON.parse(token.body) as { SecretID: string }).SecretID;
  });
  after(async () => {
    await consul?.kill();
  });

  const env = (extra: Record<string, string>): Record<string, string> => ({
    ...QUICK,
    POLLING_INTERVAL: '60',
    JICOFO_ORIG: suite.fake.jicofoOrigin,
    PROSODY_ORIG: suite.fake.prosodyOrigin,
    CONSUL_STATUS: 'true',
    CONSUL_REPORTS: 'true',
    CONSUL_REPORTS_INTERVAL: '1',
    CONSUL_HOST: '127.0.0.1',
    CONSUL_PORT: String(consul.httpPort),
    CONSUL_STATUS_KEY: KEY,
    CONSUL_REPORT_KEY: REPORT_KEY,
    ...extra,
  });
  const start = async (extra: Record<string, string>): Promise<Daemon> => (suite.daemon = await startDaemon(env(extra), { status: 'ready\n' }));

  it('without a token: 403, one line, the file\'s word in force, the daemon serving', async () => {
    const daemon = await start({});
    await waitFor('the refusal', () => (daemon.lines.some((line) => line.includes('Consul refuses the status watch')) ? true : undefined));
    await sleep(2500);
    assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up ready 100%\n');
    assert.equal(daemon.lines.filter((line) => line.includes('Consul refuses the status watch')).length, 1);
    assert.match(daemon.lines.find((line) => line.includes('Consul refuses the status watch')) ?? '', /HTTP 403: Permission denied/);
    assert.equal(daemon.lines.filter((line) => line.includes('Consul refuses the report writes')).length, 1);
    const view = (await report(daemon.httpPort)).consul as { reachable: boolean; status: { problem: string } };
    assert.deepEqual([view.reachable, view.status.problem], [false, 'HTTP 403: Permission denied']);
  });

  it('with CONSUL_HTTP_TOKEN: the key is watched and the report written; the token is in no log line, report or metric', async () => {
    const daemon = await start({ CONSUL_HTTP_TOKEN: reader });
    await agentSays(daemon, 'up drain 0%\n');
    await waitFor('a report in Consul', async () => ((await consul.get(REPORT_KEY)) !== undefined ? true : undefined));
    const everything = [daemon.lines.join('\n'), daemon.stderr.join(''), JSON.stringify(await report(daemon.httpPort)), (await get(daemon.httpPort, '/metrics')).body, (await consul.get(REPORT_KEY)) ?? ''];
    for (const text of everything) assert.ok(!text.includes(reader), 'the token shows');
    assert.match(daemon.lines.find((line) => line.includes('signal-sidecar starting')) ?? '', /"consulToken":"\(hidden\)"/);
  });

  it('with CONSUL_HTTP_TOKEN_FILE: read at start, and read again after a 403 when the token is rotated', async () => {
    const tokenFile = join(suite.scratch, 'token');
    writeFileSync(tokenFile, `${reader}\n`);
    const daemon = await start({ CONSUL_HTTP_TOKEN_FILE: tokenFile });
    await agentSays(daemon, 'up drain 0%\n');
    // Rotate: a new token in the file, the old one revoked.
    const created = await consul.request('PUT', '/v1/acl/token', JSON.stringify({ Policies: [{ Name: 'signal-sidecar' }] }));
    const rotated = (JSON.parse(created.body) as { SecretID: string; AccessorID: string }).SecretID;
    writeFileSync(tokenFile, `${rotated}\n`);
    const accessor = (JSON.parse((await consul.request('GET', `/v1/acl/token/self`, undefined, reader)).body) as { AccessorID: string }).AccessorID;
    assert.equal((await consul.request('DELETE', `/v1/acl/token/${accessor}`)).status, 200);
    await consul.put(KEY, 'maint');
    await agentSays(daemon, 'up maint 0%\n', 20_000);
    assert.ok(!daemon.lines.join('\n').includes(rotated) && !daemon.lines.join('\n').includes(reader));
    await consul.put(KEY, 'drain');
    reader = rotated;
  });

  it('a token file that cannot be read stops the daemon at start with one line naming it, and --check-config says the same', async () => {
    const missing = join(suite.scratch, 'no-such-token');
    rmSync(missing, { force: true });
    const configEnv = { PATH: process.env.PATH ?? '', CONSUL_STATUS: 'true', CONSUL_HTTP_TOKEN_FILE: missing };
    const started = await run(process.execPath, [DAEMON], { env: configEnv, timeoutMs: 10_000 });
    assert.equal(started.code, 78);
    assert.equal(started.stderr, `signal-sidecar: bad configuration: CONSUL_HTTP_TOKEN_FILE="${missing}": cannot read it (no such file)\n`);
    const checked = await run(process.execPath, [DAEMON, '--check-config'], { env: configEnv, timeoutMs: 10_000 });
    assert.equal(checked.code, 1);
    assert.match(checked.stderr, /CONSUL_HTTP_TOKEN_FILE=.*cannot read it/);
  });

  it('--help and --check-config never print the token', async () => {
    const withToken = { PATH: process.env.PATH ?? '', CONSUL_STATUS: 'true', CONSUL_HTTP_TOKEN: MASTER };
    for (const args of [['--help'], ['--check-config'], ['--config-template']]) {
      const result = await run(process.execPath, [DAEMON, ...args], { env: withToken, timeoutMs: 10_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(!(result.stdout + result.stderr).includes(MASTER), `${args.join(' ')} shows the token`);
    }
  });
});

describe('Consul over https', { skip }, () => {
  const suite = daemonSuite('consul-tls-');
  let consul: ConsulAgent;
  let certs: Awaited<ReturnType<typeof testCertificates>>;
  let httpsPort = 0;

  before(async () => {
    if (!('path' in binary)) return;
    certs = await testCertificates();
    httpsPort = await freePort();
    consul = await ConsulAgent.start(binary.path, { tls: { httpsPort, cert: certs.cert, key: certs.key, ca: certs.ca } });
    await consul.put(KEY, 'maint');
  });
  after(async () => {
    await consul?.kill();
    if (certs !== undefined) rmSync(certs.dir, { recursive: true, force: true });
  });

  const start = async (extra: Record<string, string>): Promise<Daemon> =>
    (suite.daemon = await startDaemon(
      {
        ...QUICK,
        POLLING_INTERVAL: '60',
        JICOFO_ORIG: suite.fake.jicofoOrigin,
        PROSODY_ORIG: suite.fake.prosodyOrigin,
        CONSUL_STATUS: 'true',
        CONSUL_SECURE: 'true',
        CONSUL_HOST: '127.0.0.1',
        CONSUL_PORT: String(httpsPort),
        CONSUL_STATUS_KEY: KEY,
        ...extra,
      },
      { status: 'ready\n' },
    ));

  it('CONSUL_SECURE with CONSUL_CACERT: verified, watched', async () => {
    const daemon = await start({ CONSUL_CACERT: certs.ca });
    await agentSays(daemon, 'up maint 0%\n');
    await consul.put(KEY, 'drain');
    await agentSays(daemon, 'up drain 0%\n');
    await consul.put(KEY, 'maint');
  });

  it('a certificate from another CA is refused, with one line that says why', async () => {
    const daemon = await start({ CONSUL_CACERT: certs.otherCa });
    await waitFor('the outage', () => (daemon.lines.some((line) => line.includes('Consul unreachable')) ? true : undefined));
    assert.match(daemon.lines.find((line) => line.includes('Consul unreachable')) ?? '', /self[- ]signed|unable to verify|certificate/i);
    assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up ready 100%\n');
  });
});

describe('reload applies every Consul setting', { skip }, () => {
  const suite = daemonSuite('consul-reload-');
  let consul: ConsulAgent;

  before(async () => {
    if (!('path' in binary)) return;
    consul = await ConsulAgent.start(binary.path);
    await consul.put('shard-states/prod/a', 'drain');
    await consul.put('shard-states/prod/b', 'maint');
  });
  after(async () => {
    await consul?.kill();
  });

  it('turns the watch on, moves it to another key, starts and stops publishing, and turns it off', async () => {
    const file = join(suite.scratch, 'config');
    const base = [
      `JICOFO_ORIG=${suite.fake.jicofoOrigin}`,
      `PROSODY_ORIG=${suite.fake.prosodyOrigin}`,
      'POLLING_INTERVAL=60',
      'HEALTH_DAMPENING_INTERVAL=0',
      'DRAIN_GRACE_INTERVAL=0',
      'CONSUL_HOST=127.0.0.1',
      `CONSUL_PORT=${consul.httpPort}`,
    ];
    const configure = (...lines: string[]): void => writeFileSync(file, `${[...base, ...lines].join('\n')}\n`);
    configure();
    const daemon = (suite.daemon = await startDaemon({ CONFIG_FILE: file }, { status: 'ready\n', unset: ['POLLING_INTERVAL', 'HEALTH_DAMPENING_INTERVAL', 'DRAIN_GRACE_INTERVAL'] }));
    await agentSays(daemon, 'up ready 100%\n');
    const reload = async (...lines: string[]): Promise<void> => {
      const before = daemon.lines.filter((line) => line.includes('configuration reloaded')).length;
      configure(...lines);
      daemon.child.kill('SIGHUP');
      await waitFor('the reload', () => (daemon.lines.filter((line) => line.includes('configuration reloaded')).length > before ? true : undefined));
    };

    await reload('CONSUL_STATUS=true', 'CONSUL_STATUS_KEY=shard-states/prod/a');
    await agentSays(daemon, 'up drain 0%\n');
    await reload('CONSUL_STATUS=true', 'CONSUL_STATUS_KEY=shard-states/prod/b', 'CONSUL_REPORTS=true', 'CONSUL_REPORT_KEY=signal-report/prod/x');
    await agentSays(daemon, 'up maint 0%\n');
    await waitFor('the report', async () => ((await consul.get('signal-report/prod/x')) !== undefined ? true : undefined));
    await consul.delete('signal-report/prod/x');
    await reload('CONSUL_STATUS=false');
    await agentSays(daemon, 'up maint 0%\n', 2000);
    assert.equal((await report(daemon.httpPort)).consul, undefined);
    await consul.put('shard-states/prod/b', 'ready');
    await sleep(500);
    assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up maint 0%\n', 'the watch is off: the kept word stays');
    assert.equal(await consul.get('signal-report/prod/x'), undefined, 'publishing stopped');
  });
});
