import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { exchange, sleep, waitFor } from '../helpers/daemon';
import { inTree } from '../helpers/rootfs';

/**
 * The real components of the end-to-end suite (HAProxy, Prometheus, prosody),
 * each run in the foreground from a config in its own temp dir, on loopback,
 * and stopped by its own PID.
 */

// haproxy lives in /usr/sbin, which a non-root PATH often lacks; the children inherit this PATH.
for (const dir of ['/usr/local/sbin', '/usr/sbin', '/sbin']) {
  if (!(process.env.PATH ?? '').split(delimiter).includes(dir)) process.env.PATH = `${process.env.PATH ?? ''}${delimiter}${dir}`;
}

function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * The skip reason for a test that needs these commands, or undefined when all
 * are installed. test/e2e/setup.sh installs them when it runs as root, so a
 * skip here means a non-root run on a machine without them.
 */
export function missing(...commands: string[]): string | undefined {
  const absent = commands.filter((command) => !onPath(command));
  if (absent.length === 0) return undefined;
  return `not installed: ${absent.join(', ')} (test/e2e/setup.sh installs them when run as root)`;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `e2e-${prefix}-`));
}

/** Children still running when the test process exits are killed, so a failed test leaks nothing. */
const running = new Set<Child>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A component process: its output is kept for failure messages; stop() is bounded. */
export class Child {
  readonly output: string[] = [];
  readonly exited: Promise<number | string>;
  private readonly process: ChildProcess;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    this.process = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      this.output.push(chunk.toString('utf8'));
      // Bounded: a chatty component must not grow the test process without end.
      if (this.output.length > 2000) this.output.splice(0, 1000);
    };
    this.process.stdout?.on('data', keep);
    this.process.stderr?.on('data', keep);
    running.add(this);
    this.exited = new Promise((done) => {
      this.process.once('error', (error) => {
        this.output.push(`spawn failed: ${error.message}`);
        running.delete(this);
        done('spawn-error');
      });
      this.process.once('exit', (code, signal) => {
        running.delete(this);
        done(code ?? signal ?? -1);
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  log(): string {
    return this.output.join('').slice(-4000);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive && this.process.pid !== undefined) process.kill(this.process.pid, signal);
  }

  /** Sends `signal`, then SIGKILL if the process is still there after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (!this.alive) return;
    this.kill(signal);
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Runs a short command to completion (config checks, promtool); bounded by `timeoutMs`. */
export function runTool(command: string, args: readonly string[], input = '', timeoutMs = 20_000): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: timeoutMs });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Waits for a freshly started component; if it never gets ready, it is stopped before the error is passed on. */
async function readyOrStopped(child: Child, dir: string, ready: () => Promise<unknown>): Promise<void> {
  try {
    await ready();
  } catch (error) {
    await child.stop('SIGKILL', 1000);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---------------------------------------------------------------- web requests

/** One GET through a frontend; the body is the name of the backend that answered. */
export async function fetchText(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

// -------------------------------------------------------------------- HAProxy

/** One server as HAProxy sees it, from `show servers state` and `show stat`. */
export interface ServerView {
  readonly name: string;
  /** srv_op_state: 0 down, 2 up. */
  readonly op: number;
  /** srv_admin_state bitmask: 1 forced MAINT, 8 forced DRAIN. */
  readonly admin: number;
  /** Effective weight (srv_uweight). */
  readonly weight: number;
  /** `UP`, `DOWN (agent)`, `DRAIN (agent)`, `MAINT`, … */
  readonly status: string;
  /** Result of the last agent check: L7OK, L4CON (refused), L7RSP (no line), L7TOUT. */
  readonly agentStatus: string;
  /** e.g. `via agent : up`. Empty until the first agent verdict. */
  readonly lastAgent: string;
}

/** The state names the tests compare: what HAProxy does with new traffic for this server. */
export function stateOf(server: ServerView): 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' {
  if ((server.admin & 1) !== 0) return 'MAINT';
  if (server.op === 0) return 'DOWN';
  if ((server.admin & 8) !== 0) return 'DRAIN';
  return 'UP';
}

/** One server line of agentCheckConfig: the shard's web port and its sidecar's agent port. */
export interface AgentServer {
  readonly name: string;
  readonly webPort: number;
  readonly agentPort: number;
}

/**
 * A frontend and one roundrobin backend `be` whose servers are checked by
 * their agents every `agentInterMs`. With `log`, HAProxy logs to stderr with
 * ISO timestamps to the microsecond (its own clock for state changes).
 */
export function agentCheckConfig(frontend: number, servers: readonly AgentServer[], agentInterMs: number, options: { log?: boolean } = {}): string {
  return [
    'global',
    '    stats socket ${SOCKET} mode 600 level admin',
    ...(options.log === true ? ['    log stderr format iso local0'] : []),
    'defaults',
    '    mode http',
    ...(options.log === true ? ['    log global'] : []),
    '    timeout connect 1s',
    '    timeout client 5s',
    '    timeout server 5s',
    '    timeout check 1s',
    'frontend fe',
    `    bind 127.0.0.1:${frontend}`,
    '    default_backend be',
    'backend be',
    '    balance roundrobin',
    ...servers.map(
      (server) =>
        `    server ${server.name} 127.0.0.1:${server.webPort} check inter 1s agent-check agent-addr 127.0.0.1 agent-port ${server.agentPort} agent-inter ${agentInterMs}ms weight 256`,
    ),
    '',
  ].join('\n');
}

export interface HaproxyOptions {
  /** More command-line arguments: `-W` (master-worker, so that SIGUSR2 reloads), `-L name` (its name in a peers section). */
  readonly args?: readonly string[];
  /** A Debian tree to run it from, chrooted with the host's network: that release's own HAProxy. */
  readonly root?: string;
}

export class Haproxy {
  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    readonly child: Child,
  ) {}

  /**
   * Checks and starts HAProxy from `config`, where `${SOCKET}` stands for the
   * admin socket path and `${DIR}` for the temp dir it is in; resolves once
   * the socket answers.
   */
  static async start(config: string, options: HaproxyOptions = {}): Promise<Haproxy> {
    const root = options.root;
    const dir = root === undefined ? tempDir('haproxy') : mkdtempSync(join(root, 'tmp', 'e2e-haproxy-'));
    // Paths as HAProxy sees them, inside its tree.
    const seen = (path: string): string => (root === undefined ? path : path.slice(root.length));
    const socketPath = join(dir, 'admin.sock');
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, config.split('${SOCKET}').join(seen(socketPath)).split('${DIR}').join(seen(dir)));
    const argv = (...more: string[]): string[] => (root === undefined ? ['haproxy', ...more] : inTree(root, ['haproxy', ...more]));
    const [checkCommand = '', ...checkArgs] = argv(...(options.args ?? []), '-c', '-f', seen(file));
    const check = runTool(checkCommand, checkArgs);
    if (check.status !== 0) throw new Error(`haproxy -c rejected the config:\n${check.stdout}${check.stderr}\n${config}`);
    const [command = '', ...args] = argv('-db', ...(options.args ?? []), '-f', seen(file));
    const child = new Child('haproxy', command, args);
    const haproxy = new Haproxy(dir, socketPath, child);
    await readyOrStopped(child, dir, () =>
      waitFor('the HAProxy stats socket', async () => {
        if (!child.alive) throw new Error(`haproxy exited: ${child.log()}`);
        return (await haproxy.command('show info')).includes('Version') ? true : undefined;
      }, 10_000),
    );
    return haproxy;
  }

  /** One command on the admin socket; HAProxy answers and closes the socket. */
  command(line: string, timeoutMs = 2000): Promise<string> {
    return exchange(this.socketPath, `${line}\n`, timeoutMs);
  }

  /** Every server of `backend`, read from both `show servers state` and `show stat`. */
  async servers(backend: string): Promise<Map<string, ServerView>> {
    const [state, stat] = await Promise.all([this.command(`show servers state ${backend}`), this.command('show stat')]);
    const rows = new Map<string, Record<string, string>>();
    // `show servers state`: a version line, a `# name …` header, then space-separated rows.
    const stateLines = state.split('\n').filter((line) => line.trim() !== '');
    const stateHeader = (stateLines.find((line) => line.startsWith('#')) ?? '').replace(/^#\s*/, '').split(' ');
    for (const line of stateLines.slice(1)) {
      if (line.startsWith('#')) continue;
      const fields = line.split(' ');
      const row = Object.fromEntries(stateHeader.map((name, i) => [name, fields[i] ?? '']));
      if (row.be_name === backend && row.srv_name !== undefined) rows.set(row.srv_name, row);
    }
    // `show stat`: CSV with a `# pxname,svname,…` header; looked up by column name.
    const statLines = stat.split('\n').filter((line) => line.trim() !== '');
    const statHeader = (statLines[0] ?? '').replace(/^#\s*/, '').split(',');
    const views = new Map<string, ServerView>();
    for (const line of statLines.slice(1)) {
      const fields = line.split(',');
      const row = Object.fromEntries(statHeader.map((name, i) => [name, fields[i] ?? '']));
      const name = row.svname ?? '';
      const stateRow = rows.get(name);
      if (row.pxname !== backend || stateRow === undefined) continue;
      views.set(name, {
        name,
        op: Number(stateRow.srv_op_state),
        admin: Number(stateRow.srv_admin_state),
        weight: Number(stateRow.srv_uweight),
        status: row.status ?? '',
        agentStatus: row.agent_status ?? '',
        lastAgent: row.last_agt ?? '',
      });
    }
    return views;
  }

  async server(backend: string, name: string): Promise<ServerView> {
    const view = (await this.servers(backend)).get(name);
    if (view === undefined) throw new Error(`HAProxy has no server ${backend}/${name}`);
    return view;
  }

  /** A master-worker HAProxy (`-W`) reloads on SIGUSR2: a new worker takes over, the old one finishes its connections. */
  reload(): void {
    this.child.kill('SIGUSR2');
  }

  /** The workers of a master-worker HAProxy, from /proc (empty without -W). */
  workers(): number[] {
    const pid = this.child.pid;
    const file = `/proc/${pid}/task/${pid}/children`;
    if (pid === undefined || !existsSync(file)) return [];
    return readFileSync(file, 'utf8').trim().split(/\s+/).filter((word) => word !== '').map(Number);
  }

  /**
   * kill -9, as a crash does: the workers first, so that their master reaps
   * them before it goes too and none is left a zombie.
   */
  async crash(): Promise<void> {
    for (const worker of this.workers()) {
      try {
        process.kill(worker, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor('the master to reap its workers', () => (this.workers().length === 0 ? true : undefined), 2000, 20).catch(() => undefined);
    await this.child.stop('SIGKILL', 1000);
  }

  async stop(): Promise<void> {
    // SIGUSR1 is HAProxy's soft stop: it exits as soon as no connection is open.
    this.child.kill('SIGUSR1');
    const stopped = await Promise.race([this.child.exited.then(() => true), sleep(3000).then(() => false)]);
    if (!stopped) await this.crash();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Timed<T> {
  readonly value: T;
  readonly ms: number;
}

/**
 * Samples `read` every `everyMs` until `accept` takes a sample, or fails after
 * `timeoutMs`. Returns the accepted sample with the time since `since`, and
 * every sample seen on the way (to assert what happened in between).
 */
export async function watchUntil<T>(
  what: string,
  read: () => Promise<T>,
  accept: (sample: T) => boolean,
  options: { since: number; timeoutMs?: number; everyMs?: number; seen?: T[] },
): Promise<Timed<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    const at = Date.now();
    options.seen?.push(last);
    if (accept(last)) return { value: last, ms: at - options.since };
    await sleep(options.everyMs ?? 20);
  }
  throw new Error(`timed out after ${options.timeoutMs ?? 15_000} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

// ----------------------------------------------------------------- Prometheus

export class Prometheus {
  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly child: Child,
  ) {}

  /** Starts a Prometheus that scrapes `target` (host:port) every second. */
  static async start(target: string, port: number): Promise<Prometheus> {
    const dir = tempDir('prometheus');
    const file = join(dir, 'prometheus.yml');
    writeFileSync(
      file,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 500ms',
        'scrape_configs:',
        '  - job_name: signal-sidecar',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    const check = runTool('promtool', ['check', 'config', file]);
    if (check.status !== 0) throw new Error(`promtool check config failed:\n${check.stdout}${check.stderr}`);
    const child = new Child('prometheus', 'prometheus', [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ]);
    const prometheus = new Prometheus(dir, port, child);
    await readyOrStopped(child, dir, () =>
      waitFor('Prometheus to be ready', async () => {
        if (!child.alive) throw new Error(`prometheus exited: ${child.log()}`);
        const response = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(1000) });
        return response.status === 200 ? true : undefined;
      }, 15_000, 100),
    );
    return prometheus;
  }

  /** The value of an instant query's only series, or undefined when it has none. */
  async value(query: string): Promise<string | undefined> {
    const url = `http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(query)}`;
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { status: string; data?: { result?: { value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`query ${query} failed: ${JSON.stringify(body)}`);
    return body.data?.result?.[0]?.value[1];
  }

  async stop(): Promise<void> {
    await this.child.stop('SIGTERM', 5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------- prosody

export class Prosody {
  private constructor(
    readonly dir: string,
    readonly httpPort: number,
    readonly child: Child,
  ) {}

  get origin(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /**
   * Starts prosody 0.12 with BOSH on loopback. With `boshHost`, BOSH is enabled
   * only inside that VirtualHost, as a stock jitsi-meet prosody does: then any
   * other Host header gets 404. `readTimeoutS` shortens how long prosody keeps
   * an idle connection.
   */
  static async start(options: { boshHost?: string; c2sPort: number; httpPort: number; readTimeoutS?: number }): Promise<Prosody> {
    const dir = tempDir('prosody');
    mkdirSync(join(dir, 'data'));
    mkdirSync(join(dir, 'certs'));
    const host = options.boshHost ?? 'localhost';
    const file = join(dir, 'prosody.cfg.lua');
    writeFileSync(
      file,
      [
        // The suite runs as root in CI; without this prosody refuses to start properly.
        'run_as_root = true',
        `pidfile = "${join(dir, 'prosody.pid')}"`,
        `data_path = "${join(dir, 'data')}"`,
        `certificates = "${join(dir, 'certs')}"`,
        'log = { { levels = { min = "info" }, to = "console" } }',
        'interfaces = { "127.0.0.1" }',
        `c2s_ports = { ${options.c2sPort} }`,
        'c2s_direct_tls_ports = { }',
        's2s_ports = { }',
        'component_ports = { }',
        `http_ports = { ${options.httpPort} }`,
        'http_interfaces = { "127.0.0.1" }',
        'https_ports = { }',
        `modules_enabled = { ${options.boshHost === undefined ? '"bosh"' : ''} }`,
        'modules_disabled = { "s2s" }',
        'c2s_require_encryption = false',
        'storage = "internal"',
        // How long a silent connection is kept (net.server_epoll: 14 minutes unless set).
        ...(options.readTimeoutS === undefined ? [] : [`network_settings = { read_timeout = ${options.readTimeoutS} }`]),
        `VirtualHost "${host}"`,
        ...(options.boshHost === undefined ? [] : ['    modules_enabled = { "bosh" }']),
        '',
      ].join('\n'),
    );
    const check = runTool('prosodyctl', ['--config', file, 'check', 'config']);
    if (check.status !== 0) throw new Error(`prosodyctl check config failed:\n${check.stdout}${check.stderr}`);
    const child = new Child('prosody', 'prosody', ['-F', '--config', file], { cwd: dir });
    const prosody = new Prosody(dir, options.httpPort, child);
    const headers = options.boshHost === undefined ? undefined : { Host: options.boshHost };
    await readyOrStopped(child, dir, () =>
      waitFor('prosody BOSH to answer', () => {
        if (!child.alive) throw new Error(`prosody exited: ${child.log()}`);
        return httpStatus(`${prosody.origin}/http-bind`, headers).then((status) => (status === 200 ? true : undefined));
      }, 15_000, 50),
    );
    return prosody;
  }

  async stop(): Promise<void> {
    // A stopped prosody cannot act on SIGTERM.
    this.child.kill('SIGCONT');
    await this.child.stop('SIGTERM', 5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The status of one GET with an explicit Host header (fetch does not allow setting it). */
export function httpStatus(url: string, headers?: Record<string, string>, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, timeout: timeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once('timeout', () => request.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    request.once('error', reject);
  });
}
