import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHttpProbe } from '../../src/collect/http-probe';
import { FakeSignalNode, REPLIES, answer, redirect } from '../../src/demo/fake-signal-node';

const MiB = 1024 * 1024;
const LIMIT = 65536;

describe('http probe against hostile upstream replies', () => {
  const fake = new FakeSignalNode();
  const probe = createHttpProbe();
  const stats = (timeoutMs = 3000, bodyLimit = LIMIT) =>
    probe({ url: `${fake.jicofoOrigin}/stats`, timeoutMs, bodyLimit });

  before(async () => {
    await fake.start();
  });
  after(async () => {
    await fake.stop();
  });

  it('cuts a 32 MiB body at the cap and stops reading: the upstream gets to send only a fraction', async () => {
    fake.set('jicofoStats', { kind: 'stream', bytes: 32 * MiB, chunkBytes: 64 * 1024, gapMs: 0, prefix: '{"participants":1,"pad":"' });
    const result = await stats();
    assert.equal(result.statusCode, 200);
    assert.equal(result.truncated, true);
    assert.equal(result.error, null);
    assert.equal(Buffer.byteLength(result.body), LIMIT);
    // Give the fake time to notice the hang-up; what it managed to push is
    // bounded by the loopback socket buffers, not by the body.
    await new Promise((done) => setTimeout(done, 200));
    const sent = fake.streamed.get('jicofoStats') ?? 0;
    assert.ok(sent < 16 * MiB, `upstream pushed ${sent} bytes of 32 MiB`);
  });

  it('reports a body that reaches the cap exactly on a chunk boundary, then goes on, as truncated', async () => {
    // First piece is exactly the cap, the rest follows 100 ms later: the
    // reader cannot know the body was longer from the first piece alone.
    fake.set('jicofoStats', { kind: 'stream', bytes: LIMIT + 1000, chunkBytes: LIMIT, gapMs: 100 });
    const result = await stats();
    assert.equal(result.truncated, true);
    assert.equal(Buffer.byteLength(result.body), LIMIT);
  });

  it('does not call a body of exactly the cap truncated', async () => {
    fake.set('jicofoStats', { kind: 'stream', bytes: LIMIT, chunkBytes: 4096, gapMs: 0 });
    const result = await stats();
    assert.equal(result.truncated, false);
    assert.equal(result.error, null);
    assert.equal(Buffer.byteLength(result.body), LIMIT);
  });

  it('ends a dripping body at the probe deadline', async () => {
    fake.set('jicofoStats', { kind: 'stream', bytes: 1_000_000, chunkBytes: 1, gapMs: 50 });
    const started = performance.now();
    const result = await stats(400);
    const took = performance.now() - started;
    assert.equal(result.timedOut, true);
    assert.equal(result.statusCode, 200);
    assert.match(result.error ?? '', /incomplete after 400 ms/);
    assert.ok(took >= 390 && took < 2000, `took ${took} ms`);
  });

  it('reports a connection reset as unreachable with an error', async () => {
    fake.set('jicofoStats', { kind: 'reset' });
    const result = await stats();
    assert.equal(result.reachable, false);
    assert.equal(result.statusCode, 0);
    assert.equal(result.timedOut, false);
    assert.notEqual(result.error, null);
  });

  it('does not follow a redirect, even to a healthy answer', async () => {
    const before = fake.count('prosody');
    fake.set('jicofoHealth', redirect(`${fake.prosodyOrigin}/http-bind`));
    const result = await probe({ url: `${fake.jicofoOrigin}/about/health`, timeoutMs: 3000, bodyLimit: LIMIT });
    assert.equal(result.statusCode, 302);
    assert.equal(fake.count('prosody'), before, 'the redirect target was requested');
    fake.set('jicofoHealth', REPLIES.jicofoHealthy());
  });

  it('reports oversized response headers as an error, not an answer', async () => {
    fake.set('jicofoStats', { kind: 'answer', status: 200, body: '{}', headers: { 'X-Padding': 'a'.repeat(64 * 1024) } });
    const result = await stats();
    assert.equal(result.reachable, false);
    assert.equal(result.statusCode, 0);
    assert.match(result.error ?? '', /header/i);
  });

  it('reads a 200 with an empty body as an empty, complete answer', async () => {
    fake.set('jicofoStats', answer(200, ''));
    const result = await stats();
    assert.equal(result.statusCode, 200);
    assert.equal(result.body, '');
    assert.equal(result.error, null);
    assert.equal(result.truncated, false);
  });
});
