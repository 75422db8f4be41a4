import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import dotenv from 'dotenv';
import {
  checkConfig,
  configTemplate,
  defaultLabel,
  EXIT,
  formatReport,
  helpText,
  parseArgs,
  reportUrl,
  runCli,
  versionText,
  type FetchedReport,
} from '../../src/cli/cli';
import { writeStatusFile } from '../../src/collect/status-file';
import { loadConfig, VARIABLES, type Config } from '../../src/config/config';
import { ROOT } from '../helpers/daemon';

/** The report of the contract, as the daemon sends it. */
const REPORT = {
  time: '2026-01-01T00:00:00.000Z',
  healthy: true,
  healthdamped: false,
  status: 'ready',
  weight: '100%',
  agentmessage: 'up ready 100%',
  services: {
    jicofoHealthy: true,
    jicofoReachable: true,
    jicofoSoftDown: false,
    jicofoStatusCode: 200,
    jicofoStatusContents: '',
    jicofoStatsReachable: true,
    jicofoStatsStatusCode: 200,
    prosodyHealthy: true,
    prosodyReachable: true,
    prosodySoftDown: false,
    prosodyStatusCode: 200,
  },
  statuses: { statusFileFound: true, statusFileContents: 'ready' },
  stats: { jicofoParticipants: 120, jicofoConferences: 12 },
};

function capture(env: Record<string, string> = {}, fetchReport?: (url: string) => Promise<FetchedReport>, confirmWithinMs = 300) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      env,
      stdout: (text: string) => void out.push(text),
      stderr: (text: string) => void err.push(text),
      ...(fetchReport === undefined ? {} : { fetchReport }),
      confirmWithinMs,
    },
  };
}

