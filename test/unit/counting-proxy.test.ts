import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { CountingProxy } from '../../bench/lib/counting-proxy';
import { freePort } from '../helpers/daemon';

/** The consul bench's relay (bench/lib/counting-proxy.ts): its count of attempts is the outage figure. */

/** Connects through `port`, sends `request`, and resolves with what came back, or the error that ended it. */
function exchange(port: number, request: string): Promise<{ text: string; error: string | null }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ text, error: error.code ?? error.message }));
    socket.once('close', () => resolve({ text, error: null }));
    socket.end(request);
  });
}

describe('counting proxy', () => {
  it('passes bytes both ways to a live server, counts each connection and notes when each request was answered', async () => {
    const echo = net.createServer((socket) => socket.pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const proxy = await CountingProxy.start((echo.address() as net.AddressInfo).port);
    const watch = 'GET /v1/kv/shard-states%2Fa?index=7 HTTP/1.1\r\n\r\n';
    try {
      const before = performance.now();
      assert.deepEqual(await exchange(proxy.port, watch), { text: watch, error: null });
      assert.deepEqual(await exchange(proxy.port, 'not a request'), { text: 'not a request', error: null });
      assert.equal(proxy.between(before, performance.now() + 1).length, 2);
      assert.equal(proxy.between(0, before).length, 0);
      assert.deepEqual(proxy.exchanges.map((seen) => seen.requestLine), ['GET /v1/kv/shard-states%2Fa?index=7 HTTP/1.1']);
      const answered = proxy.firstReply(before, (line) => line.startsWith('GET /v1/kv/'));
      assert.ok(answered >= (proxy.exchanges[0]?.sentAt ?? Infinity) && answered <= performance.now());
      assert.equal(proxy.firstReply(before, (line) => line.startsWith('PUT ')), Infinity);
      assert.equal(proxy.firstReply(performance.now() + 1, () => true), Infinity);
    } finally {
      await proxy.close();
      echo.close();
    }
  });

  it('with nothing listening behind it, resets the client at once and still counts the attempt', async () => {
    const proxy = await CountingProxy.start(await freePort());
    try {
      const answer = await exchange(proxy.port, 'GET / HTTP/1.1\r\n\r\n');
      assert.deepEqual(answer, { text: '', error: 'ECONNRESET' });
      assert.equal(proxy.attempts.length, 1);
    } finally {
      await proxy.close();
    }
  });
});
