import type { Config, Environment, LogLevel } from '../config/config';
import { readConfigFile, type ConfigFile } from '../config/config-file';
import type { Logger } from '../runtime/logger';
import { planReload, reloadLines, type ReloadOutcome } from './reload-plan';

/**
 * SIGHUP (`systemctl reload signal-sidecar`): read the configuration file
 * again, under the environment the daemon started with, and run on it, or
 * refuse it and keep running on the old one. What changes is decided in
 * reload-plan.ts; this is the reading, the applying and the logging.
 */

export interface ReloadDeps {
  /** The environment at start: it still wins over the file. */
  readonly startEnv: Environment;
  /** The file as read at start. */
  readonly startFile: ConfigFile;
  readonly logger: Logger;
  readonly running: () => Config;
  readonly apply: (config: Config) => void;
  readonly reloaded: (applied: boolean, seconds: number) => void;
  readonly readFile?: (env: Environment) => ConfigFile;
}

const VERBOSITY: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
const moreVerbose = (a: LogLevel, b: LogLevel): LogLevel => (VERBOSITY.indexOf(a) >= VERBOSITY.indexOf(b) ? a : b);

/** Returns the function a SIGHUP calls; each call is one reload, synchronous from reading to logging. */
export function createReloader(deps: ReloadDeps): () => ReloadOutcome {
  const read = deps.readFile ?? readConfigFile;
  let inForce = deps.startFile;
  return () => {
    const running = deps.running();
    const file = read(deps.startEnv);
    const outcome = planReload(running, deps.startEnv, file, inForce);
    // Said at the more talkative of the two levels: lowering LOG_LEVEL must
    // not hide the line that says it was lowered.
    const level = outcome.kind === 'applied' ? outcome.config.logLevel : running.logLevel;
    deps.logger.level = moreVerbose(running.logLevel, level);
    // What the reload changed is said before what that changed (a new verdict, say).
    for (const line of reloadLines(outcome, file.path)) deps.logger.log(line.level, line.message, line.fields);
    if (outcome.kind === 'applied') {
      inForce = file;
      deps.apply(outcome.config);
    }
    deps.logger.level = level;
    deps.reloaded(outcome.kind === 'applied', Date.now() / 1000);
    return outcome;
  };
}
