import http from 'node:http';
import { reportUrl } from '../src/cli/cli';
import { loadConfig } from '../src/config/config';
import { layered, readConfigFile } from '../src/config/config-file';

/**
 * The image's HEALTHCHECK: is the daemon alive (`GET /health`)? Liveness
 * only; whether the node should take conferences is `/signal/health`, which
 * a load balancer or a readinessProbe asks. The address comes from the
 * daemon's own configuration (the environment over CONFIG_FILE), so a port
 * set in a mounted configuration file is the port checked.
 */

const TIMEOUT_MS = 2000;

function fail(message: string): void {
  process.stdout.write(`unhealthy: ${message}\n`);
  process.exitCode = 1;
}

function main(): void {
  const file = readConfigFile(process.env);
  const { config, problems } = loadConfig(layered(process.env, file));
  if (config === undefined || file.problems.length > 0) {
    fail(`bad configuration: ${[...file.problems, ...problems].join('; ')}`);
    return;
  }
  const url = new URL('/health', reportUrl(config)).href;
  const request = http.get(url, { timeout: TIMEOUT_MS }, (response) => {
    response.resume();
    if (response.statusCode === 200) process.stdout.write(`alive: ${url} answered 200\n`);
    else fail(`${url} answered ${response.statusCode ?? 0}`);
  });
  request.on('timeout', () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
  request.on('error', (error: NodeJS.ErrnoException) => fail(`${url}: ${error.code ?? error.message}`));
}

main();
