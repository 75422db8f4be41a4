import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { debianRoot } from './rootfs';
import { run } from './run';

/**
 * A minimal Debian root file system that boots systemd under systemd-nspawn,
 * so a test can start a unit under a real service manager on a machine whose
 * PID 1 is not systemd. The tree is built once per release with debootstrap
 * and cached (test/helpers/rootfs.ts); it has no Node.js: what needs one
 * installs the release's own nodejs from the archive.
 */

/** What the unit and the checks need: systemd itself, and curl to ask the daemon. */
const INCLUDE = ['systemd', 'systemd-sysv', 'dbus', 'adduser', 'ca-certificates', 'curl'];

/** Resolves with the cached bootable tree of a Debian release (bookworm, trixie), or with why it cannot. */
export function bootableRoot(release: string): Promise<{ root: string } | { problem: string }> {
  return debianRoot({ release, include: INCLUDE, purpose: 'rootfs' });
}

/** The container shares the host's network: nothing in it may configure networking or the clock. */
const HOST_OWNED = ['systemd-networkd.service', 'systemd-networkd.socket', 'systemd-resolved.service', 'systemd-timesyncd.service'];

/**
 * Boots `root` (a copy the caller owns) until something in it powers it off,
 * sharing the host's network so loopback servers of the test are reachable.
 * --register=no and --keep-unit: there is no systemd on the host to register
 * the container with or to create a scope for it. `readOnly` maps host files
 * to paths in the container (a host program the check runs, say).
 */
export function boot(root: string, timeoutMs: number, readOnly: Readonly<Record<string, string>> = {}): ReturnType<typeof run> {
  const units = join(root, 'etc/systemd/system');
  mkdirSync(units, { recursive: true });
  for (const unit of HOST_OWNED) if (!existsSync(join(units, unit))) symlinkSync('/dev/null', join(units, unit));
  const binds = Object.entries(readOnly).map(([inside, host]) => `--bind-ro=${host}:${inside}`);
  return run('systemd-nspawn', ['--quiet', '--register=no', '--keep-unit', `--directory=${root}`, ...binds, '--boot', '--console=pipe'], { timeoutMs });
}
