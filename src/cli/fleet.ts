import { VARIABLES, type Config, type Environment } from '../config/config';
import { createConsulClient, type ConsulClient, type ConsulEndpoint, type KvFailure } from '../consul/client';
import { readConsulEndpoint } from '../consul/credentials';
import { readFleet } from '../fleet/view';
import { fleetJson, formatFleet, type FleetReading } from './fleet-format';

/**
 * `signal-sidecar fleet [PREFIX]`: every shard's report in Consul (what
 * CONSUL_REPORTS writes), read in one recursive read, with the daemon's own
 * Consul settings and token; one line per shard, and the rooms that are live
 * on two shards at once. No tool of Jitsi's reads these reports; this one
 * makes them worth writing.
 */

export interface FleetArgs {
  /** As given; undefined = the folder of CONSUL_REPORT_KEY. */
  readonly prefix: string | undefined;
  readonly json: boolean;
  /** undefined = three CONSUL_REPORTS_INTERVAL. */
  readonly staleAfterMs: number | undefined;
}

export type FleetCommand =
  | { readonly kind: 'fleet'; readonly args: FleetArgs }
  | { readonly kind: 'help' }
  | { readonly kind: 'usage-error'; readonly message: string };

/** `ok`: read, no split found; `splits`: read, and rooms live on two shards; `failed`: nothing to show. */
export type FleetOutcome = 'ok' | 'splits' | 'failed' | 'usage';

export interface FleetIo {
  readonly env: Environment;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The terminal's width; unset when stdout is not a terminal (then COLUMNS, as `watch` sets it, or 120). */
  readonly columns?: number | undefined;
  readonly now?: () => number;
  readonly openConsul?: (endpoint: ConsulEndpoint) => ConsulClient;
}

/** For `--help`, under the commands. */
export const FLEET_HELP: readonly string[] = [
  '  fleet [PREFIX]          the shards\' reports in Consul (CONSUL_REPORTS), one line each: age, health, status,',
  '                          weight, participants, conferences, why; a report older than three times this',
  '                          configuration\'s CONSUL_REPORTS_INTERVAL is stale (or --stale-after SECONDS). Then',
  '                          the rooms live on two shards at once in their census (CENSUS_REPORTS): split.',
  '                          PREFIX: by default the folder of CONSUL_REPORT_KEY (signal-report/prod/ for',
  '                          signal-report/prod/shard1); read with this configuration\'s CONSUL_* settings and',
  '                          token. --json: one object for scripts',
];

/** A recursive read of hundreds of shards, each near Consul's 512 KiB limit, base64 in JSON. */
const READ_LIMIT_BYTES = 256 * 1024 * 1024;
/** Consul encodes a large tree in one go: seconds for a few hundred values near the limit, more on a busy host. */
const READ_TIMEOUT_MS = 60_000;
/** When stdout is no terminal and COLUMNS is unset. */
const DEFAULT_COLUMNS = 120;

const PROGRAM = 'signal-sidecar';

export function parseFleetArgs(args: readonly string[]): FleetCommand {
  let prefix: string | undefined;
  let json = false;
  let staleAfterMs: number | undefined;
  for (let at = 0; at < args.length; at += 1) {
    const arg = args[at] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--json') {
      json = true;
    } else if (arg === '--stale-after' || arg.startsWith('--stale-after=')) {
      const value = arg === '--stale-after' ? args[(at += 1)] : arg.slice('--stale-after='.length);
      const parsed = value === undefined ? undefined : VARIABLES.consulReportsIntervalMs.parse(value);
      if (parsed?.ok !== true) return { kind: 'usage-error', message: `--stale-after takes a number of seconds from 1 to 86400, got: ${value ?? 'nothing'}` };
      staleAfterMs = parsed.value;
    } else if (arg.startsWith('-')) {
      return { kind: 'usage-error', message: `fleet: unknown option ${arg}` };
    } else if (prefix !== undefined) {
      return { kind: 'usage-error', message: `fleet takes one PREFIX, got: ${prefix} ${arg}` };
    } else {
      prefix = arg;
    }
  }
  return { kind: 'fleet', args: { prefix, json, staleAfterMs } };
}

