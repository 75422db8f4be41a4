import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { PLAIN_LAUNCH, freePort, shippedLaunch, startDaemon, waitFor, type Daemon, type Launch } from '../../test/helpers/daemon';

/** A running bare reference: HTTP `OK` plus a one-line TCP agent. */
export interface Reference {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly httpPort: number;
  readonly agentPort: number;
  stop(): Promise<void>;
}

/**
 * Compiles bench/reference-server.ts to plain JavaScript once per run: the
 * reference must run on bare `node`, as a user's smallest server would,
 * without the TypeScript loader the bench itself uses.
 */
export function compileReference(scratch: string): string {
  const source = readFileSync(resolve(__dirname, '..', 'reference-server.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, 'reference-server.js');
  writeFileSync(file, outputText);
  return file;
}

/** With `censusFile`, the reference also answers `/signal/census` with that file's bytes. */
export async function startReference(script: string, ports?: { http: number; agent: number }, censusFile?: string): Promise<Reference> {
  const httpPort = ports?.http ?? (await freePort());
  const agentPort = ports?.agent ?? (await freePort());
  const args = [script, String(httpPort), String(agentPort), ...(censusFile === undefined ? [] : [censusFile])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await waitFor('the reference server', () => (output.includes('ready') ? true : undefined), 10_000, 5);
  return {
    child,
    pid: child.pid as number,
    httpPort,
    agentPort,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Upstream {
  readonly jicofoOrigin: string;
  readonly prosodyOrigin: string;
}

/** A way the daemon is started, named for the tables. */
export interface NamedLaunch {
  /** Appended to figure ids (`rss:soak`, `rss:soak:plain`); empty for the unit's. */
  readonly suffix: string;
  /** How the table names it. */
  readonly label: string;
  readonly launch: Launch;
}

/**
 * The launches the memory phases measure: the systemd unit's (flags and
 * environment read from the unit; `npm start` is the same) and plain
 * `node dist/app.js`, how the original README starts it.
 */
export const LAUNCHES: readonly NamedLaunch[] = [
  { suffix: '', label: 'unit', launch: shippedLaunch() },
  { suffix: ':plain', label: 'plain node', launch: PLAIN_LAUNCH },
];

/** The built daemon against a fake signal node, started the unit's way unless `launch` says otherwise. */
export async function startSidecar(upstream: Upstream, env: Record<string, string> = {}, launch?: Launch): Promise<Daemon> {
  const daemon = await startDaemon(
    { JICOFO_ORIG: upstream.jicofoOrigin, PROSODY_ORIG: upstream.prosodyOrigin, ...env },
    { status: 'ready\n', ...(launch === undefined ? {} : { launch }) },
  );
  return daemon;
}
