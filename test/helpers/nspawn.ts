import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run';

/**
 * A minimal Debian root file system that boots systemd under systemd-nspawn,
 * so a test can start a unit under a real service manager on a machine whose
 * PID 1 is not systemd. The tree is built once with debootstrap and cached.
 */

const CACHE = '/var/cache/signal-sidecar-test';
/** What the unit and the checks need: systemd itself, its shared libraries for node, curl. */
const INCLUDE = 'systemd,systemd-sysv,dbus,adduser,libstdc++6,ca-certificates,curl';

export function codename(): string | undefined {
  const release = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return /^VERSION_CODENAME=(\S+)$/m.exec(release)?.[1];
}

/** The archive this machine's apt already uses for its own release, so no mirror is named here. */
export function debianMirror(release: string): string | undefined {
  const dir = '/etc/apt/sources.list.d';
  const deb822 = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.sources')) : [];
  for (const name of deb822) {
    for (const stanza of readFileSync(join(dir, name), 'utf8').split(/\n\s*\n/)) {
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (suites.includes(release) && /^Components:.*\bmain\b/m.test(stanza) && uri !== undefined) return uri;
    }
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : '';
  return new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${release}\\s+.*\\bmain\\b`, 'm').exec(list)?.[1];
}

/** Resolves with the cached root file system, building it first if needed, or with why it cannot. */
export async function bootableRoot(): Promise<{ root: string } | { problem: string }> {
  const release = codename();
  if (release === undefined) return { problem: 'no VERSION_CODENAME in /etc/os-release' };
  const root = join(CACHE, `rootfs-${release}`);
  if (existsSync(join(root, '.complete'))) return { root };
  const mirror = debianMirror(release);
  if (mirror === undefined) return { problem: `no apt source for ${release} main to debootstrap from` };
  const building = `${root}.building`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  const result = await run('debootstrap', ['--variant=minbase', `--include=${INCLUDE}`, release, building, mirror], { timeoutMs: 8 * 60_000 });
  if (result.code !== 0) {
    rmSync(building, { recursive: true, force: true });
    return { problem: `debootstrap failed (${result.code}): ${(result.stdout + result.stderr).trim().split('\n').slice(-2).join(' ')}` };
  }
  writeFileSync(join(building, '.complete'), '');
  rmSync(root, { recursive: true, force: true });
  renameSync(building, root);
  return { root };
}

/**
 * Boots `root` (a copy the caller owns) until something in it powers it off,
 * sharing the host's network so loopback servers of the test are reachable.
 * --register=no and --keep-unit: there is no systemd on the host to register
 * the container with or to create a scope for it.
 */
export function boot(root: string, timeoutMs: number): ReturnType<typeof run> {
  return run('systemd-nspawn', ['--quiet', '--register=no', '--keep-unit', `--directory=${root}`, '--boot', '--console=pipe'], { timeoutMs });
}
