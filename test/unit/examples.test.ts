import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, VARIABLES } from '../../src/config/config';
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

/**
 * The example as an operator who turns Consul on has it: the commented lines
 * of its block that begins "# Consul, as Jitsi's own deployments use it"
 * that `settings` recognises as YAML, with their "# " taken away.
 */
function withConsulOn(text: string, settings: RegExp): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^\s+# Consul, as Jitsi's own deployments use it/.test(line));
  assert.ok(start >= 0, 'the example has a commented Consul block');
  let uncommented = 0;
  for (let index = start + 1; index < lines.length && /^\s+#/.test(lines[index] ?? ''); index += 1) {
    const match = settings.exec(lines[index] ?? '');
    if (match === null) continue;
    lines[index] = `${match[1] ?? ''}${match[2] ?? ''}`;
    uncommented += 1;
  }
  assert.ok(uncommented > 0, 'the block holds settings');
  return lines.join('\n');
}

const knownVariables = new Set<string>(Object.values(VARIABLES).map((variable) => variable.name));

/** Settings that loadConfig takes without a problem, every one a variable of the daemon's. */
function assertValidSettings(env: Record<string, string>): void {
  for (const name of Object.keys(env)) assert.ok(knownVariables.has(name), `${name} is a variable of the daemon`);
  assert.deepEqual(loadConfig(env).problems, []);
}

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

  void it('keeps the status word in a volume at the state directory, on a read-only root', () => {
    assert.deepEqual(sidecar.volumes, ['signal-sidecar-state:/var/lib/signal-sidecar']);
    assert.ok('signal-sidecar-state' in compose.volumes);
    assert.match(dockerfile, /^VOLUME \/var\/lib\/signal-sidecar$/m, 'where the image keeps it');
    assert.equal(sidecar.read_only, true);
  });

  void it('shows the Consul settings commented out, valid once uncommented', () => {
    const on = parse(withConsulOn(readFileSync(composeFile, 'utf8'), /^(\s+)# ([A-Z][A-Z_]*: .*)$/)) as { services: Record<string, Json> };
    const env = on.services['signal-sidecar']?.environment as Record<string, string>;
    const consul = Object.fromEntries(Object.entries(env).filter(([name]) => !(name in (sidecar.environment as Json))));
    assert.equal(consul.CONSUL_STATUS, 'true');
    assert.equal(consul.CONSUL_REPORTS, 'true');
    // Compose fills in ${SHARD_NAME} from the operator's environment.
    const filled = Object.fromEntries(Object.entries(consul).map(([name, value]) => [name, value.replace('${SHARD_NAME}', 'shard-1')]));
    assert.deepEqual([filled.CONSUL_STATUS_KEY, filled.CONSUL_REPORT_KEY], ['shard-states/prod/shard-1', 'signal-report/prod/shard-1'], 'the keys Jitsi\'s deployments use');
    assertValidSettings(filled);
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

  void it('gives the daemon an emptyDir at its state directory, the one place it writes', () => {
    const mount = (sidecar.volumeMounts as unknown as { name: string; mountPath: string; readOnly?: boolean }[]).find((candidate) => candidate.mountPath === '/var/lib/signal-sidecar');
    assert.ok(mount !== undefined && mount.readOnly !== true);
    const volume = pod.volumes.find((candidate) => candidate.name === mount.name) as { emptyDir?: Json } | undefined;
    assert.ok(volume?.emptyDir !== undefined, 'an emptyDir: it outlives a restart of the container, not of the pod');
  });

  void it('shows the Consul settings commented out, valid by the same schema and keeping the word in the emptyDir once uncommented', async () => {
    const on = parseAllDocuments(withConsulOn(readFileSync(kubeFile, 'utf8'), /^(\s+)# (- name: .*|  +\S.*)$/)).map((document) => document.toJS() as Json);
    for (const document of on) await validate(document);
    const spec = (on.find((document) => document.kind === 'Deployment') as typeof deployment).spec.template.spec;
    const container = spec.containers.find((candidate) => candidate.name === 'signal-sidecar') as { env: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]; volumeMounts: { name: string; mountPath: string }[] };
    const before = new Set((sidecar.env as unknown as { name: string }[]).map((variable) => variable.name));
    const consul = container.env.filter((variable) => !before.has(variable.name));
    const values = Object.fromEntries(consul.map((variable) => [variable.name, variable.value ?? '']));
    assert.equal(values.CONSUL_STATUS, 'true');
    assert.deepEqual([values.CONSUL_STATUS_KEY, values.CONSUL_REPORT_KEY], ['shard-states/prod/shard-0', 'signal-report/prod/shard-0'], 'the keys Jitsi\'s deployments use');
    assert.equal(consul.find((variable) => variable.name === 'CONSUL_HOST')?.valueFrom?.fieldRef.fieldPath, 'status.hostIP', 'the Consul agent of the pod\'s node');
    // The status file in the emptyDir, not the read-only ConfigMap, so the Consul word is kept.
    const statusDir = (values.STATUS_PATH ?? '').replace(/\/[^/]+$/, '');
    const mount = container.volumeMounts.find((candidate) => candidate.mountPath === statusDir);
    assert.ok(spec.volumes.some((volume) => volume.name === mount?.name && volume.emptyDir !== undefined), `STATUS_PATH ${values.STATUS_PATH ?? ''} is in the emptyDir`);
    assertValidSettings({ ...values, CONSUL_HOST: '192.0.2.1' });
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
