import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { writeStatusFile } from '../collect/status-file';
import { consulFileProblems } from '../consul/credentials';
import { loadConfig, VARIABLES, type Config, type Environment } from '../config/config';
import type { ConfigFile } from '../config/config-file';
import { FLEET_HELP, parseFleetArgs, runFleet, type FleetArgs, type FleetOutcome } from './fleet';

/**
 * The operator's command line: `signal-sidecar <command>`. Everything here
 * takes its inputs (arguments, environment, output streams, fetch, clock) as
 * parameters so the commands can be tested without a process per case; only
 * src/app.ts touches the real process.
 */

/** Exit codes, so scripts can tell "did not work" from "worked, but unconfirmed". */
export const EXIT = {
  ok: 0,
  /** Bad configuration, file not written, or the node reports unhealthy (`status`). */
  failed: 1,
  /** Unknown command or option. */
  usage: 2,
  /** The status file was written (or nothing was to be written) but the daemon did not answer as expected. */
  unconfirmed: 3,
  /** `fleet`: the reports were read, and rooms are live on two shards at once. */
  splits: 4,
} as const;

const FLEET_EXIT: Readonly<Record<FleetOutcome, number>> = { ok: EXIT.ok, splits: EXIT.splits, failed: EXIT.failed, usage: EXIT.usage };

export const STATUS_WORDS = ['ready', 'drain', 'maint'] as const;
export type StatusWord = (typeof STATUS_WORDS)[number];

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'check-config' }
  | { readonly kind: 'config-template' }
  | { readonly kind: 'status' }
  | { readonly kind: 'set'; readonly word: StatusWord }
  | { readonly kind: 'fleet'; readonly args: FleetArgs }
  | { readonly kind: 'usage-error'; readonly message: string };

export interface CliIo {
  /** The environment with the configuration file's values under it. */
  readonly env: Environment;
  /** The configuration file that was read, if any; its problems are the configuration's. */
  readonly file?: ConfigFile;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The report fetcher; tests may replace it, the default asks the daemon over HTTP. */
  readonly fetchReport?: (url: string) => Promise<FetchedReport>;
  /** How long `drain|ready|maint` waits for the daemon to show the new word. */
  readonly confirmWithinMs?: number;
  /** The terminal's width, when stdout is one. */
  readonly columns?: number | undefined;
}

export interface FetchedReport {
  readonly httpStatus: number;
  readonly body: string;
}

/** The report fields the CLI shows; the daemon may send more (issue 7 adds `reasons`). */
export interface ReportView {
  readonly healthy?: unknown;
  readonly healthdamped?: unknown;
  readonly status?: unknown;
  readonly weight?: unknown;
  readonly agentmessage?: unknown;
  readonly time?: unknown;
  readonly reasons?: unknown;
  readonly services?: Record<string, unknown>;
  readonly statuses?: { readonly statusFileFound?: unknown; readonly statusFileContents?: unknown; readonly statusSource?: unknown };
  readonly consul?: {
    readonly reachable?: unknown;
    readonly status?: { readonly key?: unknown; readonly keyFound?: unknown; readonly problem?: unknown };
    readonly reports?: { readonly key?: unknown; readonly lastWriteOk?: unknown; readonly problem?: unknown };
  };
  readonly stats?: Record<string, unknown>;
}

const PROGRAM = 'signal-sidecar';

export function parseArgs(argv: readonly string[]): Command {
  if (argv[0] === 'fleet') return parseFleetArgs(argv.slice(1));
  if (argv.length !== 1) {
    return { kind: 'usage-error', message: argv.length === 0 ? 'no command given' : `expected one command, got: ${argv.join(' ')}` };
  }
  const [arg] = argv as [string];
  switch (arg) {
    case '-h':
    case '--help':
    case 'help':
      return { kind: 'help' };
    case '-V':
    case '--version':
      return { kind: 'version' };
    case '--check-config':
      return { kind: 'check-config' };
    case '--config-template':
      return { kind: 'config-template' };
    case 'status':
      return { kind: 'status' };
    default: {
      const word = STATUS_WORDS.find((candidate) => candidate === arg);
      return word === undefined ? { kind: 'usage-error', message: `unknown command: ${arg}` } : { kind: 'set', word };
    }
  }
}

interface VariableInfo {
  readonly name: string;
  readonly defaultText: string | undefined;
  readonly meaning: string;
}

const variables = (): readonly VariableInfo[] => Object.values(VARIABLES);

/** An empty default (a list of nothing) reads as unset to a person. */
export const defaultLabel = (variable: VariableInfo): string =>
  variable.defaultText === undefined || variable.defaultText === '' ? 'unset' : variable.defaultText;

