import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { ConsulAgent, consulBinary } from '../helpers/consul';
import { agentAnswer, freePort, get, QUICK, report, ROOT, shippedLaunch, sleep, startDaemon, waitFor, type Daemon } from '../helpers/daemon';
import { run, runOk } from '../helpers/run';
import { boot, bootableRoot } from '../helpers/nspawn';
import { Receiver } from '../helpers/receiver';
import { inTree, runInTree } from '../helpers/rootfs';
import { ensureTools, which } from '../helpers/tools';

/**
 * Builds the Debian package the way the README says. Then, in a fresh Debian
 * 12 and a fresh Debian 13 tree, installs it with apt, which pulls the
 * release's own nodejs from the archive, runs the installed daemon on that
 * Node, and boots the tree under systemd to start, drain, ready, stop and
 * purge the unit. (Ubuntu 24.04, Node 18.19, cannot be tried here: no Ubuntu
 * archive is reachable from this machine.) Last it installs the package on
 * this machine with dpkg, runs the installed daemon and command, then removes
 * and purges it. That changes the machine (a user, /etc/jitsi, /usr/share),
 * so the test runs only as root, and only when no signal-sidecar package of
 * someone else's is installed; everything it adds it takes away again.
 */

const PACKAGE = 'signal-sidecar';
const APP_DIR = '/usr/share/signal-sidecar';
const CONFIG = '/etc/jitsi/signal-sidecar/config';
const STATUS_FILE = '/etc/jitsi/shard-status';
/** The service's state directory (StateDirectory=), the one place the hardened unit lets it write. */
const STATE_DIR = '/var/lib/signal-sidecar';
/** Where the status word lives: STATUS_FILE links to it, so the daemon can keep a Consul word there. */
const STATE_FILE = `${STATE_DIR}/shard-status`;
const UNIT = '/lib/systemd/system/signal-sidecar.service';
const WRAPPER = '/usr/bin/signal-sidecar';
/** Everything the package adds, each of which purge must take away again (the jitsi group stays). */
const PURGED = [APP_DIR, WRAPPER, UNIT, '/etc/jitsi/signal-sidecar', '/etc/jitsi', STATE_DIR, STATUS_FILE, '/etc/systemd/system/multi-user.target.wants/signal-sidecar.service'];
/** Written after our own install, so a run that died half-way may clean up after itself next time. */
const TEST_MARK = '/var/lib/signal-sidecar/installed-by-packaging-test';
/**
 * Worktrees on one machine share its dpkg database: two runs at once would
 * fight over the dpkg lock and purge each other's install. The lock is a
 * directory (mkdir is atomic) holding the owner's PID, so a dead owner's lock
 * is taken over.
 */
const LOCK = '/run/lock/signal-sidecar-packaging-test';
const LOCK_WAIT_MS = 5 * 60_000;

