import { readFileSync } from 'node:fs';
import dotenv from 'dotenv';
import { VARIABLES, type Environment } from './config';

/**
 * The configuration file: NAME=value lines, as in a systemd EnvironmentFile
 * or a `.env`. The daemon reads it itself rather than letting systemd or
 * `node --env-file` (Node 20.6+) put it into the environment: then it can
 * read the file again on SIGHUP, and the package runs on the Node.js of
 * Debian 12 and Ubuntu 24.04 (18.x).
 */

/** Names the file; unset means `.env` in the working directory, which may be absent. */
export const CONFIG_FILE_VARIABLE = 'CONFIG_FILE';
const DEFAULT_PATH = '.env';

export interface ConfigFile {
  readonly path: string;
  /** Named by CONFIG_FILE: then it must exist and be readable. */
  readonly explicit: boolean;
  readonly values: Readonly<Record<string, string>>;
  /** One line each: the file cannot be read, or a line is not NAME=value. */
  readonly problems: readonly string[];
  /** Names that are no variable of ours (a typo stays a default otherwise). */
  readonly warnings: readonly string[];
}

/** The alias of PARTICIPANT_MAX, and HA_PORT, which `--check-config` explains by itself. */
const KNOWN = new Set<string>([...Object.values(VARIABLES).map((variable) => variable.name), 'PARTIPANT_MAX', 'HA_PORT', CONFIG_FILE_VARIABLE]);
/** What dotenv accepts as an assignment; anything else it skips without a word. */
const ASSIGNMENT = /^\s*(?:export\s+)?([\w.-]+)\s*[=:]/;

/** A line that mentions a secret's name may hold the secret itself, malformed: it is named, not shown. */
const SECRETS: readonly string[] = [VARIABLES.consulToken.name];
const shownLine = (line: string): string => {
  const secret = SECRETS.find((name) => line.includes(name));
  return secret === undefined ? JSON.stringify(line.slice(0, 60)) : `a line about ${secret} (not shown: it holds a secret)`;
};

/** Parses the text of a configuration file. Pure. */
export function parseConfigFile(text: string, path: string): Omit<ConfigFile, 'explicit'> {
  const problems: string[] = [];
  const warnings: string[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const name = ASSIGNMENT.exec(line)?.[1];
    if (name === undefined) problems.push(`${path}:${index + 1}: expected NAME=value, got ${shownLine(trimmed)}`);
    else if (!KNOWN.has(name)) warnings.push(`${path}:${index + 1}: ${name} is not a signal-sidecar variable; ignored`);
  });
  return { path, values: dotenv.parse(text), problems, warnings };
}

/** Reads the file CONFIG_FILE names (or `.env`); an absent `.env` is no file at all. */
export function readConfigFile(env: Environment): ConfigFile {
  const named = env[CONFIG_FILE_VARIABLE]?.trim();
  const explicit = named !== undefined && named !== '';
  const path = explicit ? named : DEFAULT_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!explicit && code === 'ENOENT') return { path, explicit, values: {}, problems: [], warnings: [] };
    const why = error instanceof Error ? error.message : String(error);
    return { path, explicit, values: {}, problems: [`${CONFIG_FILE_VARIABLE}=${JSON.stringify(path)}: cannot read it (${why})`], warnings: [] };
  }
  return { ...parseConfigFile(text, path), explicit };
}

/** The file's values under the environment's: a variable set in the environment wins. */
export function layered(env: Environment, file: ConfigFile): Environment {
  const result: Record<string, string | undefined> = { ...file.values };
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined) result[name] = value;
  }
  return result;
}
