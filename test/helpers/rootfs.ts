import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './daemon';
import { run } from './run';
import { which } from './tools';

/**
 * Debian root file systems built with debootstrap from the archive this
 * machine's apt already uses, cached between runs. The packaging test boots
 * them under systemd-nspawn; the container suite imports one as the base
 * image that registries would otherwise provide.
 */

const CACHE = '/var/cache/signal-sidecar-test';
const BUILD_LIMIT_MS = 10 * 60_000;
/** Raise it when the way a tree is built changes: a cached tree of an older recipe is built again. */
const RECIPE = 2;

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

/** Every apt source of this machine as (suite, URI) pairs, for the main component. */
function hostSources(): { suite: string; uri: string }[] {
  const found: { suite: string; uri: string }[] = [];
  const dir = '/etc/apt/sources.list.d';
  const deb822 = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.sources')) : [];
  for (const name of deb822) {
    for (const stanza of readFileSync(join(dir, name), 'utf8').split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri === undefined || !/^Components:.*\bmain\b/m.test(stanza)) continue;
      for (const suite of /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? []) found.push({ suite, uri });
    }
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : '';
  for (const line of list.matchAll(/^deb[ \t]+(?:\[[^\]\n]*\][ \t]+)?(\S+)[ \t]+(\S+)[ \t].*\bmain\b/gm)) {
    found.push({ uri: line[1] ?? '', suite: line[2] ?? '' });
  }
  return found;
}

export interface Archives {
  /** The release itself and its -updates suite. */
  readonly main: string;
  /** The -security suite. */
  readonly security: string;
}

/**
 * The Debian archives this machine's apt uses for its own release; every
 * release is in the same archives. No mirror is named here: the security
 * archive, when this machine has none configured, is the one beside main
 * (".../debian" and ".../debian-security", as deb.debian.org lays them out).
 */
export function debianArchives(): Archives | undefined {
  const own = hostCodename();
  if (own === undefined) return undefined;
  const sources = hostSources();
  const main = sources.find((source) => source.suite === own)?.uri;
  if (main === undefined) return undefined;
  const security = sources.find((source) => source.suite === `${own}-security`)?.uri ?? `${main.replace(/\/+$/, '')}-security`;
  return { main, security };
}

/** The archive the release itself comes from. */
export const debianMirror = (): string | undefined => debianArchives()?.main;

/**
 * What a stock install of `release` has in its apt sources (the Debian
 * installer and the official images write these three suites): the release,
 * its stable updates and its security updates, main only.
 */
export function stockSources(release: string, archives: Archives): string {
  const stanza = (uri: string, suites: string): string =>
    `Types: deb\nURIs: ${uri}\nSuites: ${suites}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
  return `${stanza(archives.main, `${release} ${release}-updates`)}\n${stanza(archives.security, `${release}-security`)}`;
}

/**
 * The command line that runs `argv` inside `root` as a chroot, with /proc
 * mounted in a mount namespace of its own (the mount goes away with the
 * process, nothing to unmount). Without a PID namespace the process is the
 * caller's child: its signals, exit code and environment pass straight through.
 */
export function inTree(root: string, argv: readonly string[]): string[] {
  // By absolute path: the caller's PATH is the one meant for the tree, and may lack sbin.
  const host = (command: string): string => which(command) ?? command;
  return [host('unshare'), '--mount', '--propagation', 'private', 'sh', '-c', `${host('mount')} -t proc proc "$0/proc" && exec ${host('chroot')} "$0" "$@"`, root, ...argv];
}

/** Runs `argv` inside `root` (see inTree) with apt's non-interactive environment. */
export function runInTree(root: string, argv: readonly string[], timeoutMs = 5 * 60_000): ReturnType<typeof run> {
  const [command = '', ...args] = inTree(root, argv);
  return run(command, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C.UTF-8' }, timeoutMs });
}

/**
 * The tree's apt as a stock install has it: the three suites of
 * stockSources (a user of the tree runs `apt-get update` when it wants their
 * lists), and none of debootstrap's downloads, which would only make every
 * copy of the tree larger.
 */
function configureApt(tree: string, release: string, archives: Archives): void {
  rmSync(join(tree, 'etc/apt/sources.list'), { force: true });
  mkdirSync(join(tree, 'etc/apt/sources.list.d'), { recursive: true });
  writeFileSync(join(tree, 'etc/apt/sources.list.d/debian.sources'), stockSources(release, archives));
  const downloads = join(tree, 'var/cache/apt/archives');
  for (const name of existsSync(downloads) ? readdirSync(downloads) : []) {
    if (name.endsWith('.deb')) rmSync(join(downloads, name));
  }
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
  // What the tree was built from: a tree built for another include list or recipe is built again.
  const stamp = JSON.stringify({ recipe: RECIPE, release: spec.release, include: [...spec.include].sort() });
  const complete = (): boolean => existsSync(join(root, '.complete')) && readFileSync(join(root, '.complete'), 'utf8') === stamp;
  mkdirSync(CACHE, { recursive: true });
  for (;;) {
    if (complete()) return { root };
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
    if (complete()) return { root };
    const archives = debianArchives();
    if (archives === undefined) return { problem: 'no apt source for this machine\'s own release to debootstrap from' };
    rmSync(building, { recursive: true, force: true });
    const include = spec.include.length === 0 ? [] : [`--include=${spec.include.join(',')}`];
    const result = await run('debootstrap', ['--variant=minbase', ...include, spec.release, building, archives.main], { timeoutMs: BUILD_LIMIT_MS - 60_000 });
    if (result.code !== 0) {
      rmSync(building, { recursive: true, force: true });
      return { problem: `debootstrap ${spec.release} failed (${result.code}): ${(result.stdout + result.stderr).trim().split('\n').slice(-2).join(' ')}` };
    }
    configureApt(building, spec.release, archives);
    writeFileSync(join(building, '.complete'), stamp);
    rmSync(root, { recursive: true, force: true });
    renameSync(building, root);
    return { root };
  } finally {
    rmSync(owner, { recursive: true, force: true });
  }
}
