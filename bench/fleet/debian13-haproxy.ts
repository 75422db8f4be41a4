import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootableRoot } from '../../test/helpers/nspawn';
import { runInTree } from '../../test/helpers/rootfs';
import { run } from '../../test/helpers/run';

/**
 * Debian 13's own HAProxy (3.0) for `--mixed-versions`: a copy of the Debian
 * 13 tree the packaging test builds, with `haproxy` installed from the
 * archive, cached beside it. HAProxy runs in it by chroot with the host's
 * network (test/e2e/components.ts), beside the host's Debian 12 HAProxy 2.6.
 */

const TREE = '/var/cache/signal-sidecar-test/haproxy-trixie';
const STAMP = join(TREE, '.haproxy');

/** Resolves with the tree and its `haproxy -v`, or with why it cannot. */
export async function debian13Haproxy(): Promise<{ root: string; version: string } | { problem: string }> {
  if (existsSync(STAMP)) return { root: TREE, version: readFileSync(STAMP, 'utf8') };
  const base = await bootableRoot('trixie');
  if ('problem' in base) return base;
  const building = `${TREE}.building`;
  rmSync(building, { recursive: true, force: true });
  // cp -a: the tree has device nodes, which Node's own copy refuses.
  const copy = await run('cp', ['-a', base.root, building], { timeoutMs: 5 * 60_000 });
  if (copy.code !== 0) return { problem: `copying the Debian 13 tree failed: ${copy.stderr.trim()}` };
  cpSync('/etc/resolv.conf', join(building, 'etc/resolv.conf'));
  const install = await runInTree(building, ['sh', '-c', 'apt-get update -qq && apt-get install -y -qq --no-install-recommends haproxy'], 10 * 60_000);
  if (install.code !== 0) return { problem: `installing haproxy in the Debian 13 tree failed (${install.code}): ${install.stderr.trim().split('\n').slice(-2).join(' ')}` };
  const version = await runInTree(building, ['haproxy', '-v']);
  const line = version.stdout.split('\n')[0] ?? '';
  if (!line.startsWith('HAProxy version')) return { problem: `haproxy -v in the Debian 13 tree said: ${version.stdout}${version.stderr}` };
  writeFileSync(join(building, '.haproxy'), line);
  rmSync(TREE, { recursive: true, force: true });
  renameSync(building, TREE);
  return { root: TREE, version: line };
}
