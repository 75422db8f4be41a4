import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { agentAnswer, freePort, get, QUICK, report, ROOT, waitFor } from '../helpers/daemon';
import { buildImage, ensureBaseImage, suiteEngine, uniqueName, untilContainerHealthy, type Podman } from '../helpers/podman';
import { run } from '../helpers/run';
import { ensureTools } from '../helpers/tools';

/**
 * The deployment examples, run with real engines: examples/compose.yaml
 * validated by Docker Compose (Debian 13's, whose schema is the Compose
 * Specification's) and brought up with it against podman's Docker API;
 * examples/kubernetes.yaml played with `podman kube play`. No registry is
 * reachable here, so the Jitsi images are replaced by stand-ins built from
 * the sidecar's own image: a "jicofo" that serves the fake signal node's
 * jicofo on localhost:8888 of its own network namespace (as jicofo does since
 * stable-10314) and a "prosody" that serves BOSH only for the XMPP domain.
 * The sidecar's own settings from the examples stay as written; the tests
 * add quick polling and publish its ports on free loopback ports.
 */

const COMPOSE_FILE = join(ROOT, 'examples', 'compose.yaml');
const KUBE_FILE = join(ROOT, 'examples', 'kubernetes.yaml');
/** What examples/compose.yaml says the operator must fill in. */
const COMPOSE_ENV = { JICOFO_AUTH_PASSWORD: 'test-only', JVB_AUTH_PASSWORD: 'test-only', SHARD_NAME: 'shard-under-test' };

/** The fake signal node, compiled by `npm run build`, and its payloads, for the stand-ins. */
const STAND_IN_MOUNTS = [`${join(ROOT, 'dist')}:/stand-in/dist:ro`, `${join(ROOT, 'test', 'fixtures')}:/stand-in/test/fixtures:ro`];
const standIn = (jicofoPort: number, prosodyPort: number): string =>
  `process.on('SIGTERM', () => process.exit(0));` +
  `const { FakeSignalNode } = require('/stand-in/dist/demo/fake-signal-node.js');` +
  `new FakeSignalNode().start(${jicofoPort}, ${prosodyPort}).then(() => console.log('stand-in on localhost:${jicofoPort} and :${prosodyPort}'));`;
/** docker-jitsi-meet's prosody, as far as the sidecar sees it: BOSH on 5280 for the XMPP domain only, on the shard's network. */
const PROSODY_STAND_IN =
  `process.on('SIGTERM', () => process.exit(0));` +
  `const page = require('fs').readFileSync('/stand-in/test/fixtures/prosody-http-bind.html');` +
  `require('http').createServer((req, res) => {` +
  `  const ours = req.url.startsWith('/http-bind') && (req.headers.host || '').split(':')[0] === 'meet.jitsi';` +
  `  res.writeHead(ours ? 200 : 404, { 'Content-Type': 'text/html' }).end(ours ? page : 'Unknown host');` +
  `}).listen(5280, () => console.log('stand-in prosody on :5280'));`;

type Json = Record<string, unknown>;

