import { debianRoot, hostCodename } from './rootfs';
import { run } from './run';

/**
 * A minimal Debian root file system that boots systemd under systemd-nspawn,
 * so a test can start a unit under a real service manager on a machine whose
 * PID 1 is not systemd. The tree is built once with debootstrap and cached
 * (test/helpers/rootfs.ts).
 */

/** What the unit and the checks need: systemd itself, its shared libraries for node, curl. */
const INCLUDE = ['systemd', 'systemd-sysv', 'dbus', 'adduser', 'libstdc++6', 'ca-certificates', 'curl'];

/** Resolves with the cached bootable tree of this machine's own release, or with why it cannot. */
export async function bootableRoot(): Promise<{ root: string } | { problem: string }> {
  const release = hostCodename();
  if (release === undefined) return { problem: 'no VERSION_CODENAME in /etc/os-release' };
  return debianRoot({ release, include: INCLUDE, purpose: 'rootfs' });
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