/** Runs `body` with a fresh directory and removes it afterwards, whatever happened. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-cli-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const config = (env: Record<string, string>): Config => {
  const loaded = loadConfig(env).config;
  assert.ok(loaded);
  return loaded;
};

describe('parseArgs', () => {
  it('knows every command and rejects the rest', () => {
    assert.deepEqual(parseArgs(['--help']), { kind: 'help' });
    assert.deepEqual(parseArgs(['-h']), { kind: 'help' });
    assert.deepEqual(parseArgs(['--version']), { kind: 'version' });
    assert.deepEqual(parseArgs(['--check-config']), { kind: 'check-config' });
    assert.deepEqual(parseArgs(['status']), { kind: 'status' });
    for (const word of ['ready', 'drain', 'maint'] as const) assert.deepEqual(parseArgs([word]), { kind: 'set', word });
    assert.equal(parseArgs(['unhealthy']).kind, 'usage-error', 'unhealthy is for tests, not a CLI command');
    assert.equal(parseArgs(['drain', 'now']).kind, 'usage-error');
    assert.equal(parseArgs([]).kind, 'usage-error');
  });
});

describe('--help', () => {
  it('lists every variable of the schema with its default and meaning', () => {
    const help = helpText();
    for (const variable of Object.values(VARIABLES)) {
      const line = help.split('\n').find((candidate) => candidate.trimStart().startsWith(`${variable.name} `));
      assert.ok(line, `${variable.name} is listed`);
      assert.ok(line.includes(variable.meaning), `${variable.name} has its meaning`);
      assert.ok(line.endsWith(`[${defaultLabel(variable)}]`), `${variable.name} has its default: ${line}`);
      if (variable.defaultText !== undefined && variable.defaultText !== '') assert.ok(line.endsWith(`[${variable.defaultText}]`));
    }
  });

  it('names the oldest Node.js that package.json\'s engines accept', () => {
    const { engines } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { engines: { node: string } };
    const oldest = /^>=(\d+)$/.exec(engines.node)?.[1];
    assert.ok(oldest !== undefined, `engines.node is ">=N": ${engines.node}`);
    assert.match(helpText(), new RegExp(`^Runs on Node\\.js ${oldest} or later\\.`, 'm'));
  });

  it('is what runCli prints, with exit 0', async () => {
    const { out, io } = capture();
    assert.equal(await runCli(['--help'], io), EXIT.ok);
    assert.equal(out.join(''), helpText());
  });
});

describe('--version', () => {
  it('prints the version of package.json, which the Debian changelog must carry too', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(versionText(), `signal-sidecar ${version}\n`);
    const changelog = readFileSync(join(ROOT, 'debian', 'changelog'), 'utf8');
    const debianVersion = /^signal-sidecar \(([^)]+)\)/.exec(changelog)?.[1];
    assert.equal(debianVersion?.replace(/-[^-]+$/, ''), version, 'debian/changelog version follows package.json');
  });
});

describe('--config-template', () => {
  const template = configTemplate();

  it('has every variable commented out at its default, so the file sets nothing', () => {
    assert.deepEqual(dotenv.parse(template), {});
    for (const variable of Object.values(VARIABLES)) {
      assert.ok(template.includes(`\n#${variable.name}=${variable.defaultText ?? ''}\n`), variable.name);
      assert.ok(template.includes(`# ${variable.meaning}\n`), `${variable.name} meaning`);
    }
  });

  it('loads to the default configuration with every line uncommented', () => {
    const uncommented = template.replace(/^#([A-Z_]+=)/gm, '$1');
    const env = dotenv.parse(uncommented);
    assert.equal(Object.keys(env).length, Object.keys(VARIABLES).length);
    assert.deepEqual(loadConfig(env), loadConfig({}));
  });

  it('uses TCP_PORT, not the HA_PORT of the original package', () => {
    assert.ok(template.includes('#TCP_PORT=6060'));
    assert.ok(!template.includes('HA_PORT'));
  });
});

describe('--check-config', () => {
  it('exits 0 on a good configuration and names what is set', () => {
    const result = checkConfig({ HTTP_PORT: '7000', LOG_LEVEL: 'debug' });
    assert.equal(result.code, EXIT.ok);
    assert.match(result.stdout, /configuration OK \(set: HTTP_PORT, LOG_LEVEL\)/);
    assert.equal(result.stderr, '');
  });

  it('exits 1 listing every problem, one line each', async () => {
    const { out, err, io } = capture({ HTTP_PORT: '0', TCP_PORT: 'x', POLLING_INTERVAL: '-1', CENSUS_POLL: 'true', METRICS: 'maybe' });
    assert.equal(await runCli(['--check-config'], io), EXIT.failed);
    assert.equal(out.join(''), '');
    const lines = err.join('').trimEnd().split('\n');
    for (const name of ['HTTP_PORT', 'TCP_PORT', 'POLLING_INTERVAL', 'CENSUS_HOST', 'METRICS']) {
      assert.equal(lines.filter((line) => line.startsWith(`problem: ${name}=`)).length, 1, `${name} in ${lines.join('\n')}`);
    }
    assert.equal(lines.at(-1), '5 problem(s) in the configuration');
  });

  it('points out the HA_PORT of the original package, which was never read', () => {
    const result = checkConfig({ HA_PORT: '6061' });
    assert.equal(result.code, EXIT.ok);
    assert.match(result.stderr, /^warning: HA_PORT=6061 is not read .*TCP_PORT$/m);
  });

  it('shows warnings without failing', () => {
    const result = checkConfig({ HEALTH_DAMPENING_INTERVAL: '60', DRAIN_GRACE_INTERVAL: '10' });
    assert.equal(result.code, EXIT.ok);
    assert.match(result.stderr, /^warning: DRAIN_GRACE_INTERVAL=10 is below/);
  });
});

describe('reportUrl', () => {
  it('asks loopback when the daemon binds every interface, the bound address otherwise', () => {
    assert.equal(reportUrl(config({})), 'http://127.0.0.1:6000/signal/report');
    assert.equal(reportUrl(config({ HTTP_HOST: '0.0.0.0', HTTP_PORT: '7001' })), 'http://127.0.0.1:7001/signal/report');
    assert.equal(reportUrl(config({ HTTP_HOST: '10.1.2.3' })), 'http://10.1.2.3:6000/signal/report');
    assert.equal(reportUrl(config({ HTTP_HOST: '::1' })), 'http://[::1]:6000/signal/report');
  });
});

describe('writeStatusFile', () => {
  it('replaces the file by rename, keeps its mode and leaves no temporary file', async () => {
    await inTempDir(async (dir) => {
    const path = join(dir, 'shard-status');
    writeFileSync(path, 'ready\n');
    chmodSync(path, 0o640);
    const before = statSync(path);
    await writeStatusFile(path, 'drain');
    const after = statSync(path);
    assert.equal(readFileSync(path, 'utf8'), 'drain\n');
    assert.notEqual(after.ino, before.ino, 'a new inode: the old file was replaced, not rewritten');
    assert.equal(after.mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ['shard-status']);
    });
  });

  it('creates a missing file readable by the service', async () => {
    await inTempDir(async (dir) => {
    const path = join(dir, 'shard-status');
    await writeStatusFile(path, 'maint');
    assert.equal(readFileSync(path, 'utf8'), 'maint\n');
    assert.equal(statSync(path).mode & 0o444, 0o444);
    });
  });

  it('never shows a reader an empty or partial file', async () => {
    await inTempDir(async (dir) => {
    const path = join(dir, 'shard-status');
    writeFileSync(path, 'ready\n');
    const seen = new Set<string>();
    let writing = true;
    const reader = (async () => {
      while (writing) {
        seen.add(readFileSync(path, 'utf8'));
        await new Promise((done) => setImmediate(done));
      }
    })();
    for (let i = 0; i < 100; i += 1) await writeStatusFile(path, i % 2 === 0 ? 'drain' : 'ready');
    writing = false;
    await reader;
    assert.deepEqual([...seen].sort(), ['drain\n', 'ready\n']);
    });
  });

  it('fails without leaving anything when the directory does not exist', async () => {
    await inTempDir(async (dir) => {
    await assert.rejects(writeStatusFile(join(dir, 'missing', 'shard-status'), 'drain'), { code: 'ENOENT' });
    assert.deepEqual(readdirSync(dir), []);
    });
  });
});

describe('formatReport', () => {
  it('shows health, status, weight, participants and why', () => {
    const text = formatReport(REPORT, 200);
    assert.match(text, /^health: +healthy \[HTTP 200\]$/m);
    assert.match(text, /^status: +ready$/m);
    assert.match(text, /^weight: +100%$/m);
    assert.match(text, /^participants: +120 in 12 conferences$/m);
    assert.match(text, /^why: +nothing is wrong$/m);
  });

  it('explains an unhealthy node from the report fields', () => {
    const text = formatReport(
      {
        ...REPORT,
        healthy: false,
        status: 'drain',
        weight: '0%',
        agentmessage: 'down drain 0%',
        services: { ...REPORT.services, jicofoHealthy: false, jicofoSoftDown: false, jicofoStatusCode: 500 },
        statuses: { statusFileFound: true, statusFileContents: 'drain' },
        stats: { jicofoParticipants: null, jicofoConferences: null },
      },
      503,
    );
    assert.match(text, /^health: +UNHEALTHY \[HTTP 503\]$/m);
    assert.match(text, /^participants: +unknown \(jicofo not healthy\)$/m);
    assert.match(text, /^jicofo: +down \(HTTP 500\)/m);
    assert.match(text, /^why: +jicofo down; status file says "drain"$/m);
  });

  it('says where the status word came from and what Consul answered', () => {
    const text = formatReport(
      {
        ...REPORT,
        statuses: { statusFileFound: true, statusFileContents: 'drain', statusSource: 'consul' },
        consul: {
          reachable: false,
          status: { key: 'shard-states/prod/shard1', keyFound: true, problem: 'HTTP 403: Permission denied' },
          reports: { key: 'signal-report/prod/shard1', lastWriteOk: false, problem: 'HTTP 403: Permission denied' },
        },
      },
      200,
    );
    assert.match(text, /^status file: +"drain" \(from Consul key shard-states\/prod\/shard1\)$/m);
    assert.match(
      text,
      /^consul: +NOT reachable; watching shard-states\/prod\/shard1: HTTP 403: Permission denied; reports to signal-report\/prod\/shard1 failing: HTTP 403: Permission denied$/m,
    );
    assert.doesNotMatch(formatReport(REPORT, 200), /^consul:/m, 'no Consul line when Consul is not used');
  });

  it('prints the daemon\'s own reasons when the report has them', () => {
    const text = formatReport({ ...REPORT, reasons: ['jicofo health 503', 'drain grace until 12:00:00'] }, 200);
    assert.match(text, /^why:\n {2}- jicofo health 503\n {2}- drain grace until 12:00:00$/m);
  });
});

describe('runCli against a fake daemon', () => {
  const answer = (report: object, httpStatus = 200): FetchedReport => ({ httpStatus, body: JSON.stringify(report) });

  it('drain: writes the file, then waits until the daemon shows the new word', async () => {
    await inTempDir(async (dir) => {
    const statusFile = join(dir, 'shard-status');
    const urls: string[] = [];
    let calls = 0;
    const fetchReport = (url: string): Promise<FetchedReport> => {
      urls.push(url);
      calls += 1;
      // The first answer predates the change, as it would right after the rename.
      const contents = calls === 1 ? 'ready' : readFileSync(statusFile, 'utf8').trim();
      return Promise.resolve(answer({ ...REPORT, status: contents, statuses: { statusFileFound: true, statusFileContents: contents } }));
    };
    const { out, err, io } = capture({ STATUS_PATH: statusFile, HTTP_PORT: '7100' }, fetchReport);
    assert.equal(await runCli(['drain'], io), EXIT.ok, err.join(''));
    assert.equal(readFileSync(statusFile, 'utf8'), 'drain\n');
    assert.equal(calls, 2);
    assert.deepEqual(new Set(urls), new Set(['http://127.0.0.1:7100/signal/report']));
    assert.match(out.join(''), /wrote "drain" to .*shard-status\n(.|\n)*^status: +drain$/m);
    });
  });

  it('drain: exit 3 when the daemon never shows the change, and the file stays written', async () => {
    await inTempDir(async (dir) => {
    const statusFile = join(dir, 'shard-status');
    const { err, io } = capture({ STATUS_PATH: statusFile }, () => Promise.resolve(answer(REPORT)), 200);
    const started = Date.now();
    assert.equal(await runCli(['maint'], io), EXIT.unconfirmed);
    assert.ok(Date.now() - started < 2000, 'the wait is bounded');
    assert.equal(readFileSync(statusFile, 'utf8'), 'maint\n');
    assert.match(err.join(''), /still shows status file "ready"/);
    });
  });

  it('drain: exit 1 naming the file when it cannot be written', async () => {
    const { err, io } = capture({ STATUS_PATH: '/nonexistent/dir/shard-status' }, () => Promise.reject(new Error('unused')));
    assert.equal(await runCli(['drain'], io), EXIT.failed);
    assert.match(err.join(''), /cannot write \/nonexistent\/dir\/shard-status/);
  });

  it('status: exit 0 healthy, 1 unhealthy, 3 before the first poll or with no daemon', async () => {
    const healthy = capture({}, () => Promise.resolve(answer(REPORT)));
    assert.equal(await runCli(['status'], healthy.io), EXIT.ok);
    assert.match(healthy.out.join(''), /^status: +ready$/m);

    const sick = capture({}, () => Promise.resolve(answer({ ...REPORT, healthy: false }, 503)));
    assert.equal(await runCli(['status'], sick.io), EXIT.failed);

    const early = capture({}, () => Promise.resolve({ httpStatus: 503, body: 'NOT_OK' }));
    assert.equal(await runCli(['status'], early.io), EXIT.unconfirmed);
    assert.match(early.err.join(''), /first poll/);

    const refused = capture({}, () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
    assert.equal(await runCli(['status'], refused.io), EXIT.unconfirmed);
    assert.match(refused.err.join(''), /no answer from the daemon at http:\/\/127\.0\.0\.1:6000\/signal\/report: ECONNREFUSED/);
  });

  it('refuses to act on a bad configuration', async () => {
    const { err, io } = capture({ HTTP_PORT: '99999' }, () => Promise.reject(new Error('unused')));
    assert.equal(await runCli(['status'], io), EXIT.failed);
    assert.match(err.join(''), /bad configuration: HTTP_PORT="99999"/);
  });

  it('exit 2 on a usage error', async () => {
    const { err, io } = capture();
    assert.equal(await runCli(['drian'], io), EXIT.usage);
    assert.match(err.join(''), /unknown command: drian/);
  });
});
