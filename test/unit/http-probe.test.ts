import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createHttpProbe } from '../../src/collect/http-probe';
import { FakeSignalNode, REPLIES, answer } from '../../src/demo/fake-signal-node';

/** The probe as the collectors see it: every upstream failure is data, within the deadline. */
void describe('HTTP probe', () => {
  const probe = createHttpProbe();
  let node: FakeSignalNode;
  let stalling: http.Server;
  let stallingUrl: string;

  before(async () => {
    node = await new FakeSignalNode({ prosodyVirtualHost: 'meet.example.com' }).start();
    // Sends headers and part of the body, then nothing.
    stalling = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('partial');
    });
    await new Promise<void>((done) => stalling.listen(0, '127.0.0.1', done));
    stallingUrl = `http://127.0.0.1:${(stalling.address() as AddressInfo).port}/`;
  });

  after(async () => {
    stalling.closeAllConnections();
    await new Promise((done) => stalling.close(done));
    await node.stop();
  });

  const get = (url: string, extra: { host?: string; bodyLimit?: number; keepBytes?: number } = {}) => probe({ url, timeoutMs: 300, bodyLimit: 65_536, ...extra });

  void it('returns status and body of any answer, without following or judging it', async () => {
    const ok = await get(`${node.jicofoOrigin}/about/health`);
    assert.deepEqual({ ...ok, durationMs: 0 }, { reachable: true, statusCode: 200, body: 'OK', truncated: false, durationMs: 0, timedOut: false, error: null });
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    const hard = await get(`${node.jicofoOrigin}/about/health`);
    assert.equal(hard.statusCode, 500);
    assert.equal(hard.error, null);
    assert.match(hard.body, /No operational bridges/);
    node.set('jicofoHealth', REPLIES.jicofoHealthy());
  });

  void it('sends the Host header asked for', async () => {
    assert.equal((await get(`${node.prosodyOrigin}/http-bind`)).statusCode, 404);
    assert.equal((await get(`${node.prosodyOrigin}/http-bind`, { host: 'meet.example.com' })).statusCode, 200);
  });

  void it('cuts a long body at the limit', async () => {
    node.set('jicofoStats', answer(200, 'x'.repeat(100_000)));
    const result = await get(`${node.jicofoOrigin}/stats`, { bodyLimit: 1000 });
    assert.equal(result.body.length, 1000);
    assert.equal(result.truncated, true);
    assert.equal(result.error, null);
    node.set('jicofoStats', REPLIES.stats());
  });

  void it('keeps only the bytes asked for, and still reads (and judges) the body to the limit', async () => {
    node.set('jicofoStats', answer(200, `${'a'.repeat(300)}${'b'.repeat(99_700)}`));
    const cut = await get(`${node.jicofoOrigin}/stats`, { bodyLimit: 1000, keepBytes: 300 });
    assert.deepEqual({ body: cut.body, truncated: cut.truncated, error: cut.error }, { body: 'a'.repeat(300), truncated: true, error: null });
    const whole = await get(`${node.jicofoOrigin}/stats`, { bodyLimit: 200_000, keepBytes: 0 });
    assert.deepEqual({ body: whole.body, truncated: whole.truncated, error: whole.error }, { body: '', truncated: false, error: null });
    node.set('jicofoStats', REPLIES.stats());
  });

  void it('gives up on a hung upstream at the deadline', async () => {
    node.set('jicofoHealth', { kind: 'hang' });
    const result = await get(`${node.jicofoOrigin}/about/health`);
    assert.equal(result.reachable, false);
    assert.equal(result.timedOut, true);
    assert.equal(result.error, 'timeout after 300 ms');
    assert.ok(result.durationMs >= 290 && result.durationMs < 2000, String(result.durationMs));
    node.set('jicofoHealth', REPLIES.jicofoHealthy());
  });

  void it('reports a body cut short by the deadline as timed out', async () => {
    const result = await get(stallingUrl);
    assert.equal(result.reachable, true);
    assert.equal(result.body, 'partial');
    assert.equal(result.timedOut, true);
    assert.equal(result.error, 'body incomplete after 300 ms');
  });

  void it('names connection errors', async () => {
    node.set('jicofoHealth', { kind: 'reset' });
    const reset = await get(`${node.jicofoOrigin}/about/health`);
    assert.deepEqual([reset.reachable, reset.timedOut, reset.error], [false, false, 'ECONNRESET: socket hang up']);
    node.set('jicofoHealth', REPLIES.jicofoHealthy());
    const refused = await get('http://127.0.0.1:1/about/health');
    assert.deepEqual([refused.reachable, refused.statusCode, refused.error], [false, 0, 'connect ECONNREFUSED 127.0.0.1:1']);
  });
});
