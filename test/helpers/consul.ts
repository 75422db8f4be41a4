import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT, sleep, waitFor } from './daemon';
import { run } from './run';

/**
 * A real Consul for the tests and the benches: Debian 11's package (1.8.7),
 * fetched by scripts/fetch-consul.sh into the test cache, run as a throw-away
 * dev agent on loopback ports of its own with every key in memory. Killing it
 * and starting another on the same HTTP port is "Consul restarted with its
 * data gone": the new one starts its index from a low number again.
 */

/**
 * The binary's path, or why there is none on this machine (a skip reason,
 * worked out here). Synchronous, so a suite can decide its skip when it is
 * defined; a fetch takes seconds once, then the cache answers at once.
 */
export function consulBinary(): { path: string } | { skip: string } {
  const fetched = spawnSync(join(ROOT, 'scripts', 'fetch-consul.sh'), [], { encoding: 'utf8', timeout: 5 * 60_000 });
  if (fetched.status === 0) return { path: fetched.stdout.trim().split('\n').pop() ?? '' };
  const why = (fetched.stderr ?? '').trim().split('\n').slice(-2).join(' ') || (fetched.error?.message ?? `exit ${String(fetched.status)}`);
  return { skip: `no Consul binary: ${why}` };
}

export interface ConsulOptions {
  /** HTTP port; a free one when unset. A restart passes the port of the one it replaces. */
  readonly httpPort?: number;
  /** ACLs on, default deny, with this master token. */
  readonly masterToken?: string;
  /** More agent configuration, e.g. `limits { kv_max_value_size = 65536 }`. */
  readonly hcl?: readonly string[];
  /** Serve https on this port with these PEM files (http stays open for the test's own calls). */
  readonly tls?: { readonly httpsPort: number; readonly cert: string; readonly key: string; readonly ca: string };
}

export interface KvAnswer {
  readonly status: number;
  readonly body: string;
  readonly index: number;
}

/** Free ports, none of them equal to another or to `taken`: freePort() may hand out one twice in a row. */
async function distinctPorts(count: number, taken: readonly number[]): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < 100; tries += 1) {
    const port = await freePort();
    if (!ports.includes(port) && !taken.includes(port)) ports.push(port);
  }
  if (ports.length < count) throw new Error(`no ${count} distinct free ports`);
  return ports;
}

export class ConsulAgent {
  private exited: Promise<void>;

  private constructor(
    readonly httpPort: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
    /** Sent with the test's own calls when ACLs are on. */
    readonly masterToken: string | undefined,
    private readonly output: { text: string },
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** What the agent printed (warnings and errors only). */
  get log(): string {
    return this.output.text;
  }

  static async start(binary: string, options: ConsulOptions = {}): Promise<ConsulAgent> {
    const httpPort = options.httpPort ?? (await freePort());
    const [serfLan, serfWan, server] = await distinctPorts(3, [httpPort, options.tls?.httpsPort ?? 0]);
    const dir = mkdtempSync(join(tmpdir(), 'consul-'));
    const hcl: string[] = [...(options.hcl ?? [])];
    if (options.masterToken !== undefined) hcl.push(`acl { enabled = true default_policy = "deny" tokens { master = "${options.masterToken}" } }`);
    if (options.tls !== undefined) {
      hcl.push(`ports { https = ${options.tls.httpsPort} }`, `cert_file = "${options.tls.cert}"`, `key_file = "${options.tls.key}"`, `ca_file = "${options.tls.ca}"`);
    }
    const args = [
      'agent', '-dev', '-bind', '127.0.0.1', '-client', '127.0.0.1',
      '-http-port', String(httpPort), '-dns-port', '-1', '-grpc-port', '-1',
      '-serf-lan-port', String(serfLan), '-serf-wan-port', String(serfWan), '-server-port', String(server),
      '-log-level', 'warn', '-data-dir', dir,
      ...hcl.flatMap((text) => ['-hcl', text]),
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = { text: '' };
    const keep = (chunk: Buffer): void => {
      output.text = (output.text + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const agent = new ConsulAgent(httpPort, child, dir, options.masterToken, output);
    try {
      // Ready when a write goes through: a leader is elected and, with ACLs, the master token is in force.
      await waitFor('Consul to take writes', async () => {
        if (child.exitCode !== null) throw new Error(`consul exited: ${output.text.slice(-500)}`);
        const answer = await agent.request('PUT', '/v1/kv/signal-sidecar-test/ready', 'yes');
        return answer.status === 200 ? true : undefined;
      }, 30_000, 100);
      await agent.request('DELETE', '/v1/kv/signal-sidecar-test/ready');
    } catch (error) {
      await agent.kill();
      throw error;
    }
    return agent;
  }

  /** One HTTP call to the agent, with the master token when ACLs are on. */
  request(method: string, path: string, body?: string, token = this.masterToken): Promise<KvAnswer> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      if (token !== undefined) headers['X-Consul-Token'] = token;
      const req = http.request({ host: '127.0.0.1', port: this.httpPort, method, path, headers, timeout: 5000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), index: Number(response.headers['x-consul-index'] ?? 0) }),
        );
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** `consul kv put`: resolves with the index of the write (the key's ModifyIndex). */
  async put(key: string, value: string): Promise<number> {
    const answer = await this.request('PUT', `/v1/kv/${key}`, value);
    if (answer.status !== 200) throw new Error(`PUT ${key}: HTTP ${answer.status} ${answer.body}`);
    return (await this.request('GET', `/v1/kv/${key}?raw`)).index;
  }

  /** The raw value of a key, or undefined when it is absent. */
  async get(key: string): Promise<string | undefined> {
    const answer = await this.request('GET', `/v1/kv/${key}?raw`);
    return answer.status === 404 ? undefined : answer.body;
  }

  async delete(key: string): Promise<void> {
    await this.request('DELETE', `/v1/kv/${key}`);
  }

  /** kill -9: the agent and every key it held are gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A graceful stop (SIGTERM), bounded; then kill -9. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await Promise.race([this.exited, sleep(5000)]);
    await this.kill();
  }
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command. */
export async function testCertificates(): Promise<{ dir: string; ca: string; cert: string; key: string; otherCa: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'consul-tls-'));
  const openssl = async (...args: string[]): Promise<void> => {
    const result = await run('openssl', args, { cwd: dir, timeoutMs: 30_000 });
    if (result.code !== 0) throw new Error(`openssl ${args[0] ?? ''}: ${result.stderr}`);
  };
  const subject = (name: string): string[] => ['-subj', `/CN=${name}`];
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', 'ca.key', '-out', 'ca.pem', ...subject('signal-sidecar test CA'));
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', 'other.key', '-out', 'other.pem', ...subject('another CA'));
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', ...subject('server.dc1.consul'));
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:server.dc1.consul\nextendedKeyUsage=serverAuth,clientAuth\n');
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
  return { dir, ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), otherCa: join(dir, 'other.pem') };
}
