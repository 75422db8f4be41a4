import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ROOT } from './daemon';
import { run } from './run';

/** Also the sbin directories: a non-root PATH may lack them, and dpkg tools live there. */
const SEARCH = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The absolute path of a program on PATH (or in sbin), or undefined. */
export function which(command: string): string | undefined {
  for (const dir of SEARCH) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Makes sure every command exists, installing its Debian package with
 * scripts/install-test-tools.sh when it does not. Resolves with undefined when
 * all are there, else with the reason to skip, worked out on this machine.
 */
export async function ensureTools(packageOf: Readonly<Record<string, string>>): Promise<string | undefined> {
  const missing = Object.keys(packageOf).filter((command) => which(command) === undefined);
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((command) => packageOf[command]))];
  const installed = await run(join(ROOT, 'scripts', 'install-test-tools.sh'), packages, { timeoutMs: 9 * 60_000 });
  const still = missing.filter((command) => which(command) === undefined);
  if (still.length === 0) return undefined;
  const why = installed.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${installed.code}`;
  return `${still.join(', ')} not found and could not be installed (${packages.join(' ')}): ${why}`;
}
