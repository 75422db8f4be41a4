import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './daemon';
import { run } from './run';

/**
 * Debian root file systems built with debootstrap from the archive this
 * machine's apt already uses, cached between runs. The packaging test boots
 * them under systemd-nspawn; the container suite imports one as the base
 * image that registries would otherwise provide.
 */

const CACHE = '/var/cache/signal-sidecar-test';
const BUILD_LIMIT_MS = 10 * 60_000;

export interface RootSpec {
  /** A Debian code name: bookworm, trixie. */
  readonly release: string;
  /** Packages added to the minbase variant. */
  readonly include: readonly string[];
  /** Names the cached tree, so trees for different uses do not mix. */
  readonly purpose: string;
}

export function hostCodename(): string | undefined {
  const release = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return /^VERSION_CODENAME=(\S+)$/m.exec(release)?.[1];
}

/**
 * The Debian archive this machine's apt uses for its own release's main
 * component; every release is in the same archive. No mirror is named here.
 */
export function debianMirror(): string | undefined {
  const own = hostCodename();
  if (own === undefined) return undefined;
  const dir = '/etc/apt/sources.list.d';
  const deb822 = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.sources')) : [];
  for (const name of deb822) {
    for (const stanza of readFileSync(join(dir, name), 'utf8').split(/\n\s*\n/)) {
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (suites.includes(own) && /^Components:.*\bmain\b/m.test(stanza) && uri !== undefined) return uri;
    }
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : '';
  return new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${own}\\s+.*\\bmain\\b`, 'm').exec(list)?.[1];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves with the cached tree, building it first if needed, or with why it
 * cannot. Two runs asking for the same tree at once build it once: the
 * builder holds `<tree>.building` (mkdir is atomic) and the other waits.
 */
export async function debianRoot(spec: RootSpec): Promise<{ root: string } | { problem: string }> {
  const root = join(CACHE, `${spec.purpose}-${spec.release}`);
  const building = `${root}.building`;
  const owner = join(`${root}.owner`);
  const deadline = Date.now() + BUILD_LIMIT_MS;
  mkdirSync(CACHE, { recursive: true });
  for (;;) {
    if (existsSync(join(root, '.complete'))) return { root };
    try {
      mkdirSync(owner);
      writeFileSync(join(owner, 'pid'), String(process.pid));
      break;
    } catch {
      const pid = Number(existsSync(join(owner, 'pid')) ? readFileSync(join(owner, 'pid'), 'utf8') : 'NaN');
      if (Number.isInteger(pid) && !alive(pid)) rmSync(owner, { recursive: true, force: true });
      if (Date.now() > deadline) return { problem: `another run has been building ${root} for over ${BUILD_LIMIT_MS / 60_000} minutes` };
      await sleep(1000);
    }
  }
  try {
    if (existsSync(join(root, '.complete'))) return { root };
    const mirror = debianMirror();
    if (mirror === undefined) return { problem: 'no apt source for this machine\'s own release to debootstrap from' };
    rmSync(building, { recursive: true, force: true });
    const include = spec.include.length === 0 ? [] : [`--include=${spec.include.join(',')}`];
    const result = await run('debootstrap', ['--variant=minbase', ...include, spec.release, building, mirror], { timeoutMs: BUILD_LIMIT_MS - 60_000 });
    if (result.code !== 0) {
      rmSync(building, { recursive: true, force: true });
      return { problem: `debootstrap ${spec.release} failed (${result.code}): ${(result.stdout + result.stderr).trim().split('\n').slice(-2).join(' ')}` };
    }
    writeFileSync(join(building, '.complete'), '');
    rmSync(root, { recursive: true, force: true });
    renameSync(building, root);
    return { root };
  } finally {
    rmSync(owner, { recursive: true, force: true });
  }
}
