import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { freePort, report, ROOT, sleep, waitFor } from '../helpers/daemon';
import { run, runOk } from '../helpers/run';
import { boot, bootableRoot } from '../helpers/nspawn';
import { ensureTools, which } from '../helpers/tools';

/**
 * Builds the Debian package the way the README says, installs it on this
 * machine with dpkg, runs the installed daemon and command, then removes and
 * purges it. It changes the machine (a user, /etc/jitsi, /usr/share), so it
 * runs only as root, and only when no signal-sidecar package of someone
 * else's is installed; everything it adds it takes away again.
 */

const PACKAGE = 'signal-sidecar';
const APP_DIR = '/usr/share/signal-sidecar';
const CONFIG = '/etc/jitsi/signal-sidecar/config';
const STATUS_FILE = '/etc/jitsi/shard-status';
const UNIT = '/lib/systemd/system/signal-sidecar.service';
const WRAPPER = '/usr/bin/signal-sidecar';
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

/** Runs inside the booted container once the service is up; leaves its findings for the host. */
const BOOT_CHECK = `#!/bin/sh
exec > /boot-check.txt 2>&1
report() { curl -s -m 2 http://127.0.0.1:__PORT__/signal/report; }
i=0
until report | grep -q '"statusFileFound":true' || [ $i -ge 150 ]; do sleep 0.1; i=$((i + 1)); done
echo '[show]'; systemctl show signal-sidecar -p ActiveState -p SubState -p NRestarts
echo '[proc]'; grep -E '^(Uid|Gid|NoNewPrivs|Seccomp):' /proc/$(systemctl show signal-sidecar -p MainPID --value)/status
echo '[report]'; report; echo
echo '[ready]'; signal-sidecar ready; echo "exit=$?"
echo '[reload]'; pid=$(systemctl show signal-sidecar -p MainPID --value)
echo PARTICIPANT_MAX=4000 >> ${CONFIG}
systemctl reload signal-sidecar; echo "exit=$?"
sleep 1
journalctl -u signal-sidecar -o cat --no-pager | grep 'configuration reloaded'
[ "$(systemctl show signal-sidecar -p MainPID --value)" = "$pid" ] && echo same-process
echo '[security]'; systemd-analyze security --no-pager signal-sidecar | tail -n 1
echo '[stop]'; systemctl stop signal-sidecar; systemctl show signal-sidecar -p Result -p ExecMainStatus
echo '[badconfig]'
echo LOG_LEVEL=loud >> ${CONFIG}
systemctl start signal-sidecar
sleep 5
systemctl show signal-sidecar -p ActiveState -p NRestarts -p ExecMainStatus
journalctl -u signal-sidecar -o cat --no-pager | grep 'bad configuration'
echo '[end]'
systemctl poweroff
`;

const BOOT_CHECK_UNIT = `[Unit]
Description=check signal-sidecar, then power off
After=signal-sidecar.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/boot-check

[Install]
WantedBy=multi-user.target
`;

