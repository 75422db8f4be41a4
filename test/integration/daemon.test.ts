import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, writeSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { FakeSignalNode, REPLIES, answer, fixture } from '../../src/demo/fake-signal-node';
import { DAEMON, agentAnswer, get, report, sleep, startAgainst, startDaemon, verdict, waitFor, type Daemon } from '../helpers/daemon';

let node: FakeSignalNode;
let daemon: Daemon | undefined;

/** `status: null` starts without a status file. */
async function start(env: Record<string, string> = {}, status: string | null = 'ready'): Promise<Daemon> {
  daemon = await startAgainst(node, env, status);
  return daemon;
}

const agentSays = (d: Daemon, expected: string, timeoutMs = 5000): Promise<true> =>
  waitFor(`agent line ${JSON.stringify(expected)}`, async () => (verdict(await agentAnswer(d.agentPort)) === expected ? true : undefined), timeoutMs);

describe('the daemon against a fake signal node', () => {
  before(async () => {
    node = await new FakeSignalNode().start();
  });
  afterEach(async () => {
    await daemon?.stop('SIGKILL');
    daemon = undefined;
    await node.stop();
    node = await new FakeSignalNode().start();
  });
  after(async () => {
    await node.stop();
  });

  it('reports a healthy, ready node on every endpoint', async () => {
    const d = await start();
    assert.equal(await agentAnswer(d.agentPort), 'up ready 100%\n');
    const health = await get(d.httpPort, '/signal/health');
    assert.equal(health.status, 200);
    assert.equal(health.body, 'OK');
    assert.equal((await get(d.httpPort, '/about/health')).status, 200);
    assert.equal((await get(d.httpPort, '/health')).status, 200);
    const answer = await get(d.httpPort, '/signal/report');
    assert.equal(answer.status, 200);
    assert.match(answer.type, /^application\/json/);
    const body = JSON.parse(answer.body) as Awaited<ReturnType<typeof report>>;
    assert.equal(body.healthy, true);
    assert.equal(body.status, 'ready');
    assert.equal(body.weight, '100%');
    assert.equal(body.agentmessage, 'up ready 100%');
    assert.equal(body.services.jicofoStatusCode, 200);
    assert.equal(body.services.prosodyStatusCode, 200);
    assert.deepEqual(body.statuses, { statusFileFound: true, statusFileContents: 'ready', statusSource: 'file' });
    assert.deepEqual(body.stats, { jicofoParticipants: 20, jicofoConferences: 4 });
    assert.equal((await get(d.httpPort, '/nope')).status, 404);
  });

  it('started as the systemd unit starts it, it can give back the heap a burst grew', async () => {
    const d = await start({ LOG_LEVEL: 'debug' });
    await waitFor('the heap trim to be armed', () => (d.logs().some((line) => String(line.message).startsWith('heap trim on')) ? true : undefined));
    assert.ok(!d.logs().some((line) => String(line.message).startsWith('heap trim off')));
  });

  it('drain reaches the agent through the file watch, long before the next poll', async () => {
    const d = await start({ POLLING_INTERVAL: '60' });
    await agentSays(d, 'up ready 100%\n');
    const written = Date.now();
    d.setStatus('drain\n');
    await agentSays(d, 'up drain 0%\n');
    const tookMs = Date.now() - written;
    // The next poll is a minute away: only the watch can have delivered it.
    assert.ok(tookMs < 30_000, `drain took ${tookMs} ms`);
    assert.equal((await report(d.httpPort)).status, 'drain');
  });

  it('follows the status file through rename, deletion and recreation', async () => {
    const d = await start({ POLLING_INTERVAL: '60' });
    await agentSays(d, 'up ready 100%\n');
    const temp = `${d.statusFile}.tmp`;
    writeFileSync(temp, 'maint\n');
    renameSync(temp, d.statusFile);
    await agentSays(d, 'up maint 0%\n');
    rmSync(d.statusFile);
    await agentSays(d, 'down drain 100%\n');
    assert.equal((await report(d.httpPort)).statuses.statusFileFound, false);
    writeFileSync(d.statusFile, 'ready');
    await agentSays(d, 'up ready 100%\n');
  });

  it('rewriting the status file in place never shows a transient state', async () => {
    const d = await start({ POLLING_INTERVAL: '60' });
    await agentSays(d, 'up ready 100%\n');
    // A writer that truncates, then writes a moment later (a shell redirect
    // in a busy script): the empty file in between must not become a verdict.
    for (let i = 0; i < 30; i += 1) {
      const handle = openSync(d.statusFile, 'w');
      await sleep(5);
      writeSync(handle, 'ready\n');
      closeSync(handle);
      await sleep(20);
    }
    await sleep(100);
    const events = (JSON.parse((await get(d.httpPort, '/signal/events')).body) as { events: unknown[] }).events;
    assert.equal(events.length, 1, JSON.stringify(events));
  });

  it('maint, the unhealthy word and a missing file', async () => {
    const d = await start({}, 'maint');
    await agentSays(d, 'up maint 0%\n');
    d.setStatus('unhealthy');
    await agentSays(d, 'down drain 0%\n');
    const body = await report(d.httpPort);
    assert.equal(body.healthy, false);
    assert.equal(body.status, 'drain');
    assert.equal((await get(d.httpPort, '/signal/health')).status, 503);
    assert.equal((await get(d.httpPort, '/signal/health')).body, 'NOT_OK');
    assert.equal((await get(d.httpPort, '/signal/report')).status, 503);
  });

  it('a missing status file is unhealthy with status unknown', async () => {
    const d = await start({}, null);
    await agentSays(d, 'down drain 100%\n');
    const body = await report(d.httpPort);
    assert.equal(body.status, 'unknown');
    assert.equal(body.statuses.statusFileFound, false);
  });

  it('jicofo 500 is down at once, logged once, and the 404 hint appears for a disabled health check', async () => {
    const d = await start();
    await agentSays(d, 'up ready 100%\n');
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    await agentSays(d, 'down ready 100%\n');
    assert.equal(await agentAnswer(d.agentPort), 'down ready 100% # jicofo health 500\n');
    const body = await report(d.httpPort);
    assert.deepEqual(body.reasons, ['jicofo health 500']);
    assert.equal(body.services.jicofoStatusCode, 500);
    assert.equal(body.services.jicofoStatusContents, 'No operational bridges available (total bridge count: 0)');
    assert.equal(body.stats.jicofoParticipants, null);
    await sleep(1000); // about five more polls of the same failure
    const changes = d.logs().filter((line) => line.message === 'signal node state changed');
    assert.equal(changes.length, 1, JSON.stringify(changes));
    assert.deepEqual(changes[0]?.reasons, ['jicofo health 500']);

    node.set('jicofoHealth', answer(404, 'Not Found'));
    await waitFor('the 404 hint', () => (d.logs().some((line) => String(line.message).includes('jicofo.health.enabled')) ? true : undefined));
    await sleep(600);
    assert.equal(d.logs().filter((line) => String(line.message).includes('jicofo.health.enabled')).length, 1);
  });

  it('jicofo 503 drains during the grace, then goes down, then is dampened on recovery', async () => {
    const d = await start({ DRAIN_GRACE_INTERVAL: '1.5', HEALTH_DAMPENING_INTERVAL: '1' });
    await agentSays(d, 'up ready 100%\n');
    node.set('jicofoHealth', REPLIES.jicofoSoftDown());
    await agentSays(d, 'up drain 0%\n');
    const softAt = Date.now();
    const during = await report(d.httpPort);
    assert.equal(during.healthy, true);
    assert.equal(during.services.jicofoSoftDown, true);
    await agentSays(d, 'down ready 100%\n');
    const graceMs = Date.now() - softAt;
    assert.ok(graceMs >= 1000, `grace lasted ${graceMs} ms`);
    node.set('jicofoHealth', REPLIES.jicofoHealthy());
    await waitFor('dampening', async () => ((await report(d.httpPort)).healthdamped ? true : undefined));
    assert.match(await agentAnswer(d.agentPort), /^down ready 100% # dampening until \d{4}-/);
    await agentSays(d, 'up ready 100%\n');
  });

  it('a hung jicofo is seen within the probe timeout plus one interval', async () => {
    const d = await start({ POLLING_INTERVAL: '0.5', PROBE_TIMEOUT: '0.5' });
    await agentSays(d, 'up ready 100%\n');
    const hungAt = Date.now();
    node.set('jicofoHealth', { kind: 'hang' });
    await agentSays(d, 'down ready 100%\n');
    const tookMs = Date.now() - hungAt;
    const body = await report(d.httpPort);
    assert.equal(body.services.jicofoReachable, false);
    assert.equal(body.services.jicofoStatusCode, 0);
    // Bound: timeout 0.5 s + interval 0.5 s, plus slack for a shared machine.
    assert.ok(tookMs < 3000, `detection took ${tookMs} ms`);
    // Never two probes in flight against the hung endpoint.
    const seenAfter = node.count('jicofoHealth');
    await sleep(1000);
    assert.ok(node.count('jicofoHealth') - seenAfter <= 3);
  });

  it('prosody refusing connections is down', async () => {
    const d = await start();
    await agentSays(d, 'up ready 100%\n');
    await node.stopProsody();
    await agentSays(d, 'down ready 100%\n');
    const body = await report(d.httpPort);
    assert.equal(body.services.prosodyReachable, false);
    assert.equal(body.services.prosodyStatusCode, 0);
    assert.equal(body.services.prosodyHealthy, false);
  });

  it('bad stats JSON and string participants are unhealthy', async () => {
    const d = await start();
    node.set('jicofoStats', answer(200, '{"participants": 3', 'application/json'));
    await agentSays(d, 'down ready 100%\n');
    assert.equal((await report(d.httpPort)).stats.jicofoParticipants, null);
    node.set('jicofoStats', REPLIES.statsWith('many'));
    await sleep(500);
    assert.equal(await agentAnswer(d.agentPort), 'down ready 100% # jicofo stats participants is "many", not a number\n');
    node.set('jicofoStats', REPLIES.stats());
    await agentSays(d, 'up ready 100%\n');
  });

  it('weights by participants and drains above PARTICIPANT_MAX', async () => {
    const d = await start({ WEIGHT_PARTICIPANTS: 'true', PARTIPANT_MAX: '1000' });
    node.set('jicofoStats', REPLIES.statsWith(250));
    await agentSays(d, 'up ready 75%\n');
    node.set('jicofoStats', REPLIES.statsWith(1200));
    await agentSays(d, 'up drain 0%\n');
  });

  it('serves the census as an array from real and empty payloads', async () => {
    const d = await start({ CENSUS_POLL: 'true', CENSUS_HOST: 'conference.meet.example.com' });
    const census = await waitFor('census', async () => {
      const answer = await get(d.httpPort, '/signal/census');
      const parsed = JSON.parse(answer.body) as { room_census: unknown[] };
      return parsed.room_census.length > 0 ? parsed : undefined;
    });
    assert.equal(census.room_census.length, 4);
    assert.equal(node.seen.find((request) => request.endpoint === 'census')?.host, 'conference.meet.example.com');
    const stats = (await report(d.httpPort)).stats;
    assert.equal(stats.prosodyParticipants, 19);
    assert.equal(stats.prosodySumSquaredParticipants, 173);

    node.set('census', answer(200, fixture('room-census-empty.json')));
    await waitFor('empty census', async () => ((await report(d.httpPort)).stats.prosodyParticipants === 0 ? true : undefined));
    assert.deepEqual(JSON.parse((await get(d.httpPort, '/signal/census')).body), { room_census: [] });
    assert.match((await get(d.httpPort, '/metrics')).body, /^signal_census 1$/m);
  });

  it('without CENSUS_POLL and METRICS those endpoints are 404', async () => {
    const d = await start({ METRICS: 'false' });
    assert.equal((await get(d.httpPort, '/signal/census')).status, 404);
    assert.equal((await get(d.httpPort, '/metrics')).status, 404);
    assert.equal(node.count('census'), 0);
    assert.equal('prosodyParticipants' in (await report(d.httpPort)).stats, false);
  });

  it('serves the original metric names, with a bounded uri label', async () => {
    const d = await start();
    await agentAnswer(d.agentPort);
    await get(d.httpPort, '/signal/health');
    for (let i = 0; i < 50; i += 1) await get(d.httpPort, `/random/${i}`);
    const metrics = await get(d.httpPort, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain/);
    for (const name of [
      'signal_health',
      'signal_health_check',
      'signal_unhealthy_check',
      'signal_unhealthy_total',
      'http_server_requests_in_flight',
      'http_server_requests_total',
      'http_server_request_duration_seconds',
      'signal_probe_success',
      'signal_probe_duration_seconds',
      'process_resident_memory_bytes',
    ]) {
      assert.match(metrics.body, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(metrics.body, /^signal_health 1$/m);
    assert.match(metrics.body, /^signal_probe_success\{source="jicofo_health"\} 1$/m);
    assert.match(metrics.body, /^http_server_requests_total\{method="GET",code="404",uri="other"\} 50$/m);
    assert.equal(/random/.test(metrics.body), false);
    const checks = Number(/^signal_health_check (\d+)$/m.exec(metrics.body)?.[1]);
    assert.ok(checks >= 2, `signal_health_check ${checks}`);
  });

  it('sends PROSODY_HOST as the Host header of /http-bind', async () => {
    await node.stop();
    node = await new FakeSignalNode({ prosodyVirtualHost: 'meet.example.com' }).start();
    const d = await start({ PROSODY_HOST: 'meet.example.com' });
    await agentSays(d, 'up ready 100%\n');
    assert.equal(node.seen.find((request) => request.endpoint === 'prosody')?.host, 'meet.example.com');
  });

  it('gives no verdict before the first poll: the agent holds the connection until there is one', async () => {
    node.set('jicofoHealth', { kind: 'hang' });
    const d = await start({ POLLING_INTERVAL: '5', PROBE_TIMEOUT: '1' });
    const asked = Date.now();
    const line = await agentAnswer(d.agentPort, 4000);
    assert.equal(line, 'down ready 100% # jicofo health timeout after 1000 ms\n');
    // The first poll ends at the probe timeout; no made-up verdict before it.
    assert.ok(Date.now() - asked >= 500, 'answered before the first poll could complete');
  });

  it('runs JICOFO_DUMP without a shell when jicofo goes unhealthy, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dump-'));
    const script = join(dir, 'dump.sh');
    const marker = join(dir, 'ran');
    writeFileSync(script, `#!/bin/sh\necho run >> ${marker}\nsleep 1\n`);
    chmodSync(script, 0o755);
    const d = await start({ JICOFO_DUMP: script });
    await agentSays(d, 'up ready 100%\n');
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    await waitFor('the dump script to run', () => (existsSync(marker) ? true : undefined));
    await sleep(600);
    assert.equal(readFileSync(marker, 'utf8'), 'run\n');
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 on SIGTERM and stops answering the agent', async () => {
    const d = await start();
    await agentSays(d, 'up ready 100%\n');
    const sent = Date.now();
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.ok(Date.now() - sent < 2000, 'took longer than 2 s to exit');
    await assert.rejects(agentAnswer(d.agentPort), /ECONNREFUSED/);
    assert.ok(d.logs().some((line) => line.message === 'signal-sidecar stopped'));
  });

  it('exits 0 on SIGINT too', async () => {
    const d = await start();
    assert.equal(await d.stop('SIGINT'), 0);
  });
});

