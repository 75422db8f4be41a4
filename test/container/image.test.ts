import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { agentAnswer, freePort, get, QUICK, report, ROOT, shippedLaunch, waitFor } from '../helpers/daemon';
import { BASE_IMAGE, buildImage, containerLogs, ensureBaseImage, imageSize, mib, startContainer, suiteEngine, uniqueName, untilContainerHealthy } from '../helpers/podman';

/**
 * The image built from the project's Dockerfile with the real engine
 * (Debian's podman), run as an operator would: read-only root, host network
 * beside a signal node (the fake one, on loopback), first with nothing
 * mounted, then with a status directory, a configuration file and the
 * original image's pre-run hook mounted.
 */

const APP = '/usr/share/signal-sidecar';

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
      assert.deepEqual([body.healthy, body.status, body.statuses], [true, 'drain', { statusFileFound: true, statusFileContents: 'drain' }]);
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

    it('runs as a non-root user on a read-only root', async (t) => {
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
      assert.deepEqual((await report(httpPort)).statuses, { statusFileFound: true, statusFileContents: 'ready' });
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
});