/** "[name]" lines split the check's output into named sections. */
function parseSections(text: string): Record<string, string> {
  const sections: Record<string, string> = {};
  let current = '';
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) current = header[1] ?? '';
    else if (current !== '') sections[current] = sections[current] === undefined ? line : `${sections[current]}\n${line}`;
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
    statusFileExisted = existsSync(STATUS_FILE);
    jitsiGroupExisted = await groupExists('jitsi');
    userExisted = await userExists('signal-sidecar');
    work = mkdtempSync(join(tmpdir(), 'sidecar-deb-'));
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

  // Not a `step`: a failure here says nothing about the steps after it, which run on the host.
  it('its unit starts, drains, stops and refuses a bad config under systemd (booted container)', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    if (deb === '') return t.skip('the package was not built');
    const tools = await ensureTools({ 'systemd-nspawn': 'systemd-container', debootstrap: 'debootstrap' });
    if (tools !== undefined) return t.skip(tools);
    const base = await bootableRoot();
    if ('problem' in base) return t.skip(base.problem);

    const root = join(work, 'rootfs');
    await runOk('cp', ['-a', '--reflink=auto', base.root, root], { timeoutMs: 5 * 60_000 });
    const fake = await new FakeSignalNode().start();
    try {
      // The container has systemd but no nodejs package: the host's node binary
      // stands in for it, so the Depends on nodejs is forced.
      cpSync(process.execPath, join(root, 'usr/bin/node'));
      cpSync(deb, join(root, 'tmp/package.deb'));
      await runOk('chroot', [root, 'dpkg', '--force-depends', '-i', '/tmp/package.deb'], { env: DPKG_ENV, timeoutMs: 120_000 });
      const port = await freePort();
      appendFileSync(
        join(root, CONFIG),
        [`HTTP_HOST=127.0.0.1`, `TCP_HOST=127.0.0.1`, `HTTP_PORT=${port}`, `TCP_PORT=${await freePort()}`, `JICOFO_ORIG=${fake.jicofoOrigin}`, `PROSODY_ORIG=${fake.prosodyOrigin}`, 'POLLING_INTERVAL=0.2', ''].join('\n'),
      );
      writeFileSync(join(root, 'usr/local/sbin/boot-check'), BOOT_CHECK.replace('__PORT__', String(port)), { mode: 0o755 });
      writeFileSync(join(root, 'etc/systemd/system/boot-check.service'), BOOT_CHECK_UNIT);
      symlinkSync('/etc/systemd/system/boot-check.service', join(root, 'etc/systemd/system/multi-user.target.wants/boot-check.service'));
      // The container shares the host's network: nothing in it may configure networking or the clock.
      for (const unit of ['systemd-networkd.service', 'systemd-networkd.socket', 'systemd-resolved.service', 'systemd-timesyncd.service']) {
        symlinkSync('/dev/null', join(root, 'etc/systemd/system', unit));
      }

      const booted = await boot(root, 180_000);
      const resultFile = join(root, 'boot-check.txt');
      if (!existsSync(resultFile)) {
        // The container never got as far as the check: nspawn itself cannot run here.
        return t.skip(`systemd-nspawn could not boot a container here (exit ${booted.code}): ${(booted.stdout + booted.stderr).trim().split('\n').slice(-3).join(' ')}`);
      }
      const sections = parseSections(readFileSync(resultFile, 'utf8'));
      t.diagnostic(`under systemd: ${sections.show?.replace(/\n/g, ' ')}; ${sections.security ?? ''}`);
      assert.match(sections.show ?? '', /^ActiveState=active$/m, resultFile);
      assert.match(sections.show ?? '', /^SubState=running$/m);
      assert.match(sections.show ?? '', /^NRestarts=0$/m);
      const uid = /^signal-sidecar:x:(\d+):/m.exec(readFileSync(join(root, 'etc/passwd'), 'utf8'))?.[1];
      assert.match(sections.proc ?? '', new RegExp(`^Uid:\\s+${uid ?? 'none'}\\s`, 'm'), 'runs as signal-sidecar');
      assert.match(sections.proc ?? '', /^NoNewPrivs:\s+1$/m);
      assert.match(sections.proc ?? '', /^Seccomp:\s+2$/m, 'the system call filter is on');
      const first = JSON.parse(sections.report ?? '{}') as { healthy?: boolean; status?: string };
      assert.deepEqual({ healthy: first.healthy, status: first.status }, { healthy: true, status: 'drain' });
      assert.match(sections.ready ?? '', /^status: +ready$/m);
      assert.match(sections.ready ?? '', /^exit=0$/m);
      t.diagnostic(`systemctl reload: ${(sections.reload ?? '').split('\n').find((line) => line.includes('configuration reloaded')) ?? '(no line)'}`);
      assert.match(sections.reload ?? '', /^exit=0$/m, 'systemctl reload');
      assert.match(sections.reload ?? '', /configuration reloaded: PARTICIPANT_MAX 5000 → 4000/);
      assert.match(sections.reload ?? '', /^same-process$/m, 'a reload is no restart');
      assert.match(sections.stop ?? '', /^Result=success$/m, 'SIGTERM ends it cleanly');
      assert.match(sections.stop ?? '', /^ExecMainStatus=0$/m);
      assert.match(sections.badconfig ?? '', /^ActiveState=failed$/m);
      assert.match(sections.badconfig ?? '', /^ExecMainStatus=78$/m);
      assert.match(sections.badconfig ?? '', /^NRestarts=0$/m, 'RestartPreventExitStatus=78: no restart loop');
      assert.match(sections.badconfig ?? '', /bad configuration: LOG_LEVEL="loud"/);
    } finally {
      await fake.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });

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

    if (!statusFileExisted) {
      const info = statSync(STATUS_FILE);
      assert.equal(readFileSync(STATUS_FILE, 'utf8'), 'drain\n', 'a new node starts drained');
      assert.equal(info.uid, 0);
      assert.equal(info.gid, Number(group[2]), 'status file group jitsi');
      assert.equal(info.mode & 0o777, 0o644);
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
    assert.doesNotMatch(unit, /^ReadWritePaths=/m, 'the daemon writes nothing');

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

    appendFileSync(CONFIG, 'LOG_LEVEL=loud\n');
    const check = await run(WRAPPER, ['--check-config'], { env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
    assert.equal(check.code, 1);
    assert.match(check.stderr, /^problem: LOG_LEVEL="loud"/m);
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
    assert.equal(existsSync(STATUS_FILE), statusFileExisted, statusFileExisted ? 'an existing status file is kept' : 'the status file it created is gone');
    assert.equal(await userExists('signal-sidecar'), userExisted, 'the user it created is gone');
    assert.ok(await groupExists('jitsi'), 'the shared jitsi group stays');
  });
});
