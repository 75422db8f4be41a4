import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers/daemon';

/**
 * The deployment examples: the Kubernetes objects against the API's own
 * schemas (kubernetes-models), and for both files the wiring they rest on,
 * asserted by name (the Kubernetes schemas, like the API server by default,
 * let unknown fields pass). The compose file's schema is Docker Compose's
 * own: the container suite validates it with Compose from Debian 13, and runs
 * both files.
 */

type Json = Record<string, unknown>;

const composeFile = join(ROOT, 'examples', 'compose.yaml');
const kubeFile = join(ROOT, 'examples', 'kubernetes.yaml');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

void describe('examples/compose.yaml', () => {
  const compose = parse(readFileSync(composeFile, 'utf8')) as { services: Record<string, Json>; volumes: Json };
  const sidecar = compose.services['signal-sidecar'] ?? {};

  void it('runs the sidecar in jicofo\'s network namespace, wired to jicofo and prosody', () => {
    assert.equal(sidecar.network_mode, 'service:jicofo');
    const env = sidecar.environment as Record<string, string>;
    assert.equal(env.JICOFO_ORIG, 'http://localhost:8888', 'jicofo\'s REST API listens on localhost only');
    const prosody = compose.services.prosody?.networks as Record<string, { aliases: string[] }>;
    assert.equal(env.PROSODY_ORIG, `http://${prosody['meet.jitsi']?.aliases[0] ?? '?'}:5280`, 'prosody by its alias on the shard\'s network');
    assert.equal(env.PROSODY_HOST, (compose.services.prosody?.environment as Record<string, string>).XMPP_DOMAIN, 'BOSH only for the XMPP domain');
    const published = (compose.services.jicofo?.ports as string[]).map((port) => port.split(':').pop());
    assert.deepEqual(published, ['6060', '6000'], 'the sidecar\'s ports are published where its namespace lives');
  });

  void it('takes the status file from a volume, on a read-only root', () => {
    assert.deepEqual(sidecar.volumes, ['shard-status:/etc/jitsi']);
    assert.ok('shard-status' in compose.volumes);
    assert.equal(sidecar.read_only, true);
  });
});

void describe('examples/kubernetes.yaml', () => {
  const documents = parseAllDocuments(readFileSync(kubeFile, 'utf8')).map((document) => document.toJS() as Json);
  const deployment = documents.find((document) => document.kind === 'Deployment') as {
    spec: { template: { spec: { containers: Json[]; volumes: Json[] } } };
  };
  const pod = deployment.spec.template.spec;
  const sidecar = pod.containers.find((container) => container.name === 'signal-sidecar') as Record<string, Json>;

  /** kubernetes-models is ESM only; the tests are CommonJS. */
  async function validate(document: Json): Promise<void> {
    const [core, apps] = await Promise.all([import('kubernetes-models/v1'), import('kubernetes-models/apps/v1')]);
    // The package's base types do not resolve under the tests' CommonJS resolution; the method is there.
    type Checked = new (data: never) => { validate(): void };
    const models: Record<string, Checked> = {
      'v1/ConfigMap': core.ConfigMap as unknown as Checked,
      'apps/v1/Deployment': apps.Deployment as unknown as Checked,
    };
    const Model = models[`${String(document.apiVersion)}/${String(document.kind)}`];
    assert.ok(Model !== undefined, `a model for ${String(document.apiVersion)} ${String(document.kind)}`);
    new Model(document as never).validate();
  }

  void it('holds objects that are valid by the Kubernetes API schemas', async () => {
    assert.deepEqual(documents.map((document) => document.kind), ['ConfigMap', 'Deployment']);
    for (const document of documents) await validate(document);
  });

  void it('is checked: a probe port that is neither a number nor a name fails the same schema', async () => {
    const broken = clone(deployment);
    const container = broken.spec.template.spec.containers.find((candidate) => candidate.name === 'signal-sidecar') as { readinessProbe: { httpGet: Json } };
    container.readinessProbe.httpGet.port = { number: 6000 };
    await assert.rejects(validate(broken), /port must be/);
  });

  void it('probes liveness on /health and readiness on /signal/health, on the container\'s HTTP port', () => {
    const ports = Object.fromEntries((sidecar.ports as unknown as { name: string; containerPort: number }[]).map((port) => [port.name, port.containerPort]));
    assert.deepEqual(ports, { agent: 6060, http: 6000 });
    assert.deepEqual((sidecar.livenessProbe as { httpGet: Json }).httpGet, { path: '/health', port: 'http' });
    assert.deepEqual((sidecar.readinessProbe as { httpGet: Json }).httpGet, { path: '/signal/health', port: 'http' });
    assert.ok(Number((sidecar.readinessProbe).timeoutSeconds) > 3, 'longer than PROBE_TIMEOUT, which the first answer may wait for');
  });

  void it('reaches jicofo on localhost, shares the pod with it, and reads the status file from the ConfigMap', () => {
    const env = Object.fromEntries((sidecar.env as unknown as { name: string; value?: string }[]).map((variable) => [variable.name, variable.value]));
    assert.equal(env.JICOFO_ORIG, 'http://localhost:8888');
    assert.ok(pod.containers.some((container) => container.name === 'jicofo'));
    const mount = (sidecar.volumeMounts as unknown as { name: string; mountPath: string }[]).find((candidate) => candidate.mountPath === '/etc/jitsi');
    const volume = pod.volumes.find((candidate) => candidate.name === mount?.name) as { configMap?: { name: string } } | undefined;
    const configMap = documents.find((document) => document.kind === 'ConfigMap') as { metadata: { name: string }; data: Record<string, string> };
    assert.equal(volume?.configMap?.name, configMap.metadata.name);
    assert.equal(configMap.data['shard-status'], 'drain', 'a new shard starts drained, as the package and the image do');
  });

  void it('runs non-root on a read-only root with resource requests, as the image\'s user', () => {
    const security = sidecar.securityContext;
    assert.equal(security.runAsNonRoot, true);
    assert.equal(security.readOnlyRootFilesystem, true);
    assert.equal(security.allowPrivilegeEscalation, false);
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
    assert.deepEqual([security.runAsUser, security.runAsGroup], [Number(user?.[1]), Number(user?.[2])]);
    const resources = sidecar.resources as { requests?: Json };
    assert.ok(resources.requests?.cpu !== undefined && resources.requests.memory !== undefined);
  });
});
