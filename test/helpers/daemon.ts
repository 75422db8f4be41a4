import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const DAEMON = join(ROOT, 'dist', 'app.js');

/** How the systemd unit starts the daemon: node's flags and the environment it sets. */
export interface Launch {
  /** ExecStart, word for word: node, its flags, the daemon. */
  readonly command: readonly string[];
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Reads the launch from debian/signal-sidecar.service itself, so the tests
 * and the bench run the daemon exactly as the package does.
 */
export function shippedLaunch(unitFile = join(ROOT, 'debian', 'signal-sidecar.service')): Launch {
  const lines = readFileSync(unitFile, 'utf8').split('\n');
  const execStart = lines.find((line) => line.startsWith('ExecStart='));
  if (execStart === undefined) throw new Error(`${unitFile} has no ExecStart`);
  const words = execStart.slice('ExecStart='.length).trim().split(/\s+/);
  const env: Record<string, string> = {};
  for (const line of lines.filter((candidate) => candidate.startsWith('Environment='))) {
    const assignment = line.slice('Environment='.length).replace(/^"(.*)"$/, '$1');
    const equals = assignment.indexOf('=');
    const name = assignment.slice(0, equals);
    // The package's configuration file is the package's: a test names its own.
    if (name !== 'CONFIG_FILE') env[name] = assignment.slice(equals + 1);
  }
  return { command: words, nodeFlags: words.slice(1, -1), env };
}

const LAUNCH = shippedLaunch();

/** `node dist/app.js` and nothing else: how the original README starts it. */
export const PLAIN_LAUNCH: Launch = { command: ['node', 'dist/app.js'], nodeFlags: [], env: {} };

/** A free loopback port, found by binding port 0 and letting it go. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => done(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

/**
 * Connects to a loopback TCP port or a unix socket path, sends `request` (if
 * any) and resolves with every byte received until the peer closed (or `timeoutMs`).
 */
export function exchange(address: number | string, request?: string, timeoutMs = 2000): Promise<string> {
  return new Promise((done, fail) => {
    const socket = typeof address === 'number' ? net.connect(address, '127.0.0.1') : net.connect(address);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      done(text);
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('close', () => {
      clearTimeout(timer);
      done(text);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    if (request !== undefined) socket.write(request);
  });
}

/** Reads one agent answer: the bytes sent before the agent closed (or `timeoutMs`). */
export function agentAnswer(port: number, timeoutMs = 2000): Promise<string> {
  return exchange(port, undefined, timeoutMs);
}

export interface HttpAnswer {
  readonly status: number;
  readonly type: string;
  readonly body: string;
}

export async function get(port: number, path: string): Promise<HttpAnswer> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
}

export interface ReportJson {
  healthy: boolean;
  healthdamped: boolean;
  status: string;
  weight: string;
  agentmessage: string;
  reasons: string[];
  services: Record<string, unknown>;
  statuses: { statusFileFound: boolean; statusFileContents: string };
  stats: Record<string, number | null | undefined>;
  [field: string]: unknown;
}

export async function report(port: number): Promise<ReportJson> {
  return JSON.parse((await get(port, '/signal/report')).body) as ReportJson;
}

/** Waits for a report whose `healthy` is as asked, and returns it. */
export function untilHealthy(port: number, healthy = true, timeoutMs = 10_000): Promise<ReportJson> {
  return waitFor(
    healthy ? 'a healthy report' : 'an unhealthy report',
    async () => {
      const body = await report(port);
      return body.healthy === healthy ? body : undefined;
    },
    timeoutMs,
  );
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly agentPort: number;
  /** The status file as this process sees it. */
  readonly statusFile: string;
  /** Every line the daemon printed on stdout so far. */
  readonly lines: string[];
  readonly stderr: string[];
  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[];
  setStatus(contents: string): void;
  /** Sends SIGTERM and resolves with the exit code (or signal). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  exited: Promise<number | string>;
}

/**
 * Another daemon than the built one, e.g. a package's install run with a
 * Debian tree's own node in a chroot: `argv` starts it, and the paths it is
 * given (STATUS_PATH) are inside `root`.
 */
export interface Elsewhere {
  readonly root: string;
  readonly argv: readonly string[];
}

/**
 * Starts the built daemon (`dist/app.js`) as a child process with the given
 * environment on free loopback ports, and waits until it listens.
 */
export async function startDaemon(
  env: Record<string, string>,
  options: {
    status?: string;
    wait?: boolean;
    cwd?: string;
    launch?: Launch;
    /** False leaves the daemon's stdout a pipe nobody reads (`lines` stays empty). */
    readStdout?: boolean;
    /** Variables left out of the daemon's environment (to come from its configuration file instead). */
    unset?: readonly string[];
    /** Runs another daemon than the built one (see Elsewhere). */
    elsewhere?: Elsewhere;
  } = {},
): Promise<Daemon> {
  const launch = options.launch ?? LAUNCH;
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-'));
  if (options.elsewhere !== undefined && env.STATUS_PATH === undefined) throw new Error('a daemon elsewhere needs a STATUS_PATH inside its root');
  const statusFile = options.elsewhere !== undefined ? join(options.elsewhere.root, env.STATUS_PATH ?? '') : (env.STATUS_PATH ?? join(dir, 'shard-status'));
  if (options.status !== undefined) writeFileSync(statusFile, options.status);
  const httpPort = env.HTTP_PORT !== undefined ? Number(env.HTTP_PORT) : await freePort();
  const agentPort = env.TCP_PORT !== undefined ? Number(env.TCP_PORT) : await freePort();
  const childEnv: Record<string, string> = {
    ...launch.env,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HTTP_HOST: '127.0.0.1',
    TCP_HOST: '127.0.0.1',
    HTTP_PORT: String(httpPort),
    TCP_PORT: String(agentPort),
    STATUS_PATH: statusFile,
    ...env,
  };
  for (const name of options.unset ?? []) delete childEnv[name];
  const [command = process.execPath, ...args] = options.elsewhere?.argv ?? [process.execPath, ...launch.nodeFlags, DAEMON];
  const child = spawn(command, args, {
    cwd: options.cwd ?? dir,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  let buffered = '';
  if (options.readStdout !== false) {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts.filter((line) => line !== ''));
    });
  }
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | string>((done) =>
    child.once('exit', (code, signal) => {
      rmSync(dir, { recursive: true, force: true });
      done(code ?? signal ?? -1);
    }),
  );
  const daemon: Daemon = {
    child,
    httpPort,
    agentPort,
    statusFile,
    lines,
    stderr,
    exited,
    logs: () =>
      lines.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    setStatus: (contents) => writeFileSync(statusFile, contents),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  const exitedEarly = (): Promise<never> => Promise.reject(new Error(`daemon exited: ${stderr.join('')}`));
  if (options.wait !== false && options.readStdout === false) {
    await waitFor('the daemon to answer /health', () => (child.exitCode !== null ? exitedEarly() : get(httpPort, '/health').then((answer) => (answer.status === 200 ? true : undefined))));
  } else if (options.wait !== false) {
    await waitFor('the daemon to listen', () =>
      lines.some((line) => line.includes('signal-sidecar listening')) ? true : child.exitCode !== null ? exitedEarly() : undefined,
    );
  }
  return daemon;
}

/**
 * Quick polling and no flap mitigation: what most daemon tests want unless
 * they say otherwise. Probes get 2 s: on a loaded machine a shorter deadline
 * made a healthy fake look timed out now and then, adding state changes the
 * tests did not expect.
 */
export const QUICK = {
  POLLING_INTERVAL: '0.2',
  PROBE_TIMEOUT: '2',
  HEALTH_DAMPENING_INTERVAL: '0',
  DRAIN_GRACE_INTERVAL: '0',
} as const;

/**
 * Starts the daemon against a fake signal node with QUICK polling; `env`
 * overrides, and `status: null` starts without a status file.
 */
export function startAgainst(
  upstream: { readonly jicofoOrigin: string; readonly prosodyOrigin: string },
  env: Record<string, string> = {},
  status: string | null = 'ready',
): Promise<Daemon> {
  return startDaemon(
    { ...QUICK, JICOFO_ORIG: upstream.jicofoOrigin, PROSODY_ORIG: upstream.prosodyOrigin, ...env },
    status === null ? {} : { status },
  );
}

/** The verdict of an agent line, without the ` # description` of down lines. */
export const verdict = (line: string): string => line.replace(/ # [^\n]*/, '');

/** Waits until the agent's verdict is `expected` (newline included). */
export const agentSays = (d: Daemon, expected: string, timeoutMs = 10_000): Promise<true> =>
  waitFor(`agent line ${JSON.stringify(expected)}`, async () => (verdict(await agentAnswer(d.agentPort)) === expected ? true : undefined), timeoutMs);

export interface ProcessUsage {
  /** Resident memory in KiB (VmRSS). */
  readonly rssKiB: number;
  /** Open file descriptors: sockets, files, pipes. */
  readonly fds: number;
}

/** Memory and open descriptors of a process, read from /proc (Linux). */
export function processUsage(pid: number): ProcessUsage {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return { rssKiB: rss === null ? 0 : Number(rss[1]), fds: readdirSync(`/proc/${pid}/fd`).length };
}