/** `--help`: commands, then every variable of the config schema with its default and meaning. */
export function helpText(): string {
  const list = variables();
  const width = Math.max(...list.map((variable) => variable.name.length));
  const lines = [
    `Usage: ${PROGRAM} [command]`,
    '',
    'Without a command, runs the daemon. Commands:',
    '  ready | drain | maint   write the word to STATUS_PATH (atomically) and show what the daemon then reports',
    '  status                  show the daemon\'s current report: health, status, weight, participants, why',
    ...FLEET_HELP,
    '  --check-config          check the configuration; exit 0, or 1 listing every problem',
    '  --config-template       print a configuration file with every variable commented out at its default',
    '  --version, -V           print the version',
    '  --help, -h              print this help',
    '',
    'Configuration comes from the environment, then from the file CONFIG_FILE names',
    '(default: .env in the working directory, if there is one); values already in the',
    'environment win. The Debian package\'s service and command read',
    '/etc/jitsi/signal-sidecar/config.',
    '',
    'Runs on Node.js 18 or later. The Debian package depends on plain nodejs, so it',
    'runs on the distribution\'s own: 18.20 on Debian 12, 20.19 on Debian 13.',
    '',
    'Variables (default in brackets):',
    ...list.map(
      (variable) => `  ${variable.name.padEnd(width)}  ${variable.meaning} [${defaultLabel(variable)}]`,
    ),
    '',
    `Exit codes: ${EXIT.ok} done; ${EXIT.failed} failed (bad configuration, file not written, node unhealthy for \`status\`;`,
    '  for `fleet`: Consul unreachable or refusing (403), or no report under PREFIX);',
    `${EXIT.usage} usage error; ${EXIT.unconfirmed} the daemon did not answer or did not show the change;`,
    `${EXIT.splits} \`fleet\` found split conferences.`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * An EnvironmentFile (systemd) / .env file: every variable commented out at its
 * default, so uncommenting a line is the whole edit an operator makes.
 */
export function configTemplate(): string {
  const lines = [
    '# signal-sidecar configuration, read by signal-sidecar.service and by the',
    '# signal-sidecar command (CONFIG_FILE). One NAME=value per line, no shell syntax;',
    '# a variable set in the service\'s environment wins over this file.',
    '# Every variable is shown commented out at its default; `signal-sidecar --help`',
    '# lists them too, and `signal-sidecar --check-config` checks this file.',
  ];
  for (const variable of variables()) {
    lines.push('', `# ${variable.meaning}`);
    lines.push(variable.defaultText === undefined ? `#${variable.name}=` : `#${variable.name}=${variable.defaultText}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The nearest package.json above this module: dist/app.js when bundled,
 * src/cli/ when the tests load the source.
 */
function ownPackageJson(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) || dirname(dir) === dir) return candidate;
  }
}

export function versionText(packageJsonPath = ownPackageJson()): string {
  const { version } = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version?: unknown };
  return `${PROGRAM} ${typeof version === 'string' ? version : 'unknown'}\n`;
}

export interface ConfigCheck {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `--check-config`: every problem on its own line, warnings too; exit 1 on any problem. */
export function checkConfig(env: Environment, file?: ConfigFile): ConfigCheck {
  const loaded = loadConfig(env);
  const problems = [...(file?.problems ?? []), ...loaded.problems, ...(loaded.config === undefined ? [] : consulFileProblems(loaded.config))];
  const config = problems.length === 0 ? loaded.config : undefined;
  const allWarnings = [...(file?.warnings ?? []), ...loaded.warnings];
  // The original package's config file set HA_PORT, which its code never read.
  if ((env.HA_PORT?.trim() ?? '') !== '') {
    allWarnings.push(`HA_PORT=${env.HA_PORT?.trim() ?? ''} is not read (a leftover of the original package); the agent port is ${VARIABLES.tcpPort.name}`);
  }
  const warningText = allWarnings.map((warning) => `warning: ${warning}\n`).join('');
  if (config === undefined) {
    const problemText = problems.map((problem) => `problem: ${problem}\n`).join('');
    return { code: EXIT.failed, stdout: '', stderr: `${problemText}${warningText}${problems.length} problem(s) in the configuration\n` };
  }
  const given = variables().filter((variable) => (env[variable.name]?.trim() ?? '') !== '');
  const summary = given.length === 0 ? 'every variable at its default' : `set: ${given.map((variable) => variable.name).join(', ')}`;
  return { code: EXIT.ok, stdout: `configuration OK (${summary})\n`, stderr: warningText };
}

/** Where the daemon's REST server can be reached from this host. */
export function reportUrl(config: Config): string {
  const host = config.httpHost;
  const wildcard = host === undefined || host === '0.0.0.0' || host === '::' || host === '[::]';
  const target = wildcard ? '127.0.0.1' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${target}:${config.httpPort}/signal/report`;
}

/** A report field for display; the report is JSON, so anything else is an object. */
function text(value: unknown): string {
  if (value === undefined || value === null) return 'unknown';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** `status`: the report as a person reads it. */
export function formatReport(report: ReportView, httpStatus: number): string {
  const stats = report.stats ?? {};
  const services = report.services ?? {};
  const lines: string[] = [];
  const health = report.healthy === true ? 'healthy' : 'UNHEALTHY';
  const damped = report.healthdamped === true ? ' (held unhealthy by HEALTH_DAMPENING_INTERVAL after a recent failure)' : '';
  lines.push(`health:       ${health}${damped} [HTTP ${httpStatus}]`);
  lines.push(`status:       ${text(report.status)}`);
  lines.push(`weight:       ${text(report.weight)}`);
  lines.push(`agent says:   ${text(report.agentmessage)}`);
  const participants = stats.jicofoParticipants;
  const conferences = stats.jicofoConferences;
  lines.push(
    `participants: ${participants === null || participants === undefined ? 'unknown (jicofo not healthy)' : text(participants)}` +
      (conferences === null || conferences === undefined ? '' : ` in ${text(conferences)} conferences`),
  );
  if (stats.prosodyParticipants !== undefined) {
    lines.push(`census:       ${text(stats.prosodyParticipants)} prosody participants, sum of squares ${text(stats.prosodySumSquaredParticipants)}`);
  }
  const statusFile = report.statuses;
  if (statusFile !== undefined) {
    const word = statusFile.statusFileFound === true ? JSON.stringify(text(statusFile.statusFileContents)) : 'missing or unreadable';
    const from = statusFile.statusSource === 'consul' ? ` (from Consul key ${text(report.consul?.status?.key)})` : '';
    lines.push(`status file:  ${word}${from}`);
  }
  if (report.consul !== undefined) lines.push(`consul:       ${consulLine(report.consul)}`);
  lines.push(
    `jicofo:       ${componentLine(services.jicofoHealthy, services.jicofoSoftDown, services.jicofoStatusCode)}` +
      `; stats HTTP ${text(services.jicofoStatsStatusCode)}`,
  );
  lines.push(`prosody:      ${componentLine(services.prosodyHealthy, services.prosodySoftDown, services.prosodyStatusCode)}`);
  const reasons = Array.isArray(report.reasons) ? report.reasons.map((reason: unknown) => text(reason)) : undefined;
  if (reasons !== undefined) {
    lines.push(reasons.length === 0 ? 'why:          nothing is wrong' : 'why:');
    if (reasons.length > 0) lines.push(...reasons.map((reason) => `  - ${reason}`));
  } else {
    lines.push(`why:          ${explain(report)}`);
  }
  lines.push(`as of:        ${text(report.time)}`);
  return `${lines.join('\n')}\n`;
}

/** Whether Consul answers, and what the watch and the last report write saw. */
function consulLine(consul: NonNullable<ReportView['consul']>): string {
  const parts = [consul.reachable === true ? 'reachable' : consul.reachable === false ? 'NOT reachable' : 'not asked yet'];
  const { status, reports } = consul;
  if (status !== undefined) {
    const key = status.keyFound === false ? `${text(status.key)} absent` : `watching ${text(status.key)}`;
    parts.push(status.problem === null || status.problem === undefined ? key : `${key}: ${text(status.problem)}`);
  }
  if (reports !== undefined) {
    const written = reports.lastWriteOk === true ? `reports to ${text(reports.key)}` : `reports to ${text(reports.key)} failing`;
    parts.push(reports.problem === null || reports.problem === undefined ? written : `${written}: ${text(reports.problem)}`);
  }
  return parts.join('; ');
}

function componentLine(healthy: unknown, softDown: unknown, code: unknown): string {
  const state = healthy === true ? 'healthy' : softDown === true ? 'soft down (overloaded)' : 'down';
  return `${state} (HTTP ${code === 0 ? 'no answer' : text(code)})`;
}

/** Until the daemon sends its own reasons (issue 7), derive a short why from the report fields. */
function explain(report: ReportView): string {
  const services = report.services ?? {};
  const why: string[] = [];
  if (services.jicofoHealthy === false) why.push(services.jicofoSoftDown === true ? 'jicofo soft down' : 'jicofo down');
  if (services.prosodyHealthy === false) why.push(services.prosodySoftDown === true ? 'prosody soft down' : 'prosody down');
  const statusFile = report.statuses;
  if (statusFile?.statusFileFound === false) why.push('status file missing');
  else if (statusFile !== undefined && statusFile.statusFileContents !== 'ready') {
    why.push(`status file says ${JSON.stringify(text(statusFile.statusFileContents))}`);
  }
  if (report.healthdamped === true) why.push('health dampening after a recent failure');
  if (why.length === 0 && report.status === 'drain') why.push('participants above PARTICIPANT_MAX, or drain grace after a soft failure');
  return why.length === 0 ? 'nothing is wrong' : why.join('; ');
}

/**
 * node:http, not fetch(): fetch refuses "bad ports" from the browser block
 * list, and the daemon's default HTTP_PORT 6000 (X11) is on it.
 */
function defaultFetchReport(url: string): Promise<FetchedReport> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ httpStatus: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

/** The daemon answers 503 `NOT_OK` (not JSON) until its first poll is complete. */
function parseReport(fetched: FetchedReport): ReportView | undefined {
  try {
    const parsed = JSON.parse(fetched.body) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function describeError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined) return code;
  return error instanceof Error ? error.message : String(error);
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Each report request counts as a served health check in the metrics, so poll gently. */
const CONFIRM_POLL_MS = 50;
const REQUEST_TIMEOUT_MS = 2000;

/** The configuration the daemon would run with; undefined after saying what is wrong with it. */
function configOf(io: CliIo): Config | undefined {
  const loaded = loadConfig(io.env);
  const problems = [...(io.file?.problems ?? []), ...loaded.problems];
  for (const problem of problems) io.stderr(`${PROGRAM}: bad configuration: ${problem}\n`);
  return problems.length === 0 ? loaded.config : undefined;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const command = parseArgs(argv);
  switch (command.kind) {
    case 'usage-error':
      io.stderr(`${PROGRAM}: ${command.message}\nTry \`${PROGRAM} --help\`.\n`);
      return EXIT.usage;
    case 'help':
      io.stdout(helpText());
      return EXIT.ok;
    case 'version':
      io.stdout(versionText());
      return EXIT.ok;
    case 'config-template':
      io.stdout(configTemplate());
      return EXIT.ok;
    case 'check-config': {
      const result = checkConfig(io.env, io.file);
      io.stdout(result.stdout);
      io.stderr(result.stderr);
      return result.code;
    }
    case 'fleet': {
      const config = configOf(io);
      return config === undefined ? EXIT.failed : FLEET_EXIT[await runFleet(command.args, config, io)];
    }
    case 'status':
    case 'set':
      break;
  }

  const config = configOf(io);
  if (config === undefined) return EXIT.failed;
  const fetchReport = io.fetchReport ?? defaultFetchReport;
  const url = reportUrl(config);

  if (command.kind === 'set') {
    try {
      await writeStatusFile(config.statusFile, command.word);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const hint = code === 'EACCES' || code === 'EPERM' ? ' (run it as root, e.g. with sudo)' : '';
      io.stderr(`${PROGRAM}: cannot write ${config.statusFile}: ${error instanceof Error ? error.message : String(error)}${hint}\n`);
      return EXIT.failed;
    }
    io.stdout(`wrote "${command.word}" to ${config.statusFile}\n`);
  }

  const wanted = command.kind === 'set' ? command.word : undefined;
  const deadline = Date.now() + (wanted === undefined ? 0 : (io.confirmWithinMs ?? 3000));
  let lastProblem = '';
  for (;;) {
    try {
      const fetched = await fetchReport(url);
      const report = parseReport(fetched);
      if (report === undefined) {
        lastProblem = `the daemon has not completed its first poll yet (HTTP ${fetched.httpStatus})`;
      } else if (wanted === undefined || report.statuses?.statusFileContents === wanted) {
        io.stdout(formatReport(report, fetched.httpStatus));
        if (wanted !== undefined) return EXIT.ok;
        return report.healthy === true ? EXIT.ok : EXIT.failed;
      } else {
        lastProblem = `the daemon still shows status file ${JSON.stringify(text(report.statuses?.statusFileContents))}`;
      }
    } catch (error) {
      lastProblem = `no answer from the daemon at ${url}: ${describeError(error)}`;
    }
    if (Date.now() >= deadline) break;
    await sleep(CONFIRM_POLL_MS);
  }
  io.stderr(`${PROGRAM}: ${lastProblem}\n`);
  return EXIT.unconfirmed;
}