function lockOwner(): number | undefined {
  try {
    const pid = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Resolves with undefined once this process holds the lock, or with why it could not. */
async function takeLock(): Promise<string | undefined> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot create ${LOCK}: ${String(error)}`;
    }
    const owner = lockOwner();
    const info = statSync(LOCK, { throwIfNoEntry: false });
    if (info === undefined) continue;
    // No live owner: it died, or is between mkdir and writing its PID (give it a moment).
    if (owner === undefined && Date.now() - info.mtimeMs > 2000) {
      rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) return `another run of this test (pid ${owner ?? '?'}) has held ${LOCK} for over ${LOCK_WAIT_MS / 60_000} minutes`;
    await sleep(1000);
  }
}

const TOOLS = {
  'dpkg-buildpackage': 'dpkg-dev',
  dh: 'debhelper',
  fakeroot: 'fakeroot',
  lintian: 'lintian',
  'systemd-analyze': 'systemd',
  setpriv: 'util-linux',
};

/** A Debian release the package is tried on, and the major version of the nodejs in its archive. */
interface Release {
  readonly codename: string;
  readonly debian: number;
  readonly nodeMajor: number;
}

const RELEASES: readonly Release[] = [
  { codename: 'bookworm', debian: 12, nodeMajor: 18 },
  { codename: 'trixie', debian: 13, nodeMajor: 20 },
];

/** What the host knows of a tree once the package is installed in it. */
interface Installed {
  readonly release: Release;
  readonly root: string;
  /** `node --version` in the tree. */
  readonly node: string;
  /** The signal-sidecar user's uid in the tree. */
  readonly uid: string;
  /** `dpkg-query -W nodejs`'s version. */
  readonly nodejs: string;
}

/**
 * One step of the check that runs in the booted tree: `script` is shell, run
 * as root with `$PORT` (the daemon's HTTP port), `$AGENT` (its agent's port),
 * `$CONSUL` (the HTTP port of the test's Consul on the host's loopback, which
 * the container shares), `$KEY` (the status key), `report` (its
 * /signal/report), `agent` (the agent's line), `until_agent WORD` (waits for
 * the agent to say WORD, and says after how long), `until_file WORD` (the
 * same for the status file) and Consul's own `consul` command at hand; its
 * output is the step's section, which `check` asserts on. The steps run in
 * this order, each on what the ones before left.
 */
interface BootStep {
  readonly name: string;
  readonly script: string;
  readonly check: (section: string, tree: Installed) => void;
}

const BOOT_STEPS: readonly BootStep[] = [
  {
    name: 'node',
    // The binary the unit really runs, and the package it comes from.
    script: `exe=$(readlink -f /proc/$(systemctl show signal-sidecar -p MainPID --value)/exe)
dpkg-query -S "$exe"
dpkg-query -W -f '\${Version}\\n' nodejs
"$exe" --version`,
    check: (section, tree) => {
      assert.match(section, /^nodejs(:amd64)?: \/usr\/bin\/node(js)?$/m, 'the running node is the nodejs package\'s');
      assert.ok(section.split('\n').includes(tree.nodejs), `the running node is the installed ${tree.nodejs}`);
      assert.match(section, new RegExp(`^v${tree.release.nodeMajor}\\.`, 'm'));
    },
  },
  {
    name: 'show',
    script: 'systemctl show signal-sidecar -p ActiveState -p SubState -p NRestarts',
    check: (section) => {
      assert.match(section, /^ActiveState=active$/m);
      assert.match(section, /^SubState=running$/m);
      assert.match(section, /^NRestarts=0$/m);
    },
  },
  {
    name: 'proc',
    script: 'grep -E \'^(Uid|Gid|NoNewPrivs|Seccomp):\' /proc/$(systemctl show signal-sidecar -p MainPID --value)/status',
    check: (section, tree) => {
      assert.match(section, new RegExp(`^Uid:\\s+${tree.uid}\\s`, 'm'), 'runs as signal-sidecar');
      assert.match(section, /^NoNewPrivs:\s+1$/m);
      assert.match(section, /^Seccomp:\s+2$/m, 'the system call filter is on');
    },
  },
  {
    name: 'report',
    script: 'report',
    check: (section) => {
      const first = JSON.parse(section) as { healthy?: boolean; status?: string; agentmessage?: string };
      assert.deepEqual({ healthy: first.healthy, status: first.status, agentmessage: first.agentmessage }, { healthy: true, status: 'drain', agentmessage: 'up drain 0%' }, 'a new node starts drained');
    },
  },
  {
    name: 'link',
    // As the package left it, and as systemd made the state directory at the start.
    script: `stat -c '%N' ${STATUS_FILE}
stat -c '%n %U:%G %a' ${STATE_DIR} ${STATE_FILE}`,
    check: (section) => {
      assert.ok(section.split('\n').includes(`'${STATUS_FILE}' -> '${STATE_FILE}'`), 'the status file links into the state directory');
      assert.match(section, new RegExp(`^${STATE_DIR} signal-sidecar:jitsi 755$`, 'm'));
      assert.match(section, new RegExp(`^${STATE_FILE} signal-sidecar:jitsi 644$`, 'm'), 'readable by all, the service\'s to replace');
    },
  },
  {
    name: 'ready',
    script: `signal-sidecar ready; echo "exit=$?"; cat ${STATUS_FILE}
[ -L ${STATUS_FILE} ] && echo still-a-link
stat -c 'state file %U:%G %a' ${STATE_FILE}`,
    check: (section) => {
      assert.match(section, /^status: +ready$/m);
      assert.match(section, /^agent says: +up ready 100%$/m);
      assert.match(section, /^exit=0$/m);
      assert.match(section, /^ready$/m, 'the status file says ready');
      assert.match(section, /^still-a-link$/m, 'the command writes through the link');
      assert.match(section, /^state file signal-sidecar:jitsi 644$/m, 'root\'s write keeps the owner and the mode');
    },
  },
  {
    name: 'drain',
    script: 'signal-sidecar drain; echo "exit=$?"; report',
    check: (section) => {
      assert.match(section, /^status: +drain$/m);
      assert.match(section, /^exit=0$/m);
      assert.match(section, /"agentmessage":"up drain 0%"/);
    },
  },
  {
    name: 'security',
    script: 'systemd-analyze security --no-pager signal-sidecar | tail -n 1',
    check: (section) => {
      const score = /Overall exposure level for signal-sidecar\.service: ([\d.]+)/.exec(section)?.[1];
      assert.ok(score !== undefined, 'a score');
      // 1.2 before the state directory: writing the Consul word costs no exposure.
      assert.ok(Number(score) <= 1.2, `exposure ${score} is no worse than 1.2`);
    },
  },
  {
    name: 'reload',
    // A reload is a SIGHUP to the same process: the file is read again, nothing restarts.
    script: `pid=$(systemctl show signal-sidecar -p MainPID --value)
echo PARTICIPANT_MAX=4000 >> ${CONFIG}
systemctl reload signal-sidecar; echo "exit=$?"
sleep 1
journalctl -u signal-sidecar -o cat --no-pager | grep 'configuration reloaded'
[ "$(systemctl show signal-sidecar -p MainPID --value)" = "$pid" ] && echo same-process`,
    check: (section) => {
      assert.match(section, /^exit=0$/m, 'systemctl reload');
      assert.match(section, /configuration reloaded: PARTICIPANT_MAX 5000 → 4000/);
      assert.match(section, /^same-process$/m, 'a reload is no restart');
    },
  },
  {
    name: 'consul',
    // Polls a minute apart from here on: a word that shows sooner came through a watch.
    script: `consul kv put -http-addr=127.0.0.1:$CONSUL "$KEY" ready
printf 'CONSUL_STATUS=true\\nCONSUL_HOST=127.0.0.1\\nCONSUL_PORT=%s\\nCONSUL_STATUS_KEY=%s\\nPOLLING_INTERVAL=60\\n' "$CONSUL" "$KEY" >> ${CONFIG}
systemctl reload signal-sidecar; echo "reload=$?"
until_agent ready
consul kv put -http-addr=127.0.0.1:$CONSUL "$KEY" drain
until_agent drain
until_file drain
[ -L ${STATUS_FILE} ] && echo still-a-link
stat -c 'state file %U:%G %a' ${STATE_FILE}
echo "read by nobody: $(setpriv --reuid=65534 --regid=65534 --clear-groups cat ${STATUS_FILE})"
echo "in the state directory: $(ls -A ${STATE_DIR} | tr '\\n' ' ')"
report | grep -o '"statusSource":"[a-z]*"'
echo maint > ${STATUS_FILE}
until_agent maint
echo "not kept: $(journalctl -u signal-sidecar -o cat --no-pager | grep -c 'cannot write the Consul status word')"`,
    check: (section) => {
      assert.match(section, /^reload=0$/m);
      assert.match(section, /^agent says up ready 100% after \d+ ms$/m, 'the word in Consul wins once the watch opens');
      assert.match(section, /^agent says up drain 0% after \d+ ms$/m, 'consul kv put reaches the agent line');
      assert.match(section, /^status file says drain after \d+ ms$/m, 'and the status file, through the link');
      assert.match(section, /^still-a-link$/m);
      assert.match(section, /^state file signal-sidecar:jitsi 644$/m, 'readable by all under UMask=0077');
      assert.match(section, /^read by nobody: drain$/m);
      assert.match(section, /^in the state directory: created-shard-status shard-status $/m, 'no temporary file left behind');
      assert.match(section, /^"statusSource":"consul"$/m);
      assert.match(section, /^agent says up maint 0% after \d+ ms$/m, 'an operator\'s write through the link is seen by the watch, not a poll a minute later');
      assert.match(section, /^not kept: 0$/m);
    },
  },
  {
    name: 'unwritable',
    // An operator's own file in place of the link: /etc stays read-only to the service.
    // (Each put changes the word: Consul 1.8.7 ignores a put of the value it holds, no new index.)
    script: `printf 'ready\\n' > /etc/jitsi/.shard-status.new
mv -T /etc/jitsi/.shard-status.new ${STATUS_FILE}
until_agent ready
consul kv put -http-addr=127.0.0.1:$CONSUL "$KEY" maint
until_agent maint
consul kv put -http-addr=127.0.0.1:$CONSUL "$KEY" drain
until_agent drain
sleep 0.5
echo "file: $(cat ${STATUS_FILE})"
echo "in /etc/jitsi: $(ls -A /etc/jitsi | tr '\\n' ' ')"
echo "not kept: $(journalctl -u signal-sidecar -o cat --no-pager | grep -c 'cannot write the Consul status word')"
systemctl show signal-sidecar -p SubState -p NRestarts
# Converted by hand as README.Debian says: the word goes on being kept.
cp -p ${STATUS_FILE} ${STATE_FILE}
chown signal-sidecar:jitsi ${STATE_FILE}
chmod 0644 ${STATE_FILE}
ln -s ${STATE_FILE} /etc/jitsi/.shard-status.new
mv -T /etc/jitsi/.shard-status.new ${STATUS_FILE}
consul kv put -http-addr=127.0.0.1:$CONSUL "$KEY" maint
until_file maint
echo "kept again: $(journalctl -u signal-sidecar -o cat --no-pager | grep -c 'status file written again')"`,
    check: (section) => {
      assert.match(section, /^agent says up ready 100% after \d+ ms$/m, 'the operator\'s newer file wins');
      assert.match(section, /^agent says up maint 0% after \d+ ms$/m, 'the Consul word applies though it cannot be kept');
      assert.match(section, /^agent says up drain 0% after \d+ ms$/m);
      assert.match(section, /^file: ready$/m, 'the operator\'s file is not written');
      assert.match(section, /^in \/etc\/jitsi: shard-status signal-sidecar $/m, 'no temporary file either');
      assert.match(section, /^not kept: 1$/m, 'one log line for the episode');
      assert.match(section, /^SubState=running$/m);
      assert.match(section, /^NRestarts=0$/m, 'no crash');
      assert.match(section, /^status file says maint after \d+ ms$/m);
      assert.match(section, /^kept again: 1$/m);
    },
  },
  {
    name: 'stop',
    script: 'systemctl stop signal-sidecar; systemctl show signal-sidecar -p Result -p ExecMainStatus',
    check: (section) => {
      assert.match(section, /^Result=success$/m, 'SIGTERM ends it cleanly');
      assert.match(section, /^ExecMainStatus=0$/m);
    },
  },
  {
    name: 'badconfig',
    // RestartSec=2: after 5 s a restart loop would have restarted it twice.
    script: `echo LOG_LEVEL=loud >> ${CONFIG}
systemctl start signal-sidecar
sleep 5
systemctl show signal-sidecar -p ActiveState -p NRestarts -p ExecMainStatus
journalctl -u signal-sidecar -o cat --no-pager | grep 'bad configuration'`,
    check: (section) => {
      assert.match(section, /^ActiveState=failed$/m);
      assert.match(section, /^ExecMainStatus=78$/m);
      assert.match(section, /^NRestarts=0$/m, 'RestartPreventExitStatus=78: no restart loop');
      assert.match(section, /bad configuration: LOG_LEVEL="loud"/);
    },
  },
  {
    name: 'purge',
    script: `apt-get purge -y -q signal-sidecar > /var/log/purge.log 2>&1; echo "purge=$?"
echo "sidecar=$(dpkg-query -W -f '\${db:Status-Abbrev}' signal-sidecar 2>/dev/null)"
systemctl show signal-sidecar -p LoadState
for path in ${PURGED.join(' ')}; do if [ -e "$path" ] || [ -L "$path" ]; then echo "left: $path"; fi; done
getent passwd signal-sidecar && echo 'left: the user'
find / -xdev -nouser -printf 'left: %p, owned by the removed user\\n' 2>/dev/null
getent group jitsi > /dev/null && echo 'jitsi group kept'
echo "nodejs=$(dpkg-query -W -f '\${db:Status-Abbrev}' nodejs)"`,
    check: (section) => {
      assert.match(section, /^purge=0$/m, section);
      assert.doesNotMatch(section, /^sidecar=.i/m, 'signal-sidecar is no longer installed');
      assert.match(section, /^LoadState=not-found$/m, 'systemd no longer knows the unit');
      assert.doesNotMatch(section, /^left: /m, 'purge leaves nothing behind');
      assert.match(section, /^jitsi group kept$/m, 'the shared jitsi group stays');
      assert.match(section, /^nodejs=ii/m, 'nodejs stays installed');
    },
  },
];

/** What the check in the booted tree talks to. */
interface BootSettings {
  readonly httpPort: number;
  readonly agentPort: number;
  readonly consulPort: number;
  readonly key: string;
}

/** Runs inside the booted tree once the service is up; leaves its findings for the host. */
function bootCheck(settings: BootSettings): string {
  return [
    '#!/bin/sh',
    'exec > /boot-check.txt 2>&1',
    `PORT=${settings.httpPort}`,
    `AGENT=${settings.agentPort}`,
    `CONSUL=${settings.consulPort}`,
    `KEY=${settings.key}`,
    'report() { curl -s -m 2 "http://127.0.0.1:$PORT/signal/report"; echo; }',
    // A minimal Debian has no netcat; bash's /dev/tcp reads the agent's line.
    'agent() { bash -c \'exec 3<>"/dev/tcp/127.0.0.1/$0" && cat <&3\' "$AGENT" 2>/dev/null; }',
    // Each waits up to 10 s and says how long it took (for the record: the timed figures are the bench's).
    'since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }',
    'until_agent() { t0=$(date +%s%N); until agent | grep -q " $1 " || [ "$(since "$t0")" -ge 10000 ]; do sleep 0.01; done; echo "agent says $(agent) after $(since "$t0") ms"; }',
    `until_file() { t0=$(date +%s%N); until [ "$(cat ${STATUS_FILE})" = "$1" ] || [ "$(since "$t0")" -ge 10000 ]; do sleep 0.01; done; echo "status file says $(cat ${STATUS_FILE}) after $(since "$t0") ms"; }`,
    // The unit starts at boot; the check begins once its first poll read the status file.
    'i=0',
    `until report | grep -q '"statusFileFound":true' || [ $i -ge 150 ]; do sleep 0.1; i=$((i + 1)); done`,
    ...BOOT_STEPS.map((step) => `echo '[${step.name}]'\n${step.script}`),
    "echo '[end]'",
    'systemctl poweroff',
    '',
  ].join('\n');
}

const BOOT_CHECK_UNIT = `[Unit]
Description=check signal-sidecar, then power off
After=signal-sidecar.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/boot-check

[Install]
WantedBy=multi-user.target
`;

/** "[name]" lines split the check's output into named sections (a section may be empty). */
function parseSections(text: string): Record<string, string> {
  const sections: Record<string, string> = {};
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) {
      current = header[1] ?? '';
      sections[current] = '';
    } else if (current !== undefined) {
      sections[current] += `${line}\n`;
    }
  }
  return sections;
}

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const DPKG_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };

async function installedVersion(): Promise<string | undefined> {
  const result = await run('dpkg-query', ['-W', '-f', '${db:Status-Abbrev} ${Version}', PACKAGE]);
  if (result.code !== 0) return undefined;
  const [state, installed] = result.stdout.trim().split(/\s+/);
  return /^[ir]/.test(state ?? '') ? (installed ?? '') : undefined;
}

async function whyNot(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root: installing a package with dpkg needs root';
  if (which('dpkg') === undefined || which('apt-get') === undefined) return 'not a Debian system (no dpkg/apt-get)';
  const tools = await ensureTools(TOOLS);
  if (tools !== undefined) return tools;
  const locked = await takeLock();
  if (locked !== undefined) return locked;
  if ((await installedVersion()) !== undefined && !existsSync(TEST_MARK)) {
    return 'a signal-sidecar package that this test did not install is on this machine; the test will not replace or purge it';
  }
  return undefined;
}

/** Anything at `path`, a dangling link included. */
const present = (path: string): boolean => lstatSync(path, { throwIfNoEntry: false }) !== undefined;

/**
 * The package as c3b4422 built it, as far as an upgrade from it can tell:
 * this build's files with c3b4422's maintainer scripts
 * (test/fixtures/debian-prelink, given the debhelper additions of this build)
 * and a lower version. Its postinst made /etc/jitsi/shard-status a plain
 * file, and the mark. Built once for both trees.
 */
async function prelinkPackage(work: string, deb: string): Promise<string> {
  const out = join(work, `${PACKAGE}_${version}~prelink_all.deb`);
  if (existsSync(out)) return out;
  const dir = join(work, 'prelink');
  rmSync(dir, { recursive: true, force: true });
  await runOk('dpkg-deb', ['-R', deb, dir]);
  for (const script of ['postinst', 'postrm']) {
    const [head = '', tail = ''] = readFileSync(join(ROOT, 'debian', `${PACKAGE}.${script}`), 'utf8').split('#DEBHELPER#');
    const built = readFileSync(join(dir, 'DEBIAN', script), 'utf8');
    assert.ok(built.startsWith(head) && built.endsWith(tail), `the built ${script} is debian/${PACKAGE}.${script} with debhelper's additions`);
    const added = built.slice(head.length, built.length - tail.length);
    const before = readFileSync(join(ROOT, 'test', 'fixtures', 'debian-prelink', script), 'utf8');
    writeFileSync(join(dir, 'DEBIAN', script), before.replace('#DEBHELPER#', added), { mode: 0o755 });
  }
  const control = join(dir, 'DEBIAN', 'control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${version}~prelink`));
  await runOk('dpkg-deb', ['--root-owner-group', '--build', dir, out], { timeoutMs: 120_000 });
  return out;
}

const userExists = async (name: string): Promise<boolean> => (await run('getent', ['passwd', name])).code === 0;
const groupExists = async (name: string): Promise<boolean> => (await run('getent', ['group', name])).code === 0;

/** The source tree as a fresh checkout has it: no build output, no modules. */
function copySource(to: string): void {
  const skip = new Set(['node_modules', 'dist', '.git']);
  cpSync(ROOT, to, {
    recursive: true,
    filter: (source) => {
      const path = relative(ROOT, source);
      if (path === '') return true;
      const top = path.split('/')[0] ?? '';
      return !skip.has(top) && !path.startsWith('debian/stage') && !path.endsWith('.log');
    },
  });
}

describe('Debian package', { concurrency: false }, () => {
  let skip: string | undefined;
  let work = '';
  let deb = '';
  let statusFileExisted = false;
  let jitsiGroupExisted = false;
  let userExisted = false;
  let node: FakeSignalNode | undefined;
  let daemon: ChildProcess | undefined;
  let httpPort = 0;
  let agentPort = 0;
  let statusPath = STATUS_FILE;
  /** The Debian trees, built (or taken from the cache) while the package builds: on a clean machine that is most of their cost. */
  let trees = new Map<string, Promise<{ root: string } | { problem: string }>>();
  let treeProblem: string | undefined;

  /** Each step needs the previous ones; after a failure the rest say so instead of failing in turn. */
  let broken: string | undefined;
  const step = (name: string, body: (t: TestContext) => Promise<void>): void => {
    it(name, async (t) => {
      if (skip !== undefined) return t.skip(skip);
      if (broken !== undefined) return t.skip(`an earlier step failed: ${broken}`);
      try {
        await body(t);
      } catch (error) {
        broken = name;
        throw error;
      }
    });
  };

  before(async () => {
    skip = await whyNot();
    if (skip !== undefined) return;
    // Left over from a run that died: start from a machine without the package.
    if ((await installedVersion()) !== undefined) await runOk('dpkg', ['--purge', PACKAGE], { env: DPKG_ENV });
    statusFileExisted = present(STATUS_FILE);
    jitsiGroupExisted = await groupExists('jitsi');
    userExisted = await userExists('signal-sidecar');
    work = mkdtempSync(join(tmpdir(), 'sidecar-deb-'));
    treeProblem = await ensureTools({ 'systemd-nspawn': 'systemd-container', debootstrap: 'debootstrap', unshare: 'util-linux' });
    if (treeProblem === undefined) {
      trees = new Map(RELEASES.map((release) => [release.codename, bootableRoot(release.codename).catch((error: unknown) => ({ problem: String(error) }))]));
    }
  });

  after(async () => {
    try {
      daemon?.kill('SIGKILL');
      await node?.stop();
      if (skip !== undefined) return;
      if ((await installedVersion()) !== undefined) await run('dpkg', ['--purge', PACKAGE], { env: DPKG_ENV });
      // Leave the machine as it was: the package keeps the shared jitsi group on purge.
      if (!jitsiGroupExisted && (await groupExists('jitsi'))) await run('groupdel', ['jitsi'], { env: DPKG_ENV });
      if (work !== '') rmSync(work, { recursive: true, force: true });
      if (statusPath !== STATUS_FILE) rmSync(dirname(statusPath), { recursive: true, force: true });
    } finally {
      if (lockOwner() === process.pid) rmSync(LOCK, { recursive: true, force: true });
    }
  });

  step('builds with dpkg-buildpackage -A -rfakeroot -us -uc', async (t) => {
    const source = join(work, 'src');
    copySource(source);
    const started = Date.now();
    await runOk('dpkg-buildpackage', ['-A', '-rfakeroot', '-us', '-uc'], { cwd: source, timeoutMs: 9 * 60_000 });
    t.diagnostic(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    deb = join(work, `${PACKAGE}_${version}_all.deb`);
    assert.ok(existsSync(deb), `${deb} exists: ${readdirSync(work).join(', ')}`);
  });

  step('has no lintian errors', async (t) => {
    const result = await run('lintian', ['--fail-on', 'error', deb], { timeoutMs: 5 * 60_000 });
    const tags = result.stdout.split('\n').filter((line) => /^[EW]: /.test(line));
    for (const tag of tags) t.diagnostic(`lintian ${tag}`);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(tags.filter((line) => line.startsWith('E: ')), []);
  });

  step('carries the app, production modules only, one conffile and the right Depends', async () => {
    const contents = (await runOk('dpkg-deb', ['-c', deb])).stdout;
    const paths = new Set(contents.split('\n').map((line) => line.split(/\s+/).slice(5).join(' ').replace(/^\./, '').replace(/ -> .*$/, '')));
    for (const path of [`${APP_DIR}/dist/app.js`, `${APP_DIR}/package.json`, WRAPPER, UNIT, CONFIG, `${APP_DIR}/observability/alerts.yml`, `${APP_DIR}/observability/grafana-dashboard.json`, '/usr/share/man/man1/signal-sidecar.1.gz']) {
      assert.ok(paths.has(path), `${path} is in the package`);
    }
    const { dependencies, devDependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    for (const name of Object.keys(dependencies ?? {})) assert.ok(paths.has(`${APP_DIR}/node_modules/${name}/package.json`), `${name} is bundled`);
    for (const name of Object.keys(devDependencies ?? {})) assert.ok(!paths.has(`${APP_DIR}/node_modules/${name}/package.json`), `dev module ${name} is not`);
    assert.ok(![...paths].some((path) => path.startsWith(`${APP_DIR}/dist/demo`)), 'no demo');
    assert.ok(![...paths].some((path) => path.endsWith('.node')), 'no native addon: Architecture all holds');
    const control = (await runOk('dpkg-deb', ['-f', deb, 'Depends', 'Architecture', 'Version'])).stdout;
    assert.match(control, /^Depends: .*\bnodejs \(>= 18\)/m, 'the Node.js of Debian 12 and Ubuntu 24.04 will do');
    assert.match(control, /^Architecture: all$/m);
    assert.equal(/^Version: (.*)$/m.exec(control)?.[1], version);
    const conffiles = (await runOk('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./conffiles`, 'sh', deb])).stdout;
    assert.equal(conffiles.trim(), CONFIG, 'the config is the only conffile; the status file is not one');
  });

  // Not `step`s: a failure in a tree says nothing about the other tree or the host steps after them.
  for (const release of RELEASES) {
    const name = `Debian ${release.debian} (${release.codename})`;
    describe(`${name} with its own nodejs from the archive`, { concurrency: false }, () => {
      let tree: Installed | undefined;
      let why = 'the package was not installed in the tree';
      const inTreeIt = (title: string, body: (t: TestContext, installed: Installed) => Promise<void>): void => {
        it(title, async (t) => {
          if (skip !== undefined) return t.skip(skip);
          if (tree === undefined) return t.skip(why);
          await body(t, tree);
        });
      };
      after(() => {
        if (tree !== undefined) rmSync(tree.root, { recursive: true, force: true });
      });

      it(`apt install ./${PACKAGE}_*.deb pulls nodejs ${release.nodeMajor} from the ${release.codename} archive`, async (t) => {
        if (skip !== undefined) return t.skip(skip);
        const cannot = (reason: string): void => {
          why = reason;
          t.skip(reason);
        };
        if (deb === '') return cannot('the package was not built');
        if (treeProblem !== undefined) return cannot(treeProblem);
        const base = await trees.get(release.codename);
        if (base === undefined || 'problem' in base) return cannot(base?.problem ?? 'no tree was asked for');

        const started = Date.now();
        const root = join(work, release.codename);
        await runOk('cp', ['-a', '--reflink=auto', base.root, root], { timeoutMs: 5 * 60_000 });
        // The tree shares this machine's network, so it resolves names as this machine does.
        rmSync(join(root, 'etc/resolv.conf'), { force: true });
        if (existsSync('/etc/resolv.conf')) writeFileSync(join(root, 'etc/resolv.conf'), readFileSync('/etc/resolv.conf'));
        cpSync(deb, join(root, 'tmp', basename(deb)));
        // What the archive offers today, as an operator's `apt update` would see it.
        const update = await runInTree(root, ['apt-get', 'update', '-q']);
        assert.equal(update.code, 0, update.stdout + update.stderr);
        const install = await runInTree(root, ['sh', '-c', `cd /tmp && apt install -y ./${PACKAGE}_*.deb`]);
        assert.equal(install.code, 0, install.stdout + install.stderr);
        const seconds = ((Date.now() - started) / 1000).toFixed(1);

        const [nodejs = '', maintainer = ''] = (await runInTree(root, ['dpkg-query', '-W', '-f', '${Version}\n${Maintainer}\n', 'nodejs'])).stdout.split('\n');
        const candidate = /^ {2}Candidate: (\S+)$/m.exec((await runInTree(root, ['apt-cache', 'policy', 'nodejs'])).stdout)?.[1];
        const node = (await runInTree(root, ['node', '--version'])).stdout.trim();
        // apt's "Get:3 http://deb.debian.org/debian-security bookworm-security/main amd64 nodejs amd64 18.20.4+dfsg-1~deb12u3 [...]"
        const fetched = /^Get:\d+ (\S+) (\S+) \S+ nodejs \S+ (\S+) /m.exec(install.stdout);
        t.diagnostic(`${name}: nodejs ${nodejs} (${fetched === null ? 'not fetched' : `${fetched[1] ?? ''} ${fetched[2] ?? ''}`}), node ${node}; tree copied, updated and installed in ${seconds} s`);
        assert.match(install.stdout, new RegExp(`^Setting up ${PACKAGE} \\(${version}\\)`, 'm'));
        assert.ok(fetched !== null, `apt fetched nodejs from the archive:\n${install.stdout}`);
        assert.match(fetched[2] ?? '', new RegExp(`^${release.codename}(-security|-updates)?/main$`), 'from a suite of the release itself');
        assert.equal(fetched[3], nodejs);
        assert.doesNotMatch(nodejs, /nodesource/i, "the distribution's package, not a third-party build");
        assert.match(maintainer, /Debian/);
        assert.equal(candidate, nodejs, 'the newest nodejs the release has');
        assert.match(node, new RegExp(`^v${release.nodeMajor}\\.`));
        const uid = /^signal-sidecar:x:(\d+):/m.exec(readFileSync(join(root, 'etc/passwd'), 'utf8'))?.[1];
        assert.ok(uid !== undefined, 'the package made its user');
        assert.equal(readlinkSync(join(root, STATUS_FILE)), STATE_FILE, 'the status file links into the state directory');
        tree = { release, root, uid, nodejs, node };
      });

      inTreeIt(`the installed daemon works on nodejs ${release.nodeMajor}: agent, report, status-file watch, events, notifications, metrics, Express, SIGTERM`, async (t, installed) => {
        const fake = await new FakeSignalNode().start();
        const receiver = await new Receiver().start();
        let daemon: Daemon | undefined;
        try {
          // As the installed unit starts it, with the installed configuration file (every line commented out).
          const launch = shippedLaunch(join(installed.root, UNIT));
          const argv = inTree(installed.root, ['/usr/bin/node', ...launch.nodeFlags, `${APP_DIR}/dist/app.js`]);
          const env = {
            ...launch.env,
            ...QUICK,
            // Polls a minute apart: a status change that shows sooner came through the file watch.
            POLLING_INTERVAL: '60',
            JICOFO_ORIG: fake.jicofoOrigin,
            PROSODY_ORIG: fake.prosodyOrigin,
            STATUS_PATH: '/tmp/shard-status',
            CONFIG_FILE: CONFIG,
            NOTIFY_URL: receiver.url,
            PATH: '/usr/bin:/bin',
          };
          daemon = await startDaemon(env, { status: 'drain\n', elsewhere: { root: installed.root, argv } });
          const running = daemon;
          const first = await waitFor('a first report', async () => {
            const current = await report(running.httpPort);
            return current.statuses.statusFileFound ? current : undefined;
          });
          assert.deepEqual({ healthy: first.healthy, status: first.status }, { healthy: true, status: 'drain' });
          assert.equal(await agentAnswer(running.agentPort), 'up drain 0%\n');

          const polls = fake.count('jicofoHealth');
          running.setStatus('ready\n');
          await waitFor('the agent to say ready', async () => ((await agentAnswer(running.agentPort)) === 'up ready 100%\n' ? true : undefined), 10_000, 50);
          assert.equal(fake.count('jicofoHealth'), polls, 'no poll in between: fs.watch brought the change');
          assert.equal((await report(running.httpPort)).status, 'ready');

          const events = JSON.parse((await get(running.httpPort, '/signal/events')).body) as { events: { status: string; previousStatus: string | null }[] };
          assert.deepEqual(events.events.slice(0, 2).map((event) => [event.previousStatus, event.status]), [['drain', 'ready'], [null, 'drain']]);
          // The notification goes out through axios, loaded from the package's own modules.
          const notified = await waitFor('the notification of the change', () => receiver.received.find((received) => received.body.status === 'ready'));
          assert.equal(notified.body.previousStatus, 'drain');

          const metrics = await get(running.httpPort, '/metrics');
          assert.equal(metrics.status, 200);
          assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
          assert.match(metrics.body, new RegExp(`^nodejs_version_info\\{version="${installed.node.replace(/\./g, '\\.')}"`, 'm'), "the tree's own node runs it");
          for (const line of [/^signal_health 1$/m, /^signal_health_check \d+$/m, /^nodejs_eventloop_lag_seconds [\d.e-]+$/m, /^process_resident_memory_bytes \d+$/m]) {
            assert.match(metrics.body, line);
          }
          // Another spelling of a route goes to Express, loaded from the package's own modules.
          assert.deepEqual(await get(running.httpPort, '/signal/health/'), { status: 200, type: 'text/plain; charset=utf-8', body: 'OK' });

          assert.equal(await running.stop(), 0, 'SIGTERM: exit 0');
          daemon = undefined;
          const complaints = running.logs().filter((line) => line.level === 'warn' || line.level === 'error');
          t.diagnostic(`${name}: node ${installed.node} served every endpoint; ${running.lines.length} log lines, ${complaints.length} warnings`);
          assert.deepEqual(complaints, [], 'no warning or error logged');
          assert.equal(running.stderr.join(''), '', 'nothing on stderr (no warning from this Node)');
        } finally {
          await daemon?.stop('SIGKILL');
          await receiver.stop();
          await fake.stop();
        }
      });

      inTreeIt('under systemd its unit starts drained, drains and readies through the command, keeps the Consul word through the link, stops, refuses a bad config and purges', async (t, installed) => {
        const binary = consulBinary();
        if ('skip' in binary) return t.skip(binary.skip);
        const fake = await new FakeSignalNode().start();
        // On the host's loopback: the booted container shares the host's network.
        let consul: ConsulAgent | undefined;
        try {
          consul = await ConsulAgent.start(binary.path);
          const settings: BootSettings = { httpPort: await freePort(), agentPort: await freePort(), consulPort: consul.httpPort, key: `shard-states/test/${release.codename}` };
          appendFileSync(
            join(installed.root, CONFIG),
            [`HTTP_HOST=127.0.0.1`, `TCP_HOST=127.0.0.1`, `HTTP_PORT=${settings.httpPort}`, `TCP_PORT=${settings.agentPort}`, `JICOFO_ORIG=${fake.jicofoOrigin}`, `PROSODY_ORIG=${fake.prosodyOrigin}`, 'POLLING_INTERVAL=0.2', ''].join('\n'),
          );
          writeFileSync(join(installed.root, 'usr/local/sbin/boot-check'), bootCheck(settings), { mode: 0o755 });
          writeFileSync(join(installed.root, 'etc/systemd/system/boot-check.service'), BOOT_CHECK_UNIT);
          mkdirSync(join(installed.root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
          symlinkSync('/etc/systemd/system/boot-check.service', join(installed.root, 'etc/systemd/system/multi-user.target.wants/boot-check.service'));

          const started = Date.now();
          const booted = await boot(installed.root, 180_000, { '/usr/local/bin/consul': binary.path });
          const seconds = ((Date.now() - started) / 1000).toFixed(1);
          const resultFile = join(installed.root, 'boot-check.txt');
          if (!existsSync(resultFile)) {
            // The container never got as far as the check: nspawn itself cannot run here.
            return t.skip(`systemd-nspawn could not boot a container here (exit ${booted.code}): ${(booted.stdout + booted.stderr).trim().split('\n').slice(-3).join(' ')}`);
          }
          const output = readFileSync(resultFile, 'utf8');
          const sections = parseSections(output);
          t.diagnostic(`${name} under systemd: ${(sections.node ?? '').trim().replace(/\n/g, ', ')}; ${(sections.security ?? '').trim()}; booted, checked and powered off in ${seconds} s`);
          t.diagnostic(`${name} systemctl reload: ${(sections.reload ?? '').split('\n').find((line) => line.includes('configuration reloaded')) ?? '(no line)'}`);
          t.diagnostic(`${name} Consul under the unit: ${(sections.consul ?? '').split('\n').filter((line) => / after \d+ ms$/.test(line)).join('; ')}`);
          for (const bootStep of BOOT_STEPS) {
            const section = sections[bootStep.name];
            assert.ok(section !== undefined, `the check in the booted tree reached [${bootStep.name}] (nspawn exit ${booted.code}):\n${output}`);
            try {
              bootStep.check(section.trim(), installed);
            } catch (error) {
              if (error instanceof Error) error.message = `[${bootStep.name}] ${error.message}\n--- the step's output:\n${section}`;
              throw error;
            }
          }
          assert.ok(sections.end !== undefined, 'the check ran to its end');
        } finally {
          await consul?.stop();
          await fake.stop();
        }
      });

      inTreeIt("an upgrade from c3b4422's package turns its status file into the link, keeping the word; an operator's file is left alone", async (t, installed) => {
        const inTree = async (script: string): Promise<string> => {
          const result = await runInTree(installed.root, ['sh', '-c', script]);
          assert.equal(result.code, 0, `${script}\n${result.stdout}${result.stderr}`);
          return result.stdout;
        };
        const at = (path: string): string => join(installed.root, path);
        const old = await prelinkPackage(work, deb);
        cpSync(old, at(`var/tmp/${basename(old)}`));
        cpSync(deb, at(`var/tmp/${basename(deb)}`));
        // Whatever the boot left (it purges when all goes well).
        await inTree('dpkg --purge signal-sidecar >/dev/null');

        await inTree(`dpkg -i /var/tmp/${basename(old)} >/dev/null`);
        assert.ok(lstatSync(at(STATUS_FILE)).isFile() && existsSync(at(`${STATE_DIR}/created-shard-status`)), "c3b4422's postinst made a plain file, and its mark");
        // The operator's word, from long ago.
        writeFileSync(at(STATUS_FILE), 'maint\n');
        const then = new Date('2026-11-01T10:00:00Z');
        utimesSync(at(STATUS_FILE), then, then);
        const upgraded = await inTree(`dpkg -i /var/tmp/${basename(deb)} 2>&1`);
        t.diagnostic(`${name}: ${/^Unpacking .*$/m.exec(upgraded)?.[0] ?? upgraded.trim()}`);
        assert.match(upgraded, new RegExp(`over \\(${version.replace(/[.+~]/g, '\\$&')}~prelink\\)`), 'an upgrade from the pre-link package');
        assert.equal(readlinkSync(at(STATUS_FILE)), STATE_FILE, 'now the link');
        assert.equal(readFileSync(at(STATE_FILE), 'utf8'), 'maint\n', 'the word kept');
        const info = statSync(at(STATE_FILE));
        assert.equal(info.mtimeMs, then.getTime(), 'and its time, which tells it from a newer Consul word');
        assert.equal(info.mode & 0o777, 0o644);
        assert.equal(info.uid, Number((await inTree('id -u signal-sidecar')).trim()), 'the service\'s to replace');
        assert.deepEqual(readdirSync(at('/etc/jitsi')).sort(), ['shard-status', 'signal-sidecar'], 'no temporary file left');

        await inTree('dpkg --purge signal-sidecar >/dev/null');
        assert.ok(!present(at(STATUS_FILE)) && !existsSync(at(STATE_DIR)), 'purge leaves no link and no state directory');

        // jitsi tooling's own status file: never converted, never removed.
        mkdirSync(at('/etc/jitsi'), { recursive: true });
        writeFileSync(at(STATUS_FILE), 'ready\n', { mode: 0o644 });
        await inTree(`dpkg -i /var/tmp/${basename(deb)} >/dev/null`);
        assert.ok(lstatSync(at(STATUS_FILE)).isFile(), 'left a plain file');
        assert.equal(readFileSync(at(STATUS_FILE), 'utf8'), 'ready\n');
        assert.ok(!present(at(STATE_FILE)) && !present(at(`${STATE_DIR}/created-shard-status`)), 'no word and no mark of the package\'s');
        await inTree('dpkg --purge signal-sidecar >/dev/null');
        assert.equal(readFileSync(at(STATUS_FILE), 'utf8'), 'ready\n', 'purge keeps it');
      });
    });
  }

  step('installs with dpkg: files, owners, user and group', async () => {
    await runOk('dpkg', ['-i', deb], { env: DPKG_ENV, timeoutMs: 120_000 });
    mkdirSync('/var/lib/signal-sidecar', { recursive: true });
    writeFileSync(TEST_MARK, '');
    assert.equal(await installedVersion(), version);

    for (const path of [WRAPPER, UNIT, CONFIG, `${APP_DIR}/dist/app.js`, `${APP_DIR}/node_modules/express/package.json`]) {
      const info = statSync(path);
      assert.equal(info.uid, 0, `${path} belongs to root`);
      assert.equal(info.gid, 0, `${path} group root`);
      assert.equal(info.mode & 0o022, 0, `${path} is not group/world writable`);
    }
    assert.equal(statSync(WRAPPER).mode & 0o111, 0o111, 'the command is executable');

    const passwd = (await runOk('getent', ['passwd', 'signal-sidecar'])).stdout.trim().split(':');
    const group = (await runOk('getent', ['group', 'jitsi'])).stdout.trim().split(':');
    assert.equal(passwd[3], group[2], 'the user\'s primary group is jitsi');
    assert.ok(Number(passwd[2]) < 1000, 'a system user');
    assert.match(passwd[6] ?? '', /nologin|false/, 'no login shell');
    assert.ok(!existsSync(passwd[5] ?? '/'), 'no home directory');

    const config = readFileSync(CONFIG, 'utf8');
    const template = (await runOk(process.execPath, [join(ROOT, 'dist', 'app.js'), '--config-template'], { cwd: work })).stdout;
    assert.equal(config, template, 'the conffile is the generated template');
    assert.match(config, /^#TCP_PORT=6060$/m);
    assert.doesNotMatch(config, /HA_PORT/);
    for (const line of ['#CONSUL_STATUS=false', '#CONSUL_STATUS_KEY=shard-state', '#CONSUL_REPORTS=false', '#CONSUL_HOST=localhost', '#CONSUL_PORT=8500', '#CONSUL_HTTP_TOKEN_FILE=']) {
      assert.ok(config.split('\n').includes(line), `the conffile lists ${line}`);
    }

    if (!statusFileExisted) {
      assert.equal(readlinkSync(STATUS_FILE), STATE_FILE, 'the status file links into the state directory');
      assert.equal(readFileSync(STATUS_FILE, 'utf8'), 'drain\n', 'a new node starts drained');
      for (const [path, mode] of [[STATE_DIR, 0o755], [STATE_FILE, 0o644]] as const) {
        const info = statSync(path);
        assert.equal(info.uid, Number(passwd[2]), `${path} belongs to signal-sidecar`);
        assert.equal(info.gid, Number(group[2]), `${path} group jitsi`);
        assert.equal(info.mode & 0o777, mode, `${path} is readable by all`);
      }
    }
  });

  step('its systemd unit passes systemd-analyze verify, and security is reported', async (t) => {
    const unit = readFileSync(UNIT, 'utf8');
    for (const line of [
      'User=signal-sidecar',
      'Group=jitsi',
      'Environment=CONFIG_FILE=/etc/jitsi/signal-sidecar/config',
      'Environment=MALLOC_ARENA_MAX=1',
      'ExecStart=/usr/bin/node --max-semi-space-size=2 --expose-gc /usr/share/signal-sidecar/dist/app.js',
      "ExecReload=/bin/sh -c 'kill -HUP $MAINPID'",
      'Restart=always',
      'RestartPreventExitStatus=78',
      'SyslogIdentifier=signal-sidecar',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'StateDirectory=signal-sidecar',
      'UMask=0077',
      'PrivateUsers=yes',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'PrivateDevices=yes',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'LockPersonality=yes',
      'RestrictRealtime=yes',
      'RestrictSUIDSGID=yes',
      'SystemCallArchitectures=native',
    ]) {
      assert.ok(unit.split('\n').includes(line), `unit has ${line}`);
    }
    assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=/m, "V8's JIT needs writable executable memory");
    assert.doesNotMatch(unit, /^ReadWritePaths=/m, 'the daemon writes in its state directory only');

    const verify = await run('systemd-analyze', ['verify', UNIT], { timeoutMs: 60_000 });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.equal((verify.stdout + verify.stderr).trim(), '', 'no warning either');

    // The check is only worth something if verify catches mistakes in this container too.
    const controlDir = join(work, 'verify-control');
    mkdirSync(controlDir);
    writeFileSync(join(controlDir, 'signal-sidecar.service'), unit.replace('Restart=always', 'Restart=always\nRestartSecs=2').replace('/usr/bin/node ', '/usr/bin/no-such-node '));
    const control = await run('systemd-analyze', ['verify', join(controlDir, 'signal-sidecar.service')], { timeoutMs: 60_000 });
    assert.notEqual(control.code, 0);
    assert.match(control.stderr, /Unknown key( name)? 'RestartSecs'/);
    assert.match(control.stderr, /no-such-node is not executable/);

    // --offline reads the unit file without a running systemd (this container has none as PID 1).
    const security = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT], { timeoutMs: 60_000 });
    const score = /Overall exposure level for signal-sidecar\.service: ([\d.]+) (\S+)/.exec(security.stdout);
    if (score === null) {
      t.diagnostic(`systemd-analyze security gave no score here: ${(security.stdout + security.stderr).trim().split('\n').slice(-2).join(' ')}`);
    } else {
      t.diagnostic(`systemd-analyze security: exposure ${score[1]} ${score[2]}`);
      assert.ok(Number(score[1]) <= 2, `exposure ${score[1]} stays low`);
    }
  });

  step('the installed daemon runs as signal-sidecar:jitsi against a fake signal node', async () => {
    node = await new FakeSignalNode().start();
    httpPort = await freePort();
    agentPort = await freePort();
    if (statusFileExisted) {
      // Never touch an operator's status file: give the run one of its own, readable by the service user.
      const dir = mkdtempSync(join(tmpdir(), 'sidecar-status-'));
      chmodSync(dir, 0o755);
      statusPath = join(dir, 'shard-status');
      writeFileSync(statusPath, 'drain\n', { mode: 0o644 });
    }
    const env = {
      PATH: '/usr/bin:/bin',
      HTTP_HOST: '127.0.0.1',
      TCP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      TCP_PORT: String(agentPort),
      JICOFO_ORIG: node.jicofoOrigin,
      PROSODY_ORIG: node.prosodyOrigin,
      STATUS_PATH: statusPath,
      POLLING_INTERVAL: '0.2',
    };
    const child = spawn('setpriv', ['--reuid=signal-sidecar', '--regid=jitsi', '--clear-groups', '--', '/usr/bin/node', `${APP_DIR}/dist/app.js`], {
      cwd: '/',
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon = child;
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    await waitFor('the installed daemon to listen', () => (output.includes('signal-sidecar listening') ? true : child.exitCode !== null ? Promise.reject(new Error(output)) : undefined));
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid ?? 0}/status`, 'utf8'))?.[1];
    assert.equal(uid, (await runOk('id', ['-u', 'signal-sidecar'])).stdout.trim(), 'runs as the service user');
    const first = await waitFor('a report', async () => {
      const current = await report(httpPort).catch(() => undefined);
      return current?.statuses?.statusFileFound === true ? current : undefined;
    });
    assert.equal(first.healthy, true);
    assert.equal(first.status, 'drain', 'the new node is drained');
    assert.equal(first.agentmessage, 'up drain 0%');
  });

  step('the installed command opens the node and reads the configuration file', async () => {
    const env = { PATH: '/usr/bin:/bin', STATUS_PATH: statusPath, HTTP_PORT: String(httpPort) };
    const version_ = await runOk(WRAPPER, ['--version'], { env, cwd: '/' });
    assert.equal(version_.stdout, `signal-sidecar ${version}\n`);
    const help = await runOk(WRAPPER, ['--help'], { env, cwd: '/' });
    assert.match(help.stdout, /^ {2}TCP_PORT +.*\[6060\]$/m);

    const ready = await run(WRAPPER, ['ready'], { env, cwd: '/', timeoutMs: 15_000 });
    assert.equal(ready.code, 0, ready.stdout + ready.stderr);
    assert.match(ready.stdout, /^status: +ready$/m);
    assert.equal((await report(httpPort)).agentmessage, 'up ready 100%');

    // Settings in the config file reach the command; the environment still wins.
    appendFileSync(CONFIG, `HTTP_PORT=${httpPort}\nSTATUS_PATH=${statusPath}\n`);
    const status = await run(WRAPPER, ['status'], { env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /^health: +healthy/m);
    assert.match(status.stdout, /^participants: +\d+/m);
    const overridden = await run(WRAPPER, ['status'], { env: { PATH: '/usr/bin:/bin', HTTP_PORT: '1' }, cwd: '/' });
    assert.equal(overridden.code, 3, 'HTTP_PORT from the environment beat the file');

    // The original package's configuration file set HA_PORT, which nothing read.
    appendFileSync(CONFIG, 'HA_PORT=6060\nLOG_LEVEL=loud\n');
    const check = await run(WRAPPER, ['--check-config'], { env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
    assert.equal(check.code, 1);
    assert.match(check.stderr, /^problem: LOG_LEVEL="loud"/m);
    assert.match(check.stderr, /^warning: HA_PORT=6060 is not read .*TCP_PORT$/m);
  });

  step('the installed daemon stops cleanly on SIGTERM', async () => {
    const child = daemon;
    assert.ok(child);
    const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(code ?? signal ?? -1)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    daemon = undefined;
  });

  step('dpkg --remove keeps the configuration; dpkg --purge leaves nothing behind', async () => {
    await runOk('dpkg', ['--remove', PACKAGE], { env: DPKG_ENV, timeoutMs: 120_000 });
    assert.ok(!existsSync(APP_DIR), 'app removed');
    assert.ok(!existsSync(WRAPPER), 'command removed');
    assert.ok(!existsSync(UNIT), 'unit removed');
    assert.ok(existsSync(CONFIG), 'remove keeps the conffile');
    assert.ok(await userExists('signal-sidecar'), 'remove keeps the user');

    await runOk('dpkg', ['--purge', PACKAGE], { env: DPKG_ENV, timeoutMs: 120_000 });
    assert.equal(await installedVersion(), undefined);
    assert.ok(!existsSync('/etc/jitsi/signal-sidecar'), 'config directory gone');
    assert.ok(!existsSync('/var/lib/signal-sidecar'), 'state directory gone');
    assert.ok(!existsSync('/etc/systemd/system/multi-user.target.wants/signal-sidecar.service'), 'unit no longer enabled');
    assert.equal(present(STATUS_FILE), statusFileExisted, statusFileExisted ? 'an existing status file is kept' : 'the link it created is gone');
    assert.equal(await userExists('signal-sidecar'), userExisted, 'the user it created is gone');
    assert.ok(await groupExists('jitsi'), 'the shared jitsi group stays');
  });
});
