import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';

/** What one HTTP load run measured at the client. */
export interface LoadRun {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Socket errors plus non-2xx/3xx answers. */
  readonly errors: number;
  readonly tool: 'wrk' | 'autocannon';
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** CPU the load generator is pinned to, or undefined. */
  readonly cpu: number | undefined;
  /** A wrk Lua script choosing each request (wrk only). */
  readonly script?: string;
}

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the HTTP load generator: wrk, installed from Debian when missing and
 * we are root, else autocannon through npx.
 */
export function loadTool(log: (line: string) => void): 'wrk' | 'autocannon' {
  if (has('wrk')) return 'wrk';
  if (process.getuid?.() === 0 && has('apt-get')) {
    log('wrk is missing: apt-get install -y wrk');
    try {
      execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'ignore', timeout: 180_000 });
    } catch {
      // The package lists may be stale on a fresh machine: refresh once and retry.
      try {
        execFileSync('apt-get', ['update'], { stdio: 'ignore', timeout: 180_000 });
        execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'ignore', timeout: 180_000 });
      } catch {
        log('apt-get could not install wrk');
      }
    }
    if (has('wrk')) return 'wrk';
  }
  log('using autocannon (npx) instead of wrk');
  return 'autocannon';
}

function run(command: string, args: readonly string[], cpu: number | undefined, timeoutMs: number): Promise<string> {
  const [file, argv] = cpu !== undefined && has('taskset') ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} exited with ${String(code)}: ${err || out}`));
    });
  });
}

/** wrk prints latencies as `361.00us`, `1.10ms` or `1.02s`. */
function wrkMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (match === null) return Number.NaN;
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
  return Number(match[1]) * (scale[match[2]]);
}

export function parseWrk(output: string): Omit<LoadRun, 'tool'> {
  const totals = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(output);
  if (totals === null) throw new Error(`cannot read wrk output:\n${output}`);
  const requests = Number(totals[1]);
  const seconds = wrkMs(`${totals[2]}${totals[3]}`) / 1000;
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const errors = (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)) + Number(non2xx?.[1] ?? 0);
  return {
    requests,
    seconds,
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? requests / seconds),
    p50Ms: wrkMs(/^\s+50%\s+(\S+)/m.exec(output)?.[1] ?? ''),
    p99Ms: wrkMs(/^\s+99%\s+(\S+)/m.exec(output)?.[1] ?? ''),
    errors,
  };
}

/** One bounded HTTP load run with keep-alive connections. */
export async function httpLoad(tool: 'wrk' | 'autocannon', options: LoadOptions, scratch: string): Promise<LoadRun> {
  const limitMs = (options.seconds + 30) * 1000;
  if (tool === 'wrk') {
    const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency'];
    if (options.script !== undefined) {
      const file = join(scratch, 'load.lua');
      writeFileSync(file, options.script);
      args.push('-s', file);
    }
    return { ...parseWrk(await run('wrk', [...args, options.url], options.cpu, limitMs)), tool };
  }
  const output = await run(
    'npx',
    ['--yes', 'autocannon', '-j', '-c', String(options.connections), '-d', String(options.seconds), options.url],
    options.cpu,
    limitMs + 120_000,
  );
  const result = JSON.parse(output) as {
    requests: { total: number; average: number };
    latency: { p50: number; p99: number };
    duration: number;
    errors: number;
    non2xx: number;
  };
  return {
    requests: result.requests.total,
    seconds: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
    tool,
  };
}

export interface AgentRun {
  readonly connections: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Connections closed without a full `…\n` line. */
  readonly bad: number;
}

/**
 * The agent load: `concurrency` loops, each connecting, reading to the close
 * and connecting again, for `seconds` or `maxConnections`, whichever first.
 */
export async function agentLoad(port: number, concurrency: number, seconds: number, maxConnections: number): Promise<AgentRun> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let connections = 0;
  let bad = 0;
  const once = (): Promise<void> =>
    new Promise((done) => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.setTimeout(2000, () => socket.destroy());
      socket.on('data', (chunk: string) => (text += chunk));
      socket.once('error', () => undefined);
      socket.once('close', () => {
        connections += 1;
        if (!text.endsWith('\n')) bad += 1;
        done();
      });
    });
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline && connections < maxConnections) await once();
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  return { connections, seconds: elapsed, perSecond: connections / elapsed, bad };
}

export interface HttpReply {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

/** One GET over the given agent (keep-alive for sequential runs), with its latency. */
export function timedGet(port: number, path: string, agent: http.Agent | false, timeoutMs = 5000): Promise<HttpReply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
      res.once('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.once('error', reject);
  });
}

/** `count` requests to distinct paths made from `prefix`, `concurrency` at a time; resolves with the number answered. */
export async function distinctPaths(port: number, prefix: string, count: number, concurrency: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let answered = 0;
  const loop = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      await timedGet(port, `${prefix}${index}?n=${index}`, agent).then(
        () => (answered += 1),
        () => undefined,
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  agent.destroy();
  return answered;
}
