import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type Config } from '../../src/config/config';
import { createConsulClient, kvPath, parseTree, type ConsulClient } from '../../src/consul/client';
import { consulFileProblems, readConsulEndpoint } from '../../src/consul/credentials';

type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A server that answers as told: the failures a Consul agent (or something else on its port) can give. */
async function fakeConsul(route: Route): Promise<{ port: number; seen: http.IncomingHttpHeaders[]; urls: string[]; close: () => Promise<void> }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const urls: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    urls.push(req.url ?? '');
    route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    urls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const clientOn = (port: number, token?: () => string | undefined, forbidden?: () => void): ConsulClient =>
  createConsulClient({ host: '127.0.0.1', port, secure: false, token: token ?? (() => undefined), ...(forbidden === undefined ? {} : { forbidden }) });

const READ = { index: 0, waitSeconds: 60, limitBytes: 4096 };

function config(env: Record<string, string>): Config {
  const { config: loaded, problems } = loadConfig({ CONSUL_STATUS: 'true', ...env });
  assert.deepEqual(problems, []);
  assert.ok(loaded !== undefined);
  return loaded;
}

describe('Consul client against what can answer on its port', () => {
  it('escapes each segment of a key and keeps the slashes', () => {
    assert.equal(kvPath('shard-states/prod/a b'), '/v1/kv/shard-states/prod/a%20b');
  });

  it('reads a raw value, stale, with the index and wait of a blocking query, and sends the token', async () => {
    const fake = await fakeConsul((_req, res) => {
      res.writeHead(200, { 'X-Consul-Index': '42', 'Content-Type': 'text/plain' });
      res.end('drain');
    });
    const read = await clientOn(fake.port, () => 's3cret').readKey('shard-states/prod/shard1', { ...READ, index: 41 });
    assert.deepEqual(read, { kind: 'value', value: 'drain', index: 42 });
    assert.equal(fake.seen[0]?.['x-consul-token'], 's3cret');
    const url = new URL(fake.urls[0] ?? '', 'http://x');
    assert.equal(url.pathname, '/v1/kv/shard-states/prod/shard1');
    assert.deepEqual([url.searchParams.has('raw'), url.searchParams.has('stale'), url.searchParams.get('index'), url.searchParams.get('wait')], [true, true, '41', '60s']);
    await fake.close();
  });

  it('a first read does not block', async () => {
    const fake = await fakeConsul((_req, res) => {
      res.writeHead(404, { 'X-Consul-Index': '7' });
      res.end();
    });
    assert.deepEqual(await clientOn(fake.port).readKey('k', READ), { kind: 'absent', index: 7 });
    assert.equal(new URL(fake.urls[0] ?? '', 'http://x').searchParams.has('index'), false);
    await fake.close();
  });

  it('reports 5xx, 403 and a foreign server as failures in a short phrase, and asks for the token file again on 403', async () => {
    const answers: [number, Record<string, string>, string][] = [
      [500, { 'X-Consul-Index': '0' }, 'No cluster leader\n'],
      [403, {}, 'Permission denied'],
      [200, {}, '<html>a web server, not Consul</html>'],
    ];
    const fake = await fakeConsul((_req, res) => {
      const [status, headers, body] = answers.shift() ?? [500, {}, ''];
      res.writeHead(status, headers);
      res.end(body);
    });
    let asked = 0;
    const client = clientOn(fake.port, undefined, () => (asked += 1));
    assert.deepEqual(await client.readKey('k', READ), { kind: 'failed', problem: 'HTTP 500: No cluster leader', status: 500 });
    assert.deepEqual(await client.readKey('k', READ), { kind: 'failed', problem: 'HTTP 403: Permission denied', status: 403 });
    assert.equal(asked, 1);
    const foreign = await client.readKey('k', READ);
    assert.equal(foreign.kind, 'failed');
    assert.match(foreign.kind === 'failed' ? foreign.problem : '', /without an X-Consul-Index header/);
    await fake.close();
  });

  it('a refused connection and a Consul that never answers fail within their deadline', async () => {
    const fake = await fakeConsul(() => undefined);
    const client = clientOn(fake.port);
    const write = await client.writeKey('k', 'v', 300);
    assert.equal(write.kind, 'failed');
    assert.match(write.kind === 'failed' ? write.problem : '', /no answer within 300 ms/);
    await fake.close();
    const refused = await clientOn(fake.port).readKey('k', READ);
    assert.equal(refused.kind, 'failed');
    assert.match(refused.kind === 'failed' ? refused.problem : '', /ECONNREFUSED/);
  });

  it('close() ends a blocking query in flight', async () => {
    const fake = await fakeConsul(() => undefined);
    const client = clientOn(fake.port);
    const pending = client.readKey('k', { ...READ, index: 5 });
    setTimeout(() => client.close(), 50);
    assert.equal((await pending).kind, 'failed');
    await fake.close();
  });

  it('reads no more of a huge value than asked', async () => {
    const fake = await fakeConsul((_req, res) => {
      res.writeHead(200, { 'X-Consul-Index': '3' });
      res.end('x'.repeat(600_000));
    });
    const read = await clientOn(fake.port).readKey('k', READ);
    assert.equal(read.kind, 'value');
    assert.equal(read.kind === 'value' ? read.value.length : 0, 4096);
    await fake.close();
  });

  it('a 413 gives the limit Consul names; a false answer to a write is a failure', async () => {
    const answers: [number, string][] = [
      [413, 'Request body(600000 bytes) too large, max size: 524288 bytes'],
      [200, 'false'],
      [200, 'true'],
    ];
    const fake = await fakeConsul((req, res) => {
      req.resume();
      const [status, body] = answers.shift() ?? [500, ''];
      res.writeHead(status);
      res.end(body);
    });
    const client = clientOn(fake.port);
    assert.deepEqual(await client.writeKey('k', 'x', 1000), {
      kind: 'too-large',
      problem: 'HTTP 413: Request body(600000 bytes) too large, max size: 524288 bytes',
      maxBytes: 524288,
    });
    assert.equal((await client.writeKey('k', 'x', 1000)).kind, 'failed');
    assert.deepEqual(await client.writeKey('k', 'x', 1000), { kind: 'written' });
    await fake.close();
  });

  it('a write waits for 100 Continue, and sends its body anyway to a server that never says it', async () => {
    const received: string[] = [];
    const server = net.createServer((socket) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n');
        if (body.length < 5) return;
        received.push(head.toLowerCase().includes('expect: 100-continue') ? body : '');
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ntrue');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const write = await clientOn((server.address() as AddressInfo).port).writeKey('k', 'drain', 5000);
    assert.deepEqual(write, { kind: 'written' });
    assert.deepEqual(received, ['drain']);
    await new Promise((resolve) => server.close(resolve));
  });

  it('a recursive read decodes values and skips what is not a key; garbage is a failure', () => {
    assert.deepEqual(parseTree('[{"Key":"a/b","Value":"ZHJhaW4="},{"Key":"a/c","Value":null},{"nope":1},7]'), {
      kind: 'entries',
      entries: [
        { key: 'a/b', value: 'drain' },
        { key: 'a/c', value: '' },
      ],
    });
    assert.equal(parseTree('{"Key":"a"}').kind, 'failed');
    assert.equal(parseTree('<html>').kind, 'failed');
  });
});

describe('Consul credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'consul-credentials-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  before(() => writeFileSync(tokenFile, '  file-token-1\n'));

  it('the token file wins over CONSUL_HTTP_TOKEN, trimmed, as in Consul\'s own tools', () => {
    const { endpoint } = readConsulEndpoint(config({ CONSUL_HTTP_TOKEN: 'env-token', CONSUL_HTTP_TOKEN_FILE: tokenFile }));
    assert.equal(endpoint?.token(), 'file-token-1');
    assert.equal(readConsulEndpoint(config({ CONSUL_HTTP_TOKEN: 'env-token' })).endpoint?.token(), 'env-token');
  });

  it('a 403 reads a rotated token file again; an unreadable one keeps the old token and warns once', () => {
    const warned: string[] = [];
    const { endpoint } = readConsulEndpoint(config({ CONSUL_HTTP_TOKEN_FILE: tokenFile }), undefined, (message) => warned.push(message));
    writeFileSync(tokenFile, 'file-token-2\n');
    endpoint?.forbidden?.();
    assert.equal(endpoint?.token(), 'file-token-2');
    rmSync(tokenFile);
    endpoint?.forbidden?.();
    endpoint?.forbidden?.();
    assert.equal(endpoint?.token(), 'file-token-2');
    assert.equal(warned.length, 1);
    assert.doesNotMatch(warned[0] ?? '', /file-token/);
    writeFileSync(tokenFile, 'file-token-1\n');
  });

  it('a missing or empty token file, or a CA that is no PEM, is a configuration problem naming the variable, never the token', () => {
    writeFileSync(join(dir, 'empty'), '\n');
    writeFileSync(join(dir, 'not-pem'), 'hello');
    assert.deepEqual(consulFileProblems(config({ CONSUL_HTTP_TOKEN_FILE: join(dir, 'absent') })), [
      `CONSUL_HTTP_TOKEN_FILE="${join(dir, 'absent')}": cannot read it (no such file)`,
    ]);
    assert.deepEqual(consulFileProblems(config({ CONSUL_HTTP_TOKEN_FILE: join(dir, 'empty') })), [`CONSUL_HTTP_TOKEN_FILE="${join(dir, 'empty')}": the file is empty`]);
    assert.match(consulFileProblems(config({ CONSUL_SECURE: 'true', CONSUL_CACERT: join(dir, 'not-pem') }))[0] ?? '', /CONSUL_CACERT=.*expected a PEM file/);
    assert.deepEqual(consulFileProblems(config({ CONSUL_STATUS: 'false', CONSUL_HTTP_TOKEN_FILE: join(dir, 'absent') })), [], 'no Consul, no files needed');
  });

  it('https without CONSUL_CACERT trusts Node\'s CAs and the system\'s', () => {
    const { endpoint } = readConsulEndpoint(config({ CONSUL_SECURE: 'true' }), (path) => {
      assert.equal(path, '/etc/ssl/certs/ca-certificates.crt');
      return '-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n';
    });
    assert.ok((endpoint?.ca?.length ?? 0) > 100);
    assert.match(String(endpoint?.ca?.[endpoint.ca.length - 1]), /SYSTEM/);
  });
});
