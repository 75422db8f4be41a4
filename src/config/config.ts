/**
 * Configuration: one schema of environment variables, read by a pure loader.
 * The same schema is meant to feed `--help`, so every variable carries its
 * default and its meaning here and nowhere else.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  readonly httpPort: number;
  /** Bind address of the REST server; undefined means every interface. */
  readonly httpHost: string | undefined;
  readonly tcpPort: number;
  /** Bind address of the HAProxy agent; undefined means every interface. */
  readonly tcpHost: string | undefined;
  readonly jicofoOrigin: string;
  readonly prosodyOrigin: string;
  /** Host header for prosody's /http-bind, for BOSH enabled only inside a VirtualHost. */
  readonly prosodyHost: string | undefined;
  readonly statusFile: string;
  readonly pollingIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly probeBodyLimit: number;
  /** Hold an idle connection to each upstream and probe it the moment that connection closes. */
  readonly connectionWatch: boolean;
  /** Bytes of the room census that are read: far more than PROBE_BODY_LIMIT on a busy node. */
  readonly censusBodyLimit: number;
  readonly participantMax: number;
  readonly weightParticipants: boolean;
  readonly censusPoll: boolean;
  readonly censusHost: string | undefined;
  readonly healthDampeningMs: number;
  readonly drainGraceMs: number;
  readonly metrics: boolean;
  readonly logLevel: LogLevel;
  readonly jicofoDump: string | undefined;
  readonly prosodyDump: string | undefined;
  /** Consecutive unhealthy polls before a failure is reported. */
  readonly unhealthyThreshold: number;
  /** Consecutive healthy polls before health is reported again. */
  readonly healthyThreshold: number;
  /** How many reported-state changes /signal/events keeps. */
  readonly historySize: number;
  /** Receivers of a POST on every reported-state change. */
  readonly notifyUrls: readonly string[];
  readonly notifyTimeoutMs: number;
  /** Names this node in notifications; undefined = the host name. */
  readonly nodeName: string | undefined;
  readonly consulHost: string;
  readonly consulPort: number;
  /** https to Consul, verified against the system CAs or CONSUL_CACERT. */
  readonly consulSecure: boolean;
  /** Watch CONSUL_STATUS_KEY for the status word. */
  readonly consulStatus: boolean;
  readonly consulStatusKey: string;
  /** Publish the report to CONSUL_REPORT_KEY. */
  readonly consulReports: boolean;
  readonly consulReportKey: string;
  readonly consulReportsIntervalMs: number;
  /** The published report carries the room census. */
  readonly censusReports: boolean;
  /** ACL token; never logged or shown (see loggable). */
  readonly consulToken: string | undefined;
  /** A file holding the ACL token, read at start, on reload and after a 403; it wins over CONSUL_HTTP_TOKEN, as in Consul's own tools. */
  readonly consulTokenFile: string | undefined;
  /** PEM file of the CA(s) that sign Consul's certificate; unset = the system CAs. */
  readonly consulCaCert: string | undefined;
}

export interface ConfigResult {
  /** Undefined when any variable is bad: nothing may start half-configured. */
  readonly config: Config | undefined;
  /** One line per bad variable: its name, its value, what is expected. */
  readonly problems: readonly string[];
  /** Settings that were accepted but adjusted or are suspicious. */
  readonly warnings: readonly string[];
}

type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

interface Variable<T> {
  readonly name: string;
  /** Default as an operator would write it in the environment; undefined = unset. */
  readonly defaultText: string | undefined;
  readonly meaning: string;
  readonly parse: (text: string) => Parsed<T>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(expected: string): Parsed<T> => ({ ok: false, expected });

const DECIMAL = /^\d+(\.\d+)?$/;
const INTEGER = /^\d+$/;

function port(text: string): Parsed<number> {
  const value = Number(text);
  return INTEGER.test(text) && value >= 1 && value <= 65535
    ? ok(value)
    : bad('a port number from 1 to 65535');
}

/** Seconds, decimals allowed, returned in milliseconds. */
function seconds(min: number, minText: string) {
  return (text: string): Parsed<number> => {
    const value = Number(text);
    if (!DECIMAL.test(text) || !Number.isFinite(value) || value < min || value > 86400) {
      return bad(`a number of seconds ${minText} and at most 86400 (decimals allowed, e.g. 0.5)`);
    }
    return ok(Math.round(value * 1000));
  };
}

function positiveInteger(max: number) {
  return (text: string): Parsed<number> => {
    const value = Number(text);
    return INTEGER.test(text) && value >= 1 && value <= max
      ? ok(value)
      : bad(`a whole number from 1 to ${max}`);
  };
}

const TRUE_WORDS = new Set(['true', '1', 'yes']);
const FALSE_WORDS = new Set(['false', '0', 'no']);

function boolean(text: string): Parsed<boolean> {
  const word = text.toLowerCase();
  if (TRUE_WORDS.has(word)) return ok(true);
  if (FALSE_WORDS.has(word)) return ok(false);
  return bad('true or false (also 1/0, yes/no)');
}

/** An http(s) origin, optionally with a path prefix (a reverse proxy); no trailing slash. */
function origin(text: string): Parsed<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad('an http:// or https:// URL such as http://localhost:8888');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    return bad('an http:// or https:// URL such as http://localhost:8888, without query or fragment');
  }
  return ok(`${url.origin}${url.pathname.replace(/\/+$/, '')}`);
}

