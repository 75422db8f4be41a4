import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../runtime/logger';

export type Component = 'jicofo' | 'prosody';

export type Spawn = (command: string, options: { detached: true; stdio: 'ignore'; shell: false }) => ChildProcess;

const realSpawn: Spawn = (command, options) => spawn(command, [], options);

/**
 * Runs JICOFO_DUMP / PROSODY_DUMP when a component goes unhealthy: detached,
 * without a shell (nothing from the environment or from upstream replies can
 * become a command), and never twice at once for the same component.
 */
export function createDumpRunner(logger: Logger, spawnScript: Spawn = realSpawn) {
  const running = new Map<Component, ChildProcess>();
  return (component: Component, script: string): void => {
    if (running.has(component)) {
      logger.info('dump script still running, not started again', { component, script });
      return;
    }
    let child: ChildProcess;
    try {
      child = spawnScript(script, { detached: true, stdio: 'ignore', shell: false });
    } catch (error) {
      logger.error('dump script could not be started', { component, script, error: String(error) });
      return;
    }
    running.set(component, child);
    child.once('error', (error) => {
      running.delete(component);
      logger.error('dump script could not be started', { component, script, error: error.message });
    });
    child.once('exit', (code, signal) => {
      running.delete(component);
      logger.info('dump script finished', { component, script, code, signal });
    });
    child.once('spawn', () => logger.warn('dump script started', { component, script, pid: child.pid }));
    child.unref();
  };
}