describe('bad configuration', () => {
  it('exits non-zero before listening, one line per bad variable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'badconfig-'));
    mkdirSync(dir, { recursive: true });
    const child = spawn(process.execPath, [DAEMON], {
      cwd: dir,
      env: { PATH: process.env.PATH, HTTP_PORT: 'abc', POLLING_INTERVAL: 'soon', LOG_LEVEL: 'loud' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 78);
    assert.equal(stdout, '');
    assert.deepEqual(stderr.trim().split('\n'), [
      'signal-sidecar: bad configuration: HTTP_PORT="abc": expected a port number from 1 to 65535',
      'signal-sidecar: bad configuration: POLLING_INTERVAL="soon": expected a number of seconds from 0.1 and at most 86400 (decimals allowed, e.g. 0.5)',
      'signal-sidecar: bad configuration: LOG_LEVEL="loud": expected one of debug, info, warn, error',
    ]);
  });

  it('reads a .env file from its working directory', async () => {
    const upstream = await new FakeSignalNode().start();
    const dir = mkdtempSync(join(tmpdir(), 'dotenv-'));
    const status = join(dir, 'status');
    writeFileSync(status, 'maint');
    writeFileSync(join(dir, '.env'), `JICOFO_ORIG=${upstream.jicofoOrigin}\nPROSODY_ORIG=${upstream.prosodyOrigin}\nPOLLING_INTERVAL=0.2\n`);
    const d = await startDaemon({ STATUS_PATH: status }, { cwd: dir });
    try {
      // Only the .env file names the fake upstreams: a healthy answer proves it was read.
      await agentSays(d, 'up maint 0%\n');
    } finally {
      await d.stop();
      await upstream.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the file CONFIG_FILE names; the environment wins over it', async () => {
    const upstream = await new FakeSignalNode().start();
    const dir = mkdtempSync(join(tmpdir(), 'config-file-'));
    const status = join(dir, 'status');
    writeFileSync(status, 'ready');
    const file = join(dir, 'sidecar.conf');
    writeFileSync(file, `# comment\nJICOFO_ORIG=${upstream.jicofoOrigin}\nPROSODY_ORIG=${upstream.prosodyOrigin}\nPOLLING_INTERVAL=0.2\nSTATUS_PATH=/nonexistent\n`);
    const d = await startDaemon({ CONFIG_FILE: file, STATUS_PATH: status });
    try {
      await agentSays(d, 'up ready 100%\n');
    } finally {
      await d.stop();
      await upstream.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a CONFIG_FILE that is missing or has a line that is not NAME=value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-file-'));
    const broken = join(dir, 'broken.conf');
    writeFileSync(broken, 'POLLING_INTERVAL=1\nthis is not an assignment\n');
    try {
      for (const [file, expected] of [
        [join(dir, 'absent.conf'), /^signal-sidecar: bad configuration: CONFIG_FILE=".*absent\.conf": cannot read it \(ENOENT/],
        [broken, /^signal-sidecar: bad configuration: .*broken\.conf:2: expected NAME=value, got "this is not an assignment"$/],
      ] as const) {
        const child = spawn(process.execPath, [DAEMON], { cwd: dir, env: { PATH: process.env.PATH, CONFIG_FILE: file }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const code = await new Promise<number | null>((done) => child.once('exit', done));
        assert.equal(code, 78, stderr);
        assert.match(stderr.trim(), expected);
        assert.equal(stderr.trim().split('\n').length, 1, 'one line for the one problem');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