describe('deployment examples', { concurrency: false }, () => {
  const suite = suiteEngine();
  const { engine } = suite;
  const image = `localhost/${uniqueName('image')}:test`;
  const work = mkdtempSync(join(tmpdir(), 'sidecar-examples-'));

  // The image test builds and checks the image; here it is only the examples' sidecar.
  before(async () => {
    const podman = await suite.open();
    if (podman === undefined) return;
    const base = await ensureBaseImage(podman);
    if ('problem' in base) suite.refuse(base.problem);
    else await buildImage(podman, image);
  });

  after(async () => {
    await suite.close();
    rmSync(work, { recursive: true, force: true });
  });

  describe('compose.yaml', { concurrency: false }, () => {
    /** Docker Compose from Debian 13, in a container of its own (the host is Debian 12, whose podman-compose 1.0.3 cannot run this file: see below). */
    let compose: string | undefined;
    const composeTool = async (p: Podman): Promise<string> => {
      if (compose !== undefined) return compose;
      const tag = `localhost/${uniqueName('compose')}:test`;
      // The LABEL makes the install a layer of its own, which stays in podman's build cache when the tag goes.
      writeFileSync(
        join(work, 'Containerfile'),
        'FROM debian:trixie-slim\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose && rm -rf /var/lib/apt/lists/*\nLABEL org.signal-sidecar.test-tool=docker-compose\n',
      );
      p.onClose(() => p(['rmi', '--no-prune', '--force', tag]));
      await p.ok(['build', '--network=host', '--pull=never', '--tag', tag, '--file', join(work, 'Containerfile'), work], { timeoutMs: 10 * 60_000 });
      compose = tag;
      return tag;
    };
    const fillIn = Object.entries(COMPOSE_ENV).flatMap(([name, value]) => ['--env', `${name}=${value}`]);

    it('is valid by Docker Compose (Debian 13, the Compose Specification\'s schema), which also rejects a misspelt key', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      const tool = await composeTool(p);
      const misspelt = join(work, 'misspelt.yaml');
      writeFileSync(misspelt, readFileSync(COMPOSE_FILE, 'utf8').replace(/^(\s+)network_mode: service:jicofo$/m, '$1network_mod: service:jicofo'));
      const check = (file: string): ReturnType<typeof run> => p(['run', '--rm', '--network=none', ...fillIn, '--volume', `${file}:/check/compose.yaml:ro`, tool, 'docker-compose', '--file', '/check/compose.yaml', 'config', '--quiet']);
      const version = await p.ok(['run', '--rm', '--network=none', tool, 'docker-compose', 'version', '--short']);
      t.diagnostic(`Docker Compose ${version.stdout.trim()} from Debian 13`);
      const valid = await check(COMPOSE_FILE);
      assert.equal(valid.code, 0, valid.stderr);
      const invalid = await check(misspelt);
      assert.notEqual(invalid.code, 0);
      assert.match(invalid.stderr, /network_mod is not allowed/);
    });

    /**
     * Debian 12's podman-compose (1.0.3) cannot run this file: it fails on
     * network aliases written as a mapping (KeyError in assert_cnt_nets) and
     * does not implement `network_mode: service:NAME` (both fixed in 1.0.4).
     * So Docker Compose runs it, against podman's Docker-compatible API.
     */
    it('comes up with Docker Compose on podman: the sidecar in jicofo\'s namespace, prosody by its alias, drain from the new volume, ready by the command (no root needed)', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      const dnsname = await ensureCniDnsname();
      if (dnsname !== undefined) return t.skip(dnsname);
      const tool = await composeTool(p);
      const socket = await podmanService(p, join(work, 'podman.sock'));
      const project = uniqueName('compose');
      const [agentPort, httpPort] = [await freePort(), await freePort()];
      const file = join(work, 'compose.yaml');
      writeFileSync(file, stringify(withStandIns(parse(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeFile, image, agentPort, httpPort)));
      const composeRun = (args: string[]): ReturnType<typeof run> =>
        p(['run', '--rm', '--network=host', '--volume', `${socket}:/var/run/docker.sock`, '--volume', `${work}:${work}:ro`, ...fillIn, tool, 'docker-compose', '--file', file, '--project-name', project, ...args], { timeoutMs: 180_000 });
      p.onClose(async () => {
        await composeRun(['down', '--volumes', '--timeout', '5']);
        await removeProject(p, project);
      });
      const up = await composeRun(['up', '--detach']);
      assert.equal(up.code, 0, up.stdout.slice(-3000) + up.stderr.slice(-3000));
      const name = await containerOf(p, project, 'signal-sidecar');
      await untilContainerHealthy(p, name);
      const body = await waitFor('the sidecar to see jicofo and prosody', async () => {
        const answer = await report(httpPort);
        return answer.healthy ? answer : undefined;
      }, 30_000, 200);
      assert.equal(body.services.jicofoHealthy, true, 'jicofo on localhost:8888 of the shared namespace');
      assert.equal(body.services.prosodyHealthy, true, 'prosody at xmpp.meet.jitsi:5280 with Host meet.jitsi');
      assert.deepEqual(body.statuses, { statusFileFound: true, statusFileContents: 'drain', statusSource: 'file' }, 'the new volume starts with the image\'s drain');
      assert.equal(await agentAnswer(agentPort), 'up drain 0%\n');
      // As the file's comment says: the state volume is the image user's to write.
      const ready = await p(['exec', name, 'signal-sidecar', 'ready']);
      assert.equal(ready.code, 0, ready.stdout + ready.stderr);
      assert.equal(await agentAnswer(agentPort), 'up ready 100%\n');
      assert.equal((await p.ok(['exec', name, 'readlink', '/etc/jitsi/shard-status'])).stdout.trim(), '/var/lib/signal-sidecar/shard-status', 'written through the link');
      assert.equal((await p.ok(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', name])).stdout.trim(), 'true');
      const down = await composeRun(['down', '--volumes', '--timeout', '5']);
      assert.equal(down.code, 0, down.stderr.slice(-2000));
    });
  });

  describe('kubernetes.yaml', { concurrency: false }, () => {
    it('plays with podman kube play: the probes\' endpoints answer, the agent reads the ConfigMap\'s word', async (t) => {
      const p = engine(t);
      if (p === undefined) return;
      // A pod's infra container runs catatonit, a package of its own.
      const tools = await ensureTools({ catatonit: 'catatonit' });
      if (tools !== undefined) return t.skip(tools);
      const documents = parseAllDocuments(readFileSync(KUBE_FILE, 'utf8')).map((document) => document.toJS() as Json);
      const configMap = documents.find((document) => document.kind === 'ConfigMap') as { metadata: { name: string }; data: Record<string, string> };
      const deployment = documents.find((document) => document.kind === 'Deployment') as { metadata: { name: string }; spec: { template: { spec: { containers: Json[]; volumes: Json[] } } } };
      const pod = deployment.spec.template.spec;
      const name = uniqueName('shard');
      deployment.metadata.name = name;
      configMap.metadata.name = `${name}-status`;
      // Not the image's own word, so an answer of `ready` can only come from the ConfigMap.
      configMap.data['shard-status'] = 'ready';
      for (const volume of pod.volumes) if (volume.configMap !== undefined) volume.configMap = { name: configMap.metadata.name };
      pod.volumes.push({ name: 'stand-in-dist', hostPath: { path: join(ROOT, 'dist') } }, { name: 'stand-in-fixtures', hostPath: { path: join(ROOT, 'test', 'fixtures') } });

      const sidecar = pod.containers.find((container) => container.name === 'signal-sidecar') as { image: string; env: { name: string; value?: string }[]; ports: { name: string; containerPort: number; hostPort?: number; hostIP?: string }[]; livenessProbe: { httpGet: { path: string; port: string } }; readinessProbe: { httpGet: { path: string; port: string } } };
      sidecar.image = image;
      // No prosody Service here: the jicofo stand-in serves the fake prosody in the pod too.
      sidecar.env = [...sidecar.env.map((variable) => (variable.name === 'PROSODY_ORIG' ? { name: variable.name, value: 'http://localhost:5280' } : variable)), ...Object.entries(QUICK).map(([variable, value]) => ({ name: variable, value }))];
      const hostPorts: Record<string, number> = {};
      for (const port of sidecar.ports) {
        port.hostPort = hostPorts[port.name] = await freePort();
        port.hostIP = '127.0.0.1';
      }
      const jicofo = pod.containers.findIndex((container) => container.name === 'jicofo');
      pod.containers[jicofo] = {
        name: 'jicofo',
        image,
        command: ['/usr/bin/node', '-e', standIn(8888, 5280)],
        volumeMounts: [{ name: 'stand-in-dist', mountPath: '/stand-in/dist', readOnly: true }, { name: 'stand-in-fixtures', mountPath: '/stand-in/test/fixtures', readOnly: true }],
      };
      const file = join(work, 'kubernetes.yaml');
      writeFileSync(file, documents.map((document) => stringify(document)).join('---\n'));
      p.onClose(async () => {
        await p(['kube', 'down', file], { timeoutMs: 120_000 });
        // kube down leaves the volume it made of the ConfigMap.
        await p(['volume', 'rm', '--force', configMap.metadata.name]);
      });
      const played = await p(['kube', 'play', file], { timeoutMs: 180_000 });
      assert.equal(played.code, 0, played.stdout + played.stderr);

      const inPod = await p.ok(['ps', '--all', '--filter', `pod=${name}-pod-0`, '--filter', `pod=${name}-pod`, '--format', '{{.Names}}']);
      const container = inPod.stdout.split('\n').find((line) => line.endsWith('-signal-sidecar')) ?? '';
      assert.notEqual(container, '', `the sidecar's container among: ${inPod.stdout}`);
      const readiness = sidecar.readinessProbe.httpGet;
      const liveness = sidecar.livenessProbe.httpGet;
      const ready = await waitFor('the readiness probe\'s endpoint to answer 200', async () => {
        const answer = await get(hostPorts[readiness.port] ?? 0, readiness.path).catch(() => undefined);
        return answer?.status === 200 ? answer : undefined;
      }, 30_000, 200);
      assert.equal(ready.body, 'OK');
      assert.deepEqual(await get(hostPorts[liveness.port] ?? 0, liveness.path), { status: 200, type: 'text/plain; charset=utf-8', body: 'OK' });
      assert.equal(await agentAnswer(hostPorts.agent ?? 0), 'up ready 100%\n', 'the word from the ConfigMap');
      // The emptyDir: a writable place for the Consul word under the read-only root, which starts drained.
      const state = await p(['exec', container, 'sh', '-c', 'cat /var/lib/signal-sidecar/shard-status && touch /var/lib/signal-sidecar/.written && rm /var/lib/signal-sidecar/.written && echo writable']);
      assert.equal(state.stdout, 'drain\nwritable\n', state.stderr);
      const body = await report(hostPorts.http ?? 0);
      assert.equal(body.services.jicofoHealthy, true, 'jicofo at localhost:8888 of the pod');
      const inspected = (await p.ok(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{json .Config.Healthcheck}}', container])).stdout.trim();
      t.diagnostic(`podman's view of the sidecar container (read-only root, user, the probe it made a health check of): ${inspected}`);
      assert.match(inspected, /^true 10001(:10001)? /);
    });
  });
});

interface ComposeFile {
  name?: string;
  services: Record<string, Json>;
}

/**
 * The example with stand-ins for the Jitsi images, the test's image for the
 * sidecar (no build), quick polling, and the sidecar's ports (published on
 * jicofo, whose namespace it shares) on free loopback ports.
 */
function withStandIns(compose: ComposeFile, image: string, agentPort: number, httpPort: number): ComposeFile {
  const { services } = compose;
  const sidecar = services['signal-sidecar'] ?? {};
  delete sidecar.build;
  sidecar.image = image;
  sidecar.environment = { ...(sidecar.environment as Json), ...QUICK };
  services.jicofo = { ...services.jicofo, image, entrypoint: ['/usr/bin/node', '-e', standIn(8888, 8889)], volumes: STAND_IN_MOUNTS, ports: [`127.0.0.1:${agentPort}:6060`, `127.0.0.1:${httpPort}:6000`] };
  services.prosody = { ...services.prosody, image, entrypoint: ['/usr/bin/node', '-e', PROSODY_STAND_IN], volumes: STAND_IN_MOUNTS };
  return compose;
}

/** podman's Docker-compatible API on a socket of the test's, until close(). */
async function podmanService(podman: Podman, socket: string): Promise<string> {
  const service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { env: { ...process.env, CONTAINERS_CONF: podman.containersConf }, stdio: 'ignore' });
  const exited = new Promise((done) => service.once('exit', done));
  podman.onClose(async () => {
    service.kill('SIGTERM');
    await exited;
  });
  await waitFor('podman\'s API socket', () => (existsSync(socket) ? true : undefined));
  return socket;
}

async function containerOf(podman: Podman, project: string, service: string): Promise<string> {
  const listed = await podman.ok(['ps', '--all', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`, '--format', '{{.Names}}']);
  const name = listed.stdout.trim().split('\n')[0] ?? '';
  assert.notEqual(name, '', `a container of ${service}`);
  return name;
}

/** Whatever `down` left of a project: containers, volumes, networks. */
async function removeProject(podman: Podman, project: string): Promise<void> {
  const label = `label=com.docker.compose.project=${project}`;
  for (const [kind, list] of [
    ['container', ['ps', '--all', '--filter', label, '--format', '{{.Names}}']],
    ['volume', ['volume', 'ls', '--filter', label, '--format', '{{.Name}}']],
    ['network', ['network', 'ls', '--filter', label, '--format', '{{.Name}}']],
  ] as const) {
    const names = (await podman([...list])).stdout.split('\n').filter((line) => line !== '');
    for (const name of names) await podman(kind === 'container' ? ['rm', '--force', '--time', '0', name] : [kind, 'rm', '--force', name]);
  }
}

/** Service names and aliases on a CNI network resolve only with the dnsname plugin, a package of its own. */
async function ensureCniDnsname(): Promise<string | undefined> {
  const plugin = '/usr/lib/cni/dnsname';
  if (existsSync(plugin)) return undefined;
  const installed = await run(join(ROOT, 'scripts', 'install-test-tools.sh'), ['golang-github-containernetworking-plugin-dnsname'], { timeoutMs: 5 * 60_000 });
  return existsSync(plugin) ? undefined : `${plugin} is missing and could not be installed: ${installed.stderr.trim().split('\n').slice(-2).join(' ')}`;
}