/**
 * The folder to read, ending in `/` (so `signal-report/prod` does not take
 * `signal-report/prod-eu/…` along); a problem when there is none.
 */
export function fleetPrefix(given: string | undefined, reportKey: string): { prefix: string } | { problem: string } {
  if (given === undefined) {
    const folder = reportKey.slice(0, reportKey.lastIndexOf('/') + 1);
    return folder === ''
      ? { problem: `no PREFIX given, and CONSUL_REPORT_KEY=${reportKey} is in no folder to take it from; name it, e.g. ${PROGRAM} fleet signal-report/prod/` }
      : { prefix: folder };
  }
  const prefix = given.endsWith('/') ? given : `${given}/`;
  if (given.trim() === '' || !VARIABLES.consulReportKey.parse(prefix).ok) {
    return { problem: `PREFIX ${JSON.stringify(given)} is not a Consul KV folder such as signal-report/prod/ (no leading /, no spaces, ?, # or %)` };
  }
  return { prefix };
}

const consulAt = (config: Config): string => `${config.consulSecure ? 'https' : 'http'}://${config.consulHost}:${config.consulPort}`;

/** One line that says what failed and what to check; never the token. */
function readProblem(failure: KvFailure, prefix: string, config: Config): string {
  const where = `Consul at ${consulAt(config)}`;
  if (failure.status === 403) {
    return `${where} refused to read ${prefix} (${failure.problem}): the ACL token (CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE) is unknown to Consul or lacks key read on ${prefix}`;
  }
  if (failure.status === 0) return `${where} does not answer: ${failure.problem}`;
  return `${where} could not read ${prefix}: ${failure.problem}`;
}

/** With ACLs on, Consul answers a read of keys the token may not see as if there were none. */
function nothingThere(prefix: string, config: Config): string {
  const tokenGiven = config.consulToken !== undefined || config.consulTokenFile !== undefined;
  const acl = tokenGiven
    ? `Consul hides the keys a token may not read: has it key read on ${prefix}?`
    : 'Consul hides keys from a read without a token: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE';
  return `no reports under ${prefix} in Consul at ${consulAt(config)} (a wrong PREFIX? CONSUL_REPORTS off at the shards? With ACLs on, ${acl})`;
}

function terminalWidth(io: FleetIo): number {
  const fromEnv = Number(io.env.COLUMNS);
  return io.columns ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_COLUMNS);
}

export async function runFleet(args: FleetArgs, config: Config, io: FleetIo): Promise<FleetOutcome> {
  const where = fleetPrefix(args.prefix, config.consulReportKey);
  if ('problem' in where) {
    io.stderr(`${PROGRAM}: ${where.problem}\n`);
    return 'usage';
  }
  const { endpoint, problems } = readConsulEndpoint(config);
  if (endpoint === undefined) {
    for (const problem of problems) io.stderr(`${PROGRAM}: bad configuration: ${problem}\n`);
    return 'failed';
  }
  const client = (io.openConsul ?? createConsulClient)(endpoint);
  const tree = await client.readTree(where.prefix, READ_TIMEOUT_MS, READ_LIMIT_BYTES);
  client.close();
  if (tree.kind === 'failed') {
    io.stderr(`${PROGRAM}: ${readProblem(tree, where.prefix, config)}\n`);
    return 'failed';
  }
  const reading: FleetReading = {
    prefix: where.prefix,
    readAt: (io.now ?? Date.now)(),
    staleAfterMs: args.staleAfterMs ?? 3 * config.consulReportsIntervalMs,
  };
  const view = readFleet(tree.entries, { now: reading.readAt, staleAfterMs: reading.staleAfterMs });
  if (view.shards.length === 0) {
    io.stderr(`${PROGRAM}: ${nothingThere(where.prefix, config)}\n`);
    return 'failed';
  }
  io.stdout(args.json ? fleetJson(view, reading) : formatFleet(view, reading, terminalWidth(io)));
  return view.summary.splits > 0 ? 'splits' : 'ok';
}
