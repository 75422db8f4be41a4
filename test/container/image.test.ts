import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { ConsulAgent, consulBinary } from '../helpers/consul';
import { agentAnswer, freePort, get, QUICK, report, ROOT, shippedLaunch, waitFor, type ReportJson } from '../helpers/daemon';
import { BASE_IMAGE, buildImage, containerLogs, ensureBaseImage, imageSize, mib, startContainer, suiteEngine, uniqueName, untilContainerHealthy, type Podman } from '../helpers/podman';

/**
 * The image built from the project's Dockerfile with the real engine
 * (Debian's podman), run as an operator would: read-only root, host network
 * beside a signal node (the fake one, on loopback), first with nothing
 * mounted, then with a status directory, a configuration file and the
 * original image's pre-run hook mounted.
 */

const APP = '/usr/share/signal-sidecar';
/** The image's state directory (a VOLUME), where /etc/jitsi/shard-status links to. */
const STATE_DIR = '/var/lib/signal-sidecar';
/** What the daemon logs, once, when it cannot keep a Consul word in the status file. */
const NOT_KEPT = 'cannot write the Consul status word to STATUS_PATH; it applies, but will not outlive a restart while Consul is away';

describe('container image', { concurrency: false }, () => {
  const suite = suiteEngine();
  const { engine } = suite;
  const image = `localhost/${uniqueName('image')}:test`;
  let fake: FakeSignalNode | undefined;
  const work = mkdtempSync(join(tmpdir(), 'sidecar-image-'));

  before(async () => {
    await suite.open();
    fake = await new FakeSignalNode().start();
  });

  after(async () => {
    await suite.close();
    await fake?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('builds from the Dockerfile (base image: the real one or a stand-in, said which)', async (t) => {
    const p = engine(t);
    if (p === undefined) return;
    const base = await ensureBaseImage(p);
    if ('problem' in base) {
      suite.refuse(`no base image ${BASE_IMAGE} and no stand-in could be made: ${base.problem}`);
      engine(t);
      return;
    }
    t.diagnostic(base.note);
    const ms = await buildImage(p, image);
    const [size, baseSize] = [await imageSize(p, image), await imageSize(p, BASE_IMAGE)];
    t.diagnostic(`built in ${(ms / 1000).toFixed(1)} s; image ${mib(size)} (base ${mib(baseSize)}, added by the Dockerfile ${mib(size - baseSize)})`);
  });

  it('holds the bundle and production modules only, runs as a non-root user, keeps HEALTHCHECK and STOPSIGNAL', async (t) => {
    const p = engine(t);
    if (p === undefined) return;
    const [inspected] = JSON.parse((await p.ok(['image', 'inspect', image])).stdout) as { Config: Record<string, unknown>; Healthcheck?: { Test?: string[] } }[];
    assert.equal(inspected?.Config.User, '10001:10001', 'a numeric non-root user, which runAsNonRoot can verify');
    assert.equal(inspected?.Config.StopSignal, 'SIGTERM');
    assert.deepEqual(inspected?.Healthcheck?.Test, ['CMD', '/usr/bin/node', `${APP}/dist/healthcheck.js`], 'kept by --format docker');

    const script = `cd ${APP} && ls dist && echo -- && ls -d node_modules/*/ node_modules/@*/*/ && echo -- && find . -path ./node_modules -prune -o \\( -name '*.ts' -o -name test -o -name src -o -name tsconfig.json \\) -print`;
    const listing = await p.ok(['run', '--rm', '--network=host', '--entrypoint', '/bin/sh', image, '-c', script]);
    const [dist = '', modules = '', sources = ''] = listing.stdout.split('--\n');
    assert.deepEqual(dist.trim().split('\n'), ['app.js', 'healthcheck.js'], 'the bundle and the health check, no demo, no compiled tests');
    const installed = new Set(modules.trim().split('\n').map((path) => path.replace(/^node_modules\/(.*)\/$/, '$1')));
    const { dependencies, devDependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    for (const name of Object.keys(dependencies ?? {})) assert.ok(installed.has(name), `${name} is installed`);
    for (const name of Object.keys(devDependencies ?? {})) assert.ok(!installed.has(name), `dev module ${name} is not`);
    assert.equal(sources.trim(), '', 'no sources, no tests');
  });

  describe('started with nothing mounted', { concurrency: false }, () => {
    const name = uniqueName('bare');
    let httpPort = 0;
    let agentPort = 0;

    it('turns healthy by its HEALTHCHECK, reports drain (the image\'s status file) and logs on stdout', async (t) => {
      const p = engine(t);
      if (p === undefined || fake === undefined) return;
      [httpPort, agentPort] = [await freePort(), await freePort()];
      const env = { ...QUICK, HTTP_HOST: '127.0.0.1', TCP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), TCP_PORT: String(agentPort), JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin };
      await startContainer(p, name, image, { env });
      t.diagnostic(`healthy by podman healthcheck run after ${await untilContainerHealthy(p, name)} ms`);
      assert.equal(await agentAnswer(agentPort), 'up drain 0%\n');
      const body = await report(httpPort);
      assert.deepEqual([body.healthy, body.status, body.statuses], [true, 'drain', { statusFileFound: true, statusFileContents: 'drain', statusSource: 'file' }]);
      assert.deepEqual(await get(httpPort, '/health'), { status: 200, type: 'text/plain; charset=utf-8', body: 'OK' });
      assert.equal((await get(httpPort, '/signal/health')).status, 200, 'readiness: healthy');
      assert.match((await get(httpPort, '/metrics')).body, /^signal_health 1$/m);
      const { stdout } = await containerLogs(p, name);
      assert.ok(stdout.some((line) => line.message === 'signal-sidecar listening'), 'JSON log lines on stdout');
    });

    it('runs node as PID 1, launched as the systemd unit launches it', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      const cmdline = (await p.ok(['exec', name, 'cat', '/proc/1/cmdline'])).stdout.split('\0').filter((word) => word !== '');
      assert.deepEqual(cmdline, shippedLaunch().command, 'the unit\'s ExecStart, word for word');
      const environ = new Set((await p.ok(['exec', name, 'cat', '/proc/1/environ'])).stdout.split('\0'));
      for (const [variable, value] of Object.entries(shippedLaunch().env)) assert.ok(environ.has(`${variable}=${value}`), `${variable}=${value} as in the unit`);
    });

    it('runs as a non-root user on a read-only root, with a writable volume at its state directory', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      const status = (await p.ok(['exec', name, 'cat', '/proc/1/status'])).stdout;
      const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/) ?? [];
      assert.equal(uids.length, 4, status);
      assert.ok(uids.every((uid) => uid !== '0'), `real, effective, saved and file uid are not root: ${uids.join(' ')}`);
      assert.equal((await p.ok(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', name])).stdout.trim(), 'true');
      const write = await p(['exec', name, 'touch', `${APP}/dist/written`]);
      assert.notEqual(write.code, 0);
      assert.match(write.stderr, /Read-only file system/);
      // The image's VOLUME: podman gives it an anonymous volume, the one place the daemon can write.
      const state = await p.ok(['exec', name, 'sh', '-c', `readlink /etc/jitsi/shard-status; cat ${STATE_DIR}/shard-status; touch ${STATE_DIR}/.written && rm ${STATE_DIR}/.written && echo writable`]);
      assert.equal(state.stdout, `${STATE_DIR}/shard-status\ndrain\nwritable\n`);
    });

    it('answers the operator\'s command inside the container', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      const status = await p.ok(['exec', name, 'signal-sidecar', 'status']);
      assert.match(status.stdout, /^status: +drain$/m);
      assert.match(status.stdout, /^agent says: +up drain 0%$/m);
    });

    it('stops on podman stop by SIGTERM and exits 0', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      const started = Date.now();
      await p.ok(['stop', '--time', '10', name]);
      const took = Date.now() - started;
      const [exitCode = '', finishedAt = ''] = (await p.ok(['inspect', '--format', '{{.State.ExitCode}} {{.State.FinishedAt.UnixMilli}}', name])).stdout.trim().split(' ');
      const exited = Number(finishedAt) - started;
      const { stdout } = await containerLogs(p, name);
      const stopping = stdout.find((line) => line.message === 'signal-sidecar stopping');
      const stopped = stdout.find((line) => line.message === 'signal-sidecar stopped');
      const own = stopping !== undefined && stopped !== undefined ? Date.parse(String(stopped.timestamp)) - Date.parse(String(stopping.timestamp)) : NaN;
      t.diagnostic(`podman stop returned after ${took} ms; PID 1 exited ${exited} ms after the stop began (its own shutdown, SIGTERM to exit: ${own} ms); podman would have sent SIGKILL at 10 s`);
      assert.equal(exitCode, '0', 'exit 0, not 137 (killed)');
      assert.equal(stopping?.signal, 'SIGTERM', 'the daemon itself got STOPSIGNAL');
      assert.ok(stopped !== undefined, 'and finished its shutdown');
    });
  });

  describe('with a status directory, a configuration file and the pre-run hook mounted', { concurrency: false }, () => {
    const name = uniqueName('mounted');
    const statusDir = join(work, 'jitsi');
    let agentPort = 0;
    let httpPort = 0;

    /** Replaces the status file by rename, as editors and config tools do. */
    const writeStatus = (word: string): void => {
      writeFileSync(join(statusDir, '.shard-status.new'), `${word}\n`, { mode: 0o644 });
      renameSync(join(statusDir, '.shard-status.new'), join(statusDir, 'shard-status'));
    };

    it('is healthy on the port its CONFIG_FILE names and reports the mounted word', async (t) => {
      const p = engine(t);
      if (p === undefined || fake === undefined) return;
      [httpPort, agentPort] = [await freePort(), await freePort()];
      // The container's user must be able to read what is mounted.
      chmodSync(work, 0o755);
      mkdirSync(statusDir, { mode: 0o755 });
      writeStatus('ready');
      const config = join(work, 'config');
      const settings = { ...QUICK, HTTP_HOST: '127.0.0.1', TCP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), TCP_PORT: String(agentPort), JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin };
      writeFileSync(config, Object.entries(settings).map(([variable, value]) => `${variable}=${value}\n`).join(''), { mode: 0o644 });
      const hook = join(work, 'pre-run.sh');
      writeFileSync(hook, 'echo "pre-run hook: uid $(id -u)"\nexport NODE_NAME=named-by-pre-run-hook\n', { mode: 0o644 });
      await startContainer(p, name, image, {
        env: { CONFIG_FILE: '/etc/signal-sidecar/config' },
        mounts: [`${statusDir}:/etc/jitsi:ro`, `${config}:/etc/signal-sidecar/config:ro`, `${hook}:/usr/jitsi/pre-run.sh:ro`],
      });
      await untilContainerHealthy(p, name);
      assert.equal(await agentAnswer(agentPort), 'up ready 100%\n');
      assert.deepEqual((await report(httpPort)).statuses, { statusFileFound: true, statusFileContents: 'ready', statusSource: 'file' });
    });

    it('sees the word change on the host through the mount', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      writeStatus('maint');
      await waitFor('the agent to say maint', async () => ((await agentAnswer(agentPort)) === 'up maint 0%\n' ? true : undefined));
    });

    it('sources /usr/jitsi/pre-run.sh before the daemon starts, as the original image did', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      const { stdout, text } = await containerLogs(p, name);
      const first = text.split('\n')[0];
      assert.equal(first, 'pre-run hook: uid 10001', 'the hook ran first, as the image\'s user');
      const starting = stdout.find((line) => line.message === 'signal-sidecar starting');
      assert.equal((starting?.config as Record<string, unknown> | undefined)?.nodeName, 'named-by-pre-run-hook', 'what the hook exported reached the daemon');
      await p.ok(['stop', '--time', '10', name]);
      assert.equal((await p.ok(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim(), '0');
    });
  });
  /**
   * The status watch of a Consul on the host's loopback (the container has
   * the host's network), as Jitsi's own deployments run it. Polls a minute
   * apart: a word that shows sooner came through the watch.
   */
  describe('with a Consul on the host network', { concurrency: false }, () => {
    let consul: ConsulAgent | undefined;
    let binary: { path: string } | { skip: string } = { skip: 'not looked for yet' };
    before(() => {
      binary = consulBinary();
    });
    after(async () => {
      await consul?.stop();
    });

    /** podman, a fresh Consul and the daemon's settings for it, or undefined after skipping. */
    const prepare = async (t: TestContext): Promise<{ p: Podman; env: Record<string, string>; agentPort: number; httpPort: number; key: string } | undefined> => {
      const p = engine(t);
      if (p === undefined || fake === undefined) return undefined;
      if ('skip' in binary) {
        t.skip(binary.skip);
        return undefined;
      }
      await consul?.stop();
      consul = await ConsulAgent.start(binary.path);
      const [httpPort, agentPort] = [await freePort(), await freePort()];
      const key = `shard-states/test/${uniqueName('shard')}`;
      const env = {
        ...QUICK,
        POLLING_INTERVAL: '60',
        HTTP_HOST: '127.0.0.1',
        TCP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        TCP_PORT: String(agentPort),
        JICOFO_ORIG: fake.jicofoOrigin,
        PROSODY_ORIG: fake.prosodyOrigin,
        CONSUL_STATUS: 'true',
        CONSUL_HOST: '127.0.0.1',
        CONSUL_PORT: String(consul.httpPort),
        CONSUL_STATUS_KEY: key,
      };
      return { p, env, agentPort, httpPort, key };
    };
    const untilAgentSays = async (port: number, answer: string): Promise<number> => {
      const started = Date.now();
      await waitFor(`the agent to say ${answer}`, async () => ((await agentAnswer(port).catch(() => '')) === `${answer}\n` ? true : undefined), 15_000, 10);
      return Date.now() - started;
    };
    const sourceOf = (body: ReportJson): unknown => (body.statuses as { statusSource?: unknown }).statusSource;
    const notKept = async (p: Podman, name: string): Promise<Record<string, unknown>[]> => (await containerLogs(p, name)).stdout.filter((line) => line.message === NOT_KEPT);

    it('keeps a KV write in its volume: the agent says it, and again after a restart while Consul is stopped', async (t) => {
      const ready = await prepare(t);
      if (ready === undefined) return;
      const { p, env, agentPort, httpPort, key } = ready;
      const name = uniqueName('consul-volume');
      const volume = uniqueName('state');
      await p.ok(['volume', 'create', volume]);
      p.onClose(() => p(['volume', 'rm', '--force', volume]));
      await startContainer(p, name, image, { env, mounts: [`${volume}:${STATE_DIR}`] });
      await untilContainerHealthy(p, name);
      assert.equal(await agentAnswer(agentPort), 'up drain 0%\n', 'no key yet: the new volume\'s word, the image\'s drain');

      await consul?.put(key, 'ready');
      const ms = await untilAgentSays(agentPort, 'up ready 100%');
      const file = await waitFor('the word in the status file', async () => {
        const shown = await p.ok(['exec', name, 'sh', '-c', `cat /etc/jitsi/shard-status; readlink /etc/jitsi/shard-status; stat -c '%a %u' ${STATE_DIR}/shard-status; ls -A ${STATE_DIR}`]);
        return shown.stdout.startsWith('ready\n') ? shown.stdout : undefined;
      });
      t.diagnostic(`consul kv put → agent line ${ms} ms (from the test, through podman's host network; the timed figures are the bench's)`);
      assert.equal(file, `ready\n${STATE_DIR}/shard-status\n644 10001\nshard-status\n`, 'through the link, readable by all, no temporary file left');
      assert.deepEqual(await notKept(p, name), []);

      await consul?.stop();
      consul = undefined;
      await p.ok(['restart', '--time', '10', name]);
      await untilContainerHealthy(p, name);
      const after = await waitFor('the first report after the restart', async () => {
        const body = await report(httpPort).catch(() => undefined);
        return body?.statuses.statusFileFound === true ? body : undefined;
      });
      assert.equal(await agentAnswer(agentPort), 'up ready 100%\n', 'the word outlived the restart, with Consul away');
      assert.equal(sourceOf(after), 'file');
      assert.equal((after.consul as { reachable?: boolean } | undefined)?.reachable, false, 'Consul is away');
    });

    it('without a writable place (the VOLUME ignored, as Kubernetes does without a volume there): one log line, and the word still applies', async (t) => {
      const ready = await prepare(t);
      if (ready === undefined) return;
      const { p, env, agentPort, key } = ready;
      const name = uniqueName('consul-readonly');
      await startContainer(p, name, image, { env, options: ['--image-volume', 'ignore'] });
      await untilContainerHealthy(p, name);
      assert.equal(await agentAnswer(agentPort), 'up drain 0%\n');
      await consul?.put(key, 'maint');
      await untilAgentSays(agentPort, 'up maint 0%');
      await consul?.put(key, 'ready');
      await untilAgentSays(agentPort, 'up ready 100%');
      const lines = await waitFor('the line about the word not kept', async () => {
        const found = await notKept(p, name);
        return found.length > 0 ? found : undefined;
      });
      assert.equal(lines.length, 1, 'one line for the episode, not one per word');
      assert.match(String(lines[0]?.error), /read-only file system/i);
      assert.equal((await p.ok(['exec', name, 'cat', '/etc/jitsi/shard-status'])).stdout, 'drain\n', 'the image\'s word, untouched');
      const state = (await p.ok(['inspect', '--format', '{{.State.Running}} {{.RestartCount}}', name])).stdout.trim();
      assert.equal(state, 'true 0', 'running, never restarted');
      assert.equal(sourceOf(await report(ready.httpPort)), 'consul');
    });

    it('seeds an empty directory mounted at the state directory (a Kubernetes emptyDir) with drain', async (t) => {
      const p = engine(t);
      if (p === undefined || fake === undefined) return;
      const [httpPort, agentPort] = [await freePort(), await freePort()];
      const dir = join(work, 'empty-state');
      mkdirSync(dir);
      chownSync(dir, 10001, 10001);
      chmodSync(work, 0o755);
      const name = uniqueName('empty-state');
      const env = { ...QUICK, HTTP_HOST: '127.0.0.1', TCP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), TCP_PORT: String(agentPort), JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin };
      await startContainer(p, name, image, { env, mounts: [`${dir}:${STATE_DIR}`] });
      await untilContainerHealthy(p, name);
      assert.equal(await agentAnswer(agentPort), 'up drain 0%\n');
      assert.equal(readFileSync(join(dir, 'shard-status'), 'utf8'), 'drain\n');
      const info = statSync(join(dir, 'shard-status'));
      assert.deepEqual([info.uid, info.mode & 0o777], [10001, 0o644], 'the image user\'s, readable by all');
    });
  });
});
