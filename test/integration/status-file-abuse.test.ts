import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { agentAnswer, get, report, startAgainst, untilHealthy, waitFor, type Daemon, type ReportJson } from '../helpers/daemon';

describe('hostile status files, seen through the directory watch', () => {
  const fake = new FakeSignalNode();
  let daemon: Daemon;

  before(async () => {
    await fake.start();
    // One poll at start, the next a minute later: every change below can
    // only have been seen through the watch on the status file's directory.
    // PROBE_TIMEOUT as in production: one slow first probe on a loaded machine would leave a minute without a verdict.
    daemon = await startAgainst(fake, { POLLING_INTERVAL: '60', PROBE_TIMEOUT: '3' });
    await untilHealthy(daemon.httpPort);
  });
  after(async () => {
    await daemon.stop();
    await fake.stop();
  });

  const reportWhere = (what: string, check: (body: ReportJson) => boolean): Promise<ReportJson> =>
    waitFor(what, async () => {
      const body = await report(daemon.httpPort);
      return check(body) ? body : undefined;
    }, 5000);

  const lastReasons = (): string[] => {
    const reasons = daemon.logs().at(-1)?.reasons;
    return Array.isArray(reasons) ? reasons.map(String) : [];
  };

  it('deleted: not found, status unknown, unhealthy', async () => {
    rmSync(daemon.statusFile);
    const seen = await reportWhere('the file to be missed', (body) => !body.statuses.statusFileFound);
    assert.equal(seen.status, 'unknown');
    assert.equal(seen.healthy, false);
    assert.deepEqual(lastReasons(), ['status file missing']);
  });

  it('recreated: read again', async () => {
    writeFileSync(daemon.statusFile, 'drain\n');
    const seen = await reportWhere('the recreated file', (body) => body.statuses.statusFileFound);
    assert.equal(seen.status, 'drain');
    assert.equal(seen.agentmessage, 'up drain 0%');
  });

  it('replaced by rename, as editors and config tools do', async () => {
    const temporary = `${daemon.statusFile}.tmp`;
    writeFileSync(temporary, 'maint\n');
    renameSync(temporary, daemon.statusFile);
    const seen = await reportWhere('the renamed file', (body) => body.status === 'maint');
    assert.equal(seen.statuses.statusFileContents, 'maint');
    // The watch survives the replacement: the next write is seen as well.
    writeFileSync(daemon.statusFile, 'ready');
    await reportWhere('a write after the rename', (body) => body.status === 'ready' && body.healthy);
  });

  it('a CRLF line is the bare word', async () => {
    writeFileSync(daemon.statusFile, 'drain\r\n');
    const seen = await reportWhere('the CRLF word', (body) => body.status === 'drain');
    assert.equal(seen.statuses.statusFileContents, 'drain');
  });

  it('empty: found, status unknown, sent to HAProxy as drain (by the scheduled poll)', async () => {
    // A watch-triggered read that finds the file empty is taken for a writer
    // between truncate and write and discarded; only a scheduled poll reports
    // a file that stays empty, so this case needs a daemon that polls.
    const polling = await startAgainst(fake, {}, '');
    try {
      const seen = await waitFor('the empty file', async () => {
        const body = await report(polling.httpPort);
        return body.statuses.statusFileFound ? body : undefined;
      });
      assert.equal(seen.statuses.statusFileContents, '');
      assert.equal(seen.status, 'unknown');
      assert.match(seen.agentmessage, / drain /);
    } finally {
      await polling.stop();
    }
  });

  it('an unknown word: status unknown, with the word in the reason', async () => {
    writeFileSync(daemon.statusFile, 'readyy\n');
    const seen = await reportWhere('the unknown word', (body) => body.statuses.statusFileContents === 'readyy');
    assert.equal(seen.status, 'unknown');
    assert.match(lastReasons().join(), /status file word "readyy"/);
  });

  it('"unhealthy": status drain, reported unhealthy', async () => {
    writeFileSync(daemon.statusFile, 'unhealthy\n');
    const seen = await reportWhere('the unhealthy word', (body) => body.statuses.statusFileContents === 'unhealthy');
    assert.equal(seen.status, 'drain');
    assert.equal(seen.healthy, false);
  });

  it('a directory at the path: not found, unhealthy, and the watch carries on', async () => {
    rmSync(daemon.statusFile);
    mkdirSync(daemon.statusFile);
    const seen = await reportWhere('the directory', (body) => !body.statuses.statusFileFound);
    assert.equal(seen.healthy, false);
    await waitFor('the directory reason', () => (lastReasons().includes('status file is a directory') ? true : undefined));
    rmSync(daemon.statusFile, { recursive: true });
    writeFileSync(daemon.statusFile, 'ready');
    await reportWhere('a file again', (body) => body.healthy && body.status === 'ready');
  });

  it('binary junk: status unknown, contents kept report-sized', async () => {
    writeFileSync(daemon.statusFile, Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 53 + 7) % 256)));
    const seen = await reportWhere('the junk', (body) => body.status === 'unknown' && body.statuses.statusFileFound);
    assert.ok(seen.statuses.statusFileContents.length <= 129);
  });

  it('64 KiB of garbage: reported, and a flood of requests adds no log line and stays small', async () => {
    writeFileSync(daemon.statusFile, 'x'.repeat(64 * 1024));
    const seen = await reportWhere('the garbage', (body) => body.statuses.statusFileContents.startsWith('xxx'));
    assert.ok(seen.statuses.statusFileContents.length <= 129);
    assert.equal(seen.status, 'unknown');
    const lines = daemon.lines.length;
    for (let round = 0; round < 50; round += 1) {
      const answers = await Promise.all([
        get(daemon.httpPort, '/signal/report'),
        get(daemon.httpPort, '/signal/health'),
        get(daemon.httpPort, '/health'),
        agentAnswer(daemon.agentPort),
      ]);
      assert.ok(answers[0].body.length < 4096, `report of ${answers[0].body.length} bytes`);
    }
    assert.equal(daemon.lines.length, lines, `new lines: ${daemon.lines.slice(lines).join('\n').slice(0, 500)}`);
    // The one line that told of the change is bounded too.
    assert.ok(Math.max(...daemon.lines.map((line) => line.length)) < 4096);
  });
});
