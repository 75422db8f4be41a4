import { runCli } from './cli/cli';
import { loadConfig, loggable, type Environment } from './config/config';
import { layered, readConfigFile, type ConfigFile } from './config/config-file';
import { fullCollection, startIdleTrim } from './runtime/idle-trim';
import { createLogSink } from './runtime/log-sink';
import { createLogger, type Logger } from './runtime/logger';
import { holdYoungGeneration } from './runtime/young-generation';
import { createReloader } from './react/reload';
import { createSidecar, type Sidecar } from './sidecar';
import { consulFileProblems } from './consul/credentials';

/** sysexits EX_CONFIG: systemd units can stop restarting on it. */
const EXIT_CONFIG = 78;
/** SIGTERM must end the process within 2 s even if a client holds a request open. */
const SHUTDOWN_LIMIT_MS = 1500;

/** `signal-sidecar <command>`: the operator's command line (src/cli/). */
function runCommand(args: readonly string[], env: Environment, file: ConfigFile): void {
  // A reader that stops early (`fleet --json | head`) closes the pipe: the
  // rest of the output is dropped, and the command still ends with its code.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  runCli(args, { env, file, stdout: write(process.stdout), stderr: write(process.stderr), columns: process.stdout.columns }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`signal-sidecar: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * SIGTERM and SIGINT stop it (exit 0 within 2 s), SIGHUP reloads the
 * configuration; an uncaught exception is a bug and ends the process.
 */
function handleSignals(sidecar: Sidecar, logger: Logger, reload: () => void): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info('signal-sidecar stopping', { signal });
    setTimeout(() => {
      logger.warn('shutdown took too long; exiting with requests still open');
      process.exit(0);
    }, SHUTDOWN_LIMIT_MS).unref();
    sidecar.stop().then(
      () => {
        logger.info('signal-sidecar stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('error while stopping', { error: String(error) });
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGHUP', () => {
    if (stopping) return;
    try {
      reload();
    } catch (error) {
      // A bug, not input; a reload signal must not take the daemon down with it.
      logger.error('configuration reload failed', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  });
  process.on('uncaughtException', (error) => {
    // A bug, not input: exit and let systemd restart us. HAProxy keeps the
    // agent's last verdict while we are away.
    logger.error('uncaught exception', { error: error.stack ?? String(error) });
    process.exit(1);
  });
}

function main(): void {
  // Kept as it was at start: a reload layers the file under this same environment.
  const startEnv = { ...process.env };
  const file = readConfigFile(startEnv);
  const env = layered(startEnv, file);
  // Arguments make it the operator's command; none, the daemon.
  const args = process.argv.slice(2);
  if (args.length > 0) {
    runCommand(args, env, file);
    return;
  }
  const { config, problems, warnings } = loadConfig(env);
  const fileProblems = config === undefined ? [] : consulFileProblems(config);
  if (config === undefined || file.problems.length > 0 || fileProblems.length > 0) {
    for (const problem of [...file.problems, ...problems, ...fileProblems]) process.stderr.write(`signal-sidecar: bad configuration: ${problem}\n`);
    process.exit(EXIT_CONFIG);
  }

  // A log reader that goes away must not take the daemon with it.
  const sink = createLogSink([process.stdout, process.stderr]);
  const logger = createLogger(config.logLevel, sink.stream);
  for (const warning of [...file.warnings, ...warnings]) logger.warn(warning);
  logger.info('signal-sidecar starting', { config: loggable(config) });

  // Memory stays within the same bounds however node was started (flags or none).
  holdYoungGeneration();
  const sidecar = createSidecar(config, { logger, droppedLogLines: sink.dropped });
  const reload = createReloader({
    startEnv,
    startFile: file,
    logger,
    running: () => sidecar.config,
    apply: (next) => sidecar.reconfigure(next),
    reloaded: (applied, seconds) => sidecar.metrics.configReloaded(applied, seconds),
  });
  handleSignals(sidecar, logger, reload);

  // Found at the first collection, not at start: the context it may come from takes 2 ms to make.
  let collect: NodeJS.GCFunction | undefined;
  sidecar.start().then(
    () => startIdleTrim(() => void (collect ??= fullCollection())(), logger),
    (error: unknown) => {
      logger.error('cannot start', { error: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    },
  );
}

main();
