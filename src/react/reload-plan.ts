import { HIDDEN, VARIABLES, loadConfig, redactedUrl, type Config, type Environment } from '../config/config';
import { layered, type ConfigFile } from '../config/config-file';

/**
 * What a reload (SIGHUP, `systemctl reload`) does with a new reading of the
 * configuration file, decided without doing it: pure, so every case is a
 * unit test. The I/O (reading, applying, logging) is in reload.ts.
 *
 * Every setting applies without a restart except the four that belong to a
 * bound socket: those keep their running value and are reported. A bad new
 * configuration changes nothing.
 */

type Key = keyof Config;

/** Settings of the two listening sockets: a new value needs a restart. */
export const NEEDS_RESTART: readonly Key[] = ['httpPort', 'httpHost', 'tcpPort', 'tcpHost'];

/** One setting whose value differs, in the operator's words: its variable and both values as written. */
export interface Change {
  readonly key: Key;
  readonly name: string;
  readonly from: string;
  readonly to: string;
}

export type ReloadOutcome =
  | {
      readonly kind: 'refused';
      /** One line each: the file cannot be read, a line is not NAME=value, a value is bad. */
      readonly problems: readonly string[];
    }
  | {
      readonly kind: 'applied';
      /** The configuration to run on: the new one, with the running values of NEEDS_RESTART. */
      readonly config: Config;
      readonly changes: readonly Change[];
      /** Changed in the file, kept at the running value until a restart. */
      readonly restartNeeded: readonly Change[];
      /** Accepted but adjusted or suspicious, as at start. */
      readonly warnings: readonly string[];
      /** Variables changed in the file that the start-time environment sets: the environment wins. */
      readonly overridden: readonly string[];
    };

const seconds = (ms: number): string => String(ms / 1000);
const flag = (value: boolean): string => String(value);
const plain = (value: string | number | undefined): string => (value === undefined ? '(unset)' : String(value));
const secret = (value: string | undefined): string => (value === undefined ? '(unset)' : HIDDEN);

/** Each setting as an operator writes it in the file. A Record, so a new setting cannot be forgotten. */
const SHOWN: { readonly [K in Key]: (value: Config[K]) => string } = {
  httpPort: plain,
  httpHost: plain,
  tcpPort: plain,
  tcpHost: plain,
  jicofoOrigin: plain,
  prosodyOrigin: plain,
  prosodyHost: plain,
  statusFile: plain,
  pollingIntervalMs: seconds,
  probeTimeoutMs: seconds,
  probeBodyLimit: plain,
  censusBodyLimit: plain,
  connectionWatch: flag,
  participantMax: plain,
  weightParticipants: flag,
  censusPoll: flag,
  censusHost: plain,
  healthDampeningMs: seconds,
  drainGraceMs: seconds,
  metrics: flag,
  logLevel: plain,
  jicofoDump: plain,
  prosodyDump: plain,
  unhealthyThreshold: plain,
  healthyThreshold: plain,
  historySize: plain,
  notifyUrls: (urls) => (urls.length === 0 ? '(none)' : urls.map(redactedUrl).join(',')),
  notifyTimeoutMs: seconds,
  nodeName: plain,
  consulHost: plain,
  consulPort: plain,
  consulSecure: flag,
  consulStatus: flag,
  consulStatusKey: plain,
  consulReports: flag,
  consulReportKey: plain,
  consulReportsIntervalMs: seconds,
  censusReports: flag,
  consulToken: secret,
  consulTokenFile: plain,
  consulCaCert: plain,
};

function show<K extends Key>(key: K, value: Config[K]): string {
  return SHOWN[key](value);
}

const same = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/** The settings whose values differ between two configurations, in the order `--help` lists them. */
export function changesBetween(running: Config, next: Config): Change[] {
  return (Object.keys(VARIABLES) as Key[])
    .filter((key) => !same(running[key], next[key]))
    .map((key) => ({ key, name: VARIABLES[key].name, from: show(key, running[key]), to: show(key, next[key]) }));
}

/**
 * Plans a reload: `file` is the new reading of the configuration file,
 * `previousFile` the one in force, `startEnv` the environment the daemon
 * started with (it still wins over the file).
 */
export function planReload(running: Config, startEnv: Environment, file: ConfigFile, previousFile: ConfigFile): ReloadOutcome {
  const loaded = loadConfig(layered(startEnv, file));
  const problems = [...file.problems, ...loaded.problems];
  if (problems.length > 0 || loaded.config === undefined) return { kind: 'refused', problems };

  const wanted = changesBetween(running, loaded.config);
  const restartNeeded = wanted.filter((change) => NEEDS_RESTART.includes(change.key));
  const kept: Partial<Record<Key, unknown>> = {};
  for (const { key } of restartNeeded) kept[key] = running[key];
  const config = Object.freeze({ ...loaded.config, ...kept }) as Config;

  const names = new Set([...Object.keys(file.values), ...Object.keys(previousFile.values)]);
  const overridden = [...names].filter(
    (name) => file.values[name] !== previousFile.values[name] && (startEnv[name]?.trim() ?? '') !== '',
  );
  return {
    kind: 'applied',
    config,
    changes: wanted.filter((change) => !NEEDS_RESTART.includes(change.key)),
    restartNeeded,
    warnings: [...file.warnings, ...loaded.warnings],
    overridden,
  };
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

const listed = (changes: readonly Change[]): string => changes.map(({ name, from, to }) => `${name} ${from} → ${to}`).join(', ');
const byName = (changes: readonly Change[]): Record<string, { from: string; to: string }> =>
  Object.fromEntries(changes.map(({ name, from, to }) => [name, { from, to }]));

/** The log lines of a reload: one per problem when refused; when applied, warnings first, then one line naming what changed. */
export function reloadLines(outcome: ReloadOutcome, path: string): LogLine[] {
  if (outcome.kind === 'refused') {
    return outcome.problems.map((problem) => ({
      level: 'error',
      message: `configuration reload refused, still running on the previous one: ${problem}`,
      fields: { file: path },
    }));
  }
  const lines: LogLine[] = outcome.warnings.map((warning) => ({ level: 'warn', message: warning, fields: { file: path } }));
  for (const name of outcome.overridden) {
    lines.push({ level: 'warn', message: `${name} changed in the configuration file, but the environment sets it, and the environment wins`, fields: { file: path } });
  }
  if (outcome.restartNeeded.length > 0) {
    lines.push({
      level: 'warn',
      message: `configuration reload: ${listed(outcome.restartNeeded)} need${outcome.restartNeeded.length === 1 ? 's' : ''} a restart; the running value${outcome.restartNeeded.length === 1 ? ' stays' : 's stay'} in force until then`,
      fields: { file: path, restartNeeded: byName(outcome.restartNeeded) },
    });
  }
  lines.push({
    level: 'info',
    message: `configuration reloaded: ${outcome.changes.length === 0 ? 'nothing changed' : listed(outcome.changes)}`,
    fields: { file: path, changed: byName(outcome.changes) },
  });
  return lines;
}