/** A comma-separated list of http(s) URLs (query strings allowed: receivers use tokens). */
function urlList(value: string): Parsed<readonly string[]> {
  const urls = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  for (const candidate of urls) {
    let url: URL;
    try {
      url = new URL(candidate);
    } catch {
      return bad('comma-separated http:// or https:// URLs');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad('comma-separated http:// or https:// URLs');
  }
  return ok(Object.freeze(urls));
}

function text(value: string): Parsed<string> {
  return ok(value);
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function logLevel(value: string): Parsed<LogLevel> {
  const level = LOG_LEVELS.find((candidate) => candidate === value.toLowerCase());
  return level === undefined ? bad('one of debug, info, warn, error') : ok(level);
}

/**
 * A Consul KV key: Consul's HTTP API takes it as a path, so no leading slash,
 * no empty segment, nothing that would be read as a query or a fragment.
 */
function consulKey(value: string): Parsed<string> {
  // eslint-disable-next-line no-control-regex -- control characters cannot be sent in a path
  const fits = value.length <= 512 && !/[\s?#%\u0000-\u001f\u007f]/.test(value) && !value.startsWith('/') && !value.includes('//');
  return fits ? ok(value) : bad('a Consul KV key such as shard-states/prod/shard1 (no leading /, no spaces, ?, # or %)');
}

/** A host name or address for a bind or a Host header: no spaces, no scheme, no path. */
function hostName(value: string): Parsed<string> {
  return /^[A-Za-z0-9._:[\]-]+$/.test(value) ? ok(value) : bad('a host name or IP address');
}

function variable<T>(
  name: string,
  defaultText: string | undefined,
  parse: (text: string) => Parsed<T>,
  meaning: string,
): Variable<T> {
  return { name, defaultText, parse, meaning };
}

/** Every variable the daemon reads, in the order `--help` lists them. */
export const VARIABLES = {
  httpPort: variable('HTTP_PORT', '6000', port, 'port of the REST server (health checks, report, metrics)'),
  httpHost: variable('HTTP_HOST', undefined, hostName, 'address the REST server binds to; unset = every interface'),
  tcpPort: variable('TCP_PORT', '6060', port, 'port of the HAProxy agent-check agent'),
  tcpHost: variable('TCP_HOST', undefined, hostName, 'address the HAProxy agent binds to; unset = every interface'),
  jicofoOrigin: variable('JICOFO_ORIG', 'http://localhost:8888', origin, 'origin of jicofo (/about/health and /stats)'),
  prosodyOrigin: variable('PROSODY_ORIG', 'http://localhost:5280', origin, 'origin of prosody (/http-bind and /room-census)'),
  prosodyHost: variable('PROSODY_HOST', undefined, hostName, 'Host header for /http-bind, when BOSH is enabled only inside a VirtualHost'),
  statusFile: variable('STATUS_PATH', '/etc/jitsi/shard-status', text, 'file holding ready, drain or maint (or unhealthy)'),
  pollingIntervalMs: variable('POLLING_INTERVAL', '5', seconds(0.1, 'from 0.1'), 'seconds between polls'),
  probeTimeoutMs: variable('PROBE_TIMEOUT', '3', seconds(0.1, 'from 0.1'), 'seconds a probe may take before it counts as no answer'),
  probeBodyLimit: variable('PROBE_BODY_LIMIT', '65536', positiveInteger(16 * 1024 * 1024), 'bytes of a jicofo or prosody reply that are read (the census excepted); the rest is cut off. jicofo /stats is about 1.5 KB at any node size'),
  censusBodyLimit: variable(
    'CENSUS_BODY_LIMIT',
    '4194304',
    positiveInteger(64 * 1024 * 1024),
    'bytes of the room census that are read; the rest is cut off. 6,000 one-person rooms with 200-byte room addresses make 1.7 MB',
  ),
  connectionWatch: variable('CONNECTION_WATCH', 'true', boolean, 'hold an idle connection to jicofo and to prosody and probe them the moment it closes: a crash shows in milliseconds, not at the next poll'),
  participantMax: variable('PARTICIPANT_MAX', '5000', positiveInteger(10_000_000), 'participants above this drain the node; also the base of weighting (alias PARTIPANT_MAX)'),
  weightParticipants: variable('WEIGHT_PARTICIPANTS', 'false', boolean, 'agent weight follows participants vs. PARTICIPANT_MAX'),
  censusPoll: variable('CENSUS_POLL', 'false', boolean, 'poll prosody mod_muc_census at /room-census'),
  censusHost: variable('CENSUS_HOST', undefined, hostName, 'Host header (conference virtual host) of the census request; required with CENSUS_POLL'),
  healthDampeningMs: variable('HEALTH_DAMPENING_INTERVAL', '30', seconds(0, 'from 0'), 'seconds after the last unhealthy poll before healthy is reported again; 0 disables'),
  drainGraceMs: variable('DRAIN_GRACE_INTERVAL', '120', seconds(0, 'from 0'), 'seconds a soft failure is reported as drain before down; 0 disables'),
  metrics: variable('METRICS', 'true', boolean, 'serve Prometheus metrics at /metrics'),
  logLevel: variable('LOG_LEVEL', 'info', logLevel, 'debug, info, warn or error'),
  jicofoDump: variable('JICOFO_DUMP', undefined, text, 'script run (detached, no shell) when jicofo goes unhealthy'),
  prosodyDump: variable('PROSODY_DUMP', undefined, text, 'script run (detached, no shell) when prosody goes unhealthy'),
  unhealthyThreshold: variable('UNHEALTHY_THRESHOLD', '1', positiveInteger(100), 'consecutive unhealthy polls before a failure is reported'),
  healthyThreshold: variable('HEALTHY_THRESHOLD', '1', positiveInteger(100), 'consecutive healthy polls before health is reported again'),
  historySize: variable('HISTORY_SIZE', '100', positiveInteger(10_000), 'reported-state changes kept for /signal/events'),
  notifyUrls: variable('NOTIFY_URL', '', urlList, 'URLs (comma-separated) that get a JSON POST on every reported-state change'),
  notifyTimeoutMs: variable('NOTIFY_TIMEOUT', '5', seconds(0.1, 'from 0.1'), 'seconds one notification attempt may take'),
  nodeName: variable('NODE_NAME', undefined, text, 'name of this node in notifications; unset = the host name'),
  consulHost: variable('CONSUL_HOST', 'localhost', hostName, 'host of the Consul agent (Jitsi sets the host\'s own address)'),
  consulPort: variable('CONSUL_PORT', '8500', port, 'HTTP(S) port of the Consul agent'),
  consulSecure: variable('CONSUL_SECURE', 'false', boolean, 'talk https to Consul, verified against the system CAs or CONSUL_CACERT'),
  consulStatus: variable('CONSUL_STATUS', 'false', boolean, 'take the status word from CONSUL_STATUS_KEY (blocking queries) and keep it in STATUS_PATH'),
  consulStatusKey: variable('CONSUL_STATUS_KEY', 'shard-state', consulKey, 'Consul KV key holding ready, drain or maint, e.g. shard-states/<env>/<shard>'),
  consulReports: variable('CONSUL_REPORTS', 'false', boolean, 'write the report to CONSUL_REPORT_KEY every CONSUL_REPORTS_INTERVAL and at once on a change of health, status or weight'),
  consulReportKey: variable('CONSUL_REPORT_KEY', 'shard-report', consulKey, 'Consul KV key the report is written to, e.g. signal-report/<env>/<shard>'),
  consulReportsIntervalMs: variable('CONSUL_REPORTS_INTERVAL', '60', seconds(1, 'from 1'), 'seconds between report writes to Consul'),
  censusReports: variable('CENSUS_REPORTS', 'false', boolean, 'the report written to Consul carries the room census (needs CENSUS_POLL); cut to fit Consul\'s 512 KiB value limit'),
  consulToken: variable('CONSUL_HTTP_TOKEN', undefined, text, 'Consul ACL token (sent as X-Consul-Token; never logged or shown)'),
  consulTokenFile: variable('CONSUL_HTTP_TOKEN_FILE', undefined, text, 'file holding the Consul ACL token, read at start, on reload and after a 403; wins over CONSUL_HTTP_TOKEN'),
  consulCaCert: variable('CONSUL_CACERT', undefined, text, 'PEM file of the CA that signs Consul\'s certificate (with CONSUL_SECURE); unset = the system CAs'),
} as const;

type Schema = typeof VARIABLES;
type ValueOf<K extends keyof Schema> = Schema[K] extends Variable<infer T> ? T : never;

/** The misspelling in the original README; still read so old configs keep working. */
const PARTICIPANT_MAX_ALIAS = 'PARTIPANT_MAX';

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Reads the configuration from an environment. Pure: it neither reads
 * process.env nor logs; the caller decides what to do with problems.
 */
export function loadConfig(env: Environment): ConfigResult {
  const problems: string[] = [];
  const warnings: string[] = [];

  const lookup = (name: string): string | undefined => {
    // An empty assignment (`CENSUS_HOST=` in an EnvironmentFile) means unset.
    const raw = env[name]?.trim();
    if (raw !== undefined && raw !== '') return raw;
    if (name === VARIABLES.participantMax.name) {
      const alias = env[PARTICIPANT_MAX_ALIAS]?.trim();
      if (alias !== undefined && alias !== '') return alias;
    }
    return undefined;
  };

  const read = <K extends keyof Schema>(key: K): ValueOf<K> => {
    const spec = VARIABLES[key] as unknown as Variable<ValueOf<K>>;
    const given = lookup(spec.name);
    const source = given ?? spec.defaultText;
    if (source === undefined) return undefined as ValueOf<K>;
    const parsed = spec.parse(source);
    if (parsed.ok) return parsed.value;
    const name =
      spec.name === VARIABLES.participantMax.name && env[spec.name]?.trim() !== source
        ? PARTICIPANT_MAX_ALIAS
        : spec.name;
    problems.push(`${name}=${JSON.stringify(source)}: expected ${parsed.expected}`);
    return undefined as ValueOf<K>;
  };

  const values = {} as { -readonly [K in keyof Schema]: ValueOf<K> };
  for (const key of Object.keys(VARIABLES) as (keyof Schema)[]) {
    (values as Record<string, unknown>)[key] = read(key);
  }

  const primaryMax = env[VARIABLES.participantMax.name]?.trim();
  const aliasMax = env[PARTICIPANT_MAX_ALIAS]?.trim();
  if (primaryMax && aliasMax && primaryMax !== aliasMax) {
    warnings.push(`PARTICIPANT_MAX=${primaryMax} and ${PARTICIPANT_MAX_ALIAS}=${aliasMax} are both set; using PARTICIPANT_MAX`);
  }

  if (values.censusPoll === true && values.censusHost === undefined) {
    problems.push('CENSUS_HOST="": expected the conference host name (e.g. conference.meet.example.com) when CENSUS_POLL is true');
  }

  if (
    values.drainGraceMs !== undefined &&
    values.healthDampeningMs !== undefined &&
    values.drainGraceMs > 0 &&
    values.drainGraceMs < values.healthDampeningMs
  ) {
    const raised = values.healthDampeningMs + 1000;
    warnings.push(
      `DRAIN_GRACE_INTERVAL=${values.drainGraceMs / 1000} is below HEALTH_DAMPENING_INTERVAL=${values.healthDampeningMs / 1000}; raised to ${raised / 1000}`,
    );
    values.drainGraceMs = raised;
  }

  warnings.push(...consulWarnings(values));

  if (problems.length > 0) return { config: undefined, problems, warnings };
  return { config: Object.freeze(values as Config), problems, warnings };
}

/** Consul settings that are accepted but do nothing as combined. */
function consulWarnings(values: Partial<Config>): string[] {
  const warnings: string[] = [];
  if (values.censusReports === true && values.consulReports !== true) warnings.push('CENSUS_REPORTS is true but CONSUL_REPORTS is not: no report is written to Consul');
  if (values.censusReports === true && values.consulReports === true && values.censusPoll !== true) {
    warnings.push('CENSUS_REPORTS is true but CENSUS_POLL is not: the reports written to Consul carry an empty census');
  }
  if (values.consulCaCert !== undefined && values.consulSecure !== true) warnings.push('CONSUL_CACERT is set but CONSUL_SECURE is not true: Consul is reached over plain http and the CA is not used');
  if (values.consulToken !== undefined && values.consulTokenFile !== undefined) warnings.push('CONSUL_HTTP_TOKEN and CONSUL_HTTP_TOKEN_FILE are both set; the file wins, as in Consul\'s own tools');
  return warnings;
}

/** A URL without its credentials (user:password, query tokens): what may be logged. */
export function redactedUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** What stands in for a secret wherever a configuration is shown. */
export const HIDDEN = '(hidden)';

/** The configuration as it may be logged: notification URLs carry their receivers' tokens, and the Consul token is a secret. */
export function loggable(config: Config): Config {
  return { ...config, notifyUrls: config.notifyUrls.map(redactedUrl), consulToken: config.consulToken === undefined ? undefined : HIDDEN };
}

/** Consul is talked to at all. */
export const usesConsul = (config: Config): boolean => config.consulStatus || config.consulReports;

/** Whether any of `keys` has another value in `after` than in `before` (a reload's question). */
export function changedBetween(before: Config, after: Config, keys: readonly (keyof Config)[]): boolean {
  return keys.some((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}
