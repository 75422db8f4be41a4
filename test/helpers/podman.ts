import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { ROOT, waitFor } from './daemon';
import { debianMirror, debianRoot } from './rootfs';
import { run, runOk, type RunOptions, type RunResult } from './run';
import { ensureTools } from './tools';

/**
 * The real container engine for the container suite: Debian's podman with
 * runc. Two defaults fail in this kind of sandbox (crun with hybrid cgroups,
 * and rlimits without CAP_SYS_RESOURCE), so every call names a
 * containers.conf of the suite's own (../../shared/notes/real-components.md).
 */

const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

/** The Dockerfile's FROM, under the name a pull would give it. */
export const BASE_IMAGE = 'docker.io/library/debian:trixie-slim';
const STAND_IN_LABEL = 'org.signal-sidecar.stand-in';
/** What the stand-in is, as its label and the suite's diagnostics say. */
const STAND_IN = 'debootstrap --variant=minbase trixie with the slim variant\'s excludes and apt settings, imported with podman import';

/**
 * What the official slim image does to its own tree, done to the stand-in:
 * no manuals or translations (now, and for packages installed later), no
 * downloaded packages or apt caches left behind after an install.
 */
const SLIM_FILES: Readonly<Record<string, string>> = {
  'etc/dpkg/dpkg.cfg.d/docker': [
    'path-exclude /usr/share/doc/*',
    'path-include /usr/share/doc/*/copyright',
    'path-exclude /usr/share/man/*',
    'path-exclude /usr/share/groff/*',
    'path-exclude /usr/share/info/*',
    'path-exclude /usr/share/lintian/*',
    'path-exclude /usr/share/locale/*',
    'path-include /usr/share/locale/locale.alias',
    '',
  ].join('\n'),
  'etc/apt/apt.conf.d/docker-clean': [
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'Dir::Cache::pkgcache "";',
    'Dir::Cache::srcpkgcache "";',
    '',
  ].join('\n'),
  'etc/apt/apt.conf.d/docker-no-languages': 'Acquire::Languages "none";\n',
};
const SLIM_EXCLUDED = ['./usr/share/man/*', './usr/share/groff/*', './usr/share/info/*', './usr/share/lintian/*', './usr/share/locale/*'];

const BUILD_LIMIT_MS = 25 * 60_000;

export interface Podman {
  (args: readonly string[], options?: RunOptions): Promise<RunResult>;
  ok(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** The containers.conf every call names, for podman processes started otherwise (its API service). */
  readonly containersConf: string;
  /** Runs `undo` at close(), latest first: how a test's containers, pods and images go away. */
  onClose(undo: () => Promise<unknown>): void;
  /** Removes everything registered with onClose, then the suite's containers.conf. Never throws. */
  close(): Promise<void>;
}

/** Resolves with a podman to call, or with why there is none here (worked out now). */
export async function openPodman(): Promise<Podman | { problem: string }> {
  if (process.platform !== 'linux') return { problem: `not Linux (${process.platform})` };
  const missing = await ensureTools({ podman: 'podman', runc: 'runc' });
  if (missing !== undefined) return { problem: missing };
  const dir = mkdtempSync(join(tmpdir(), 'podman-conf-'));
  writeFileSync(join(dir, 'containers.conf'), CONTAINERS_CONF);
  const env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf') };
  const call = (args: readonly string[], options: RunOptions = {}): Promise<RunResult> => run('podman', args, { env, timeoutMs: 60_000, ...options });
  const undo: (() => Promise<unknown>)[] = [];
  const podman = Object.assign(call, {
    containersConf: env.CONTAINERS_CONF,
    ok: (args: readonly string[], options: RunOptions = {}) => runOk('podman', args, { env, timeoutMs: 60_000, ...options }),
    onClose: (step: () => Promise<unknown>) => void undo.push(step),
    close: async () => {
      for (const step of undo.splice(0).reverse()) await step().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  });
  const info = await call(['info', '--format', '{{.Host.OCIRuntime.Name}}']);
  if (info.code !== 0) {
    await podman.close();
    return { problem: `podman cannot run here: ${(info.stderr || info.stdout).trim().split('\n').slice(-2).join(' ')}` };
  }
  return podman;
}

export interface SuiteEngine {
  /** In `before`: opens podman, or records why there is none; resolves with it, if any. */
  readonly open: () => Promise<Podman | undefined>;
  /** In `after`: removes everything the suite registered. */
  readonly close: () => Promise<void>;
  /** From here on every test skips with this reason. */
  readonly refuse: (reason: string) => void;
  /** podman for a test, or undefined after skipping it with the reason. */
  readonly engine: (t: TestContext) => Podman | undefined;
}

/** One podman for a suite's tests, each of which skips, with the reason, where there is none. */
export function suiteEngine(): SuiteEngine {
  let podman: Podman | undefined;
  let skip: string | undefined;
  return {
    open: async () => {
      const opened = await openPodman();
      if ('problem' in opened) skip = opened.problem;
      else podman = opened;
      return podman;
    },
    close: async () => podman?.close(),
    refuse: (reason) => {
      skip = reason;
    },
    engine: (t) => {
      if (skip === undefined) return podman;
      t.skip(skip);
      return undefined;
    },
  };
}

/** A name no other run on this machine uses: containers, pods, images. */
export function uniqueName(what: string): string {
  return `signal-sidecar-test-${what}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Makes sure BASE_IMAGE exists. No registry is reachable here, so when it is
 * missing a stand-in is made under the same name: Debian 13 from the archive
 * this machine's apt uses, with what the official slim image leaves out left
 * out. It stays, like a pulled base image, for the next build. Resolves with
 * a line for the diagnostics, or with why there can be none.
 */
export async function ensureBaseImage(podman: Podman): Promise<{ note: string } | { problem: string }> {
  const label = await podman(['image', 'inspect', '--format', `{{index .Labels "${STAND_IN_LABEL}"}}`, BASE_IMAGE]);
  if (label.code === 0) {
    const standIn = label.stdout.trim();
    return { note: standIn === '' || standIn === '<no value>' ? `${BASE_IMAGE}: the real image, found locally` : `${BASE_IMAGE}: a local stand-in made earlier (${standIn})` };
  }
  const missing = await ensureTools({ debootstrap: 'debootstrap' });
  if (missing !== undefined) return { problem: missing };
  const tree = await debianRoot({ release: 'trixie', include: [], purpose: 'image-base' });
  if ('problem' in tree) return tree;
  const work = mkdtempSync(join(tmpdir(), 'stand-in-'));
  try {
    // The official image's apt sources (deb822, with updates and security),
    // on this machine's own archive; the cached tree itself is left as it is.
    const mirror = debianMirror() ?? 'http://deb.debian.org/debian';
    const overlay = join(work, 'overlay');
    const added = writeTree(overlay, {
      'etc/apt/sources.list.d/debian.sources':
        `Types: deb\nURIs: ${mirror}\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n` +
        `Types: deb\nURIs: ${mirror.replace(/\/debian\/?$/, '/debian-security')}\nSuites: trixie-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
      ...SLIM_FILES,
    });
    const tarball = join(work, 'rootfs.tar');
    // The overlay's files replace the tree's: a path twice in one layer is refused by podman import.
    const replaced = added.map((path) => `./${path}`);
    const excluded = ['./.complete', './etc/apt/sources.list', './var/lib/apt/lists/*', './var/cache/apt/*', './var/log/*', ...SLIM_EXCLUDED, ...replaced];
    // Of the documentation, only the copyright files stay.
    const docs = await runOk('find', ['./usr/share/doc', '-type', 'f', '!', '-name', 'copyright'], { cwd: tree.root });
    writeFileSync(join(work, 'excluded'), [...excluded, ...docs.stdout.split('\n').filter((line) => line !== '')].join('\n'));
    await runOk('tar', ['-C', tree.root, `--exclude-from=${join(work, 'excluded')}`, '-cf', tarball, '.', '-C', overlay, ...added], { timeoutMs: 5 * 60_000 });
    await podman.ok(
      ['import', '--change', 'CMD ["bash"]', '--change', `LABEL ${STAND_IN_LABEL}="${STAND_IN}"`, '--message', `stand-in for ${BASE_IMAGE}: ${STAND_IN}`, tarball, BASE_IMAGE],
      { timeoutMs: 5 * 60_000 },
    );
    return { note: `${BASE_IMAGE}: no registry here, so a local stand-in was made under that name (${STAND_IN})` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Writes the files under `root` and returns their relative paths (files only, so no directory's mode is replaced). */
function writeTree(root: string, files: Readonly<Record<string, string>>): string[] {
  for (const [path, text] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text, { mode: 0o644 });
  }
  return Object.keys(files);
}

/**
 * Builds the project's Dockerfile as `tag`. --format docker keeps HEALTHCHECK
 * (OCI has no such field); --network=host because build steps reach apt and
 * npm through the host's network; --pull=never because no registry answers.
 * Resolves with the build's duration.
 */
export async function buildImage(podman: Podman, tag: string): Promise<number> {
  const started = Date.now();
  // The layers stay as podman's build cache, as after any build; the tag goes.
  podman.onClose(() => podman(['rmi', '--no-prune', '--force', tag]));
  await podman.ok(['build', '--format', 'docker', '--network=host', '--pull=never', ...hostTrust(), '--tag', tag, '--file', join(ROOT, 'Dockerfile'), ROOT], {
    timeoutMs: BUILD_LIMIT_MS,
  });
  return Date.now() - started;
}

/**
 * The build's npm trusts what this machine's Node and npm trust: where the
 * host reaches the registry through a TLS-inspecting proxy, the CA bundle it
 * names (NODE_EXTRA_CA_CERTS, or npm's cafile, which npm run passes to its
 * scripts) is mounted for the build, never copied into the image.
 */
export function hostTrust(): string[] {
  const bundle = [process.env.NODE_EXTRA_CA_CERTS, process.env.npm_config_cafile].find((path) => path !== undefined && path !== '' && existsSync(path));
  if (bundle === undefined) return [];
  return ['--volume', `${bundle}:/run/host-ca-bundle.crt:ro`, '--build-arg', 'NODE_EXTRA_CA_CERTS=/run/host-ca-bundle.crt'];
}

/** The image's size in bytes, as `podman images` counts it (every layer, the base included). */
export async function imageSize(podman: Podman, image: string): Promise<number> {
  return Number((await podman.ok(['image', 'inspect', '--format', '{{.Size}}', image])).stdout.trim());
}

export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export interface ContainerOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** `-v` arguments: `HOST:CONTAINER[:ro]`, or `VOLUME:CONTAINER`. */
  readonly mounts?: readonly string[];
  /** More `podman run` options, before the image. */
  readonly options?: readonly string[];
}

/**
 * Starts the image detached as an operator would run it beside a signal
 * node: host network (the fake node is on loopback), read-only root. The
 * container is removed at close().
 */
export async function startContainer(podman: Podman, name: string, image: string, options: ContainerOptions = {}): Promise<void> {
  podman.onClose(() => podman(['rm', '--force', '--time', '0', name]));
  const env = Object.entries(options.env ?? {}).flatMap(([variable, value]) => ['--env', `${variable}=${value}`]);
  const mounts = (options.mounts ?? []).flatMap((mount) => ['--volume', mount]);
  await podman.ok(['run', '--detach', '--name', name, '--network=host', '--read-only', ...env, ...mounts, ...(options.options ?? []), image]);
}

/**
 * Runs the container's health check by hand until it passes (podman runs it
 * periodically only through systemd timers, which this machine may lack) and
 * resolves with how long that took.
 */
export async function untilContainerHealthy(podman: Podman, name: string, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  await waitFor(`${name}'s health check to pass`, async () => ((await podman(['healthcheck', 'run', name])).code === 0 ? true : undefined), timeoutMs, 200);
  return Date.now() - started;
}

export interface ContainerLogs {
  /** What the container wrote on stdout. */
  readonly text: string;
  /** Its JSON lines, parsed. */
  readonly stdout: Record<string, unknown>[];
  readonly stderr: string;
}

export async function containerLogs(podman: Podman, name: string): Promise<ContainerLogs> {
  const { stdout, stderr } = await podman.ok(['logs', name]);
  const json = stdout.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  return { text: stdout, stdout: json, stderr };
}
