import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { BAD_VALUES } from '../helpers/bad-config';
import { startDaemon, type Daemon } from '../helpers/daemon';

/** sysexits EX_CONFIG, as src/app.ts exits on a bad configuration. */
const EXIT_CONFIG = 78;

/** Resolves true when a TCP connection to host:port is accepted, false when refused. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = net.connect(port, host);
    socket.setTimeout(2000, () => {
      socket.destroy();
      done(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

describe('configuration: bad values stop the daemon before it listens', () => {
  it('every variable bad at once: exit 78, one stderr line per variable, nothing bound', async () => {
    // The alias is left out: with PARTICIPANT_MAX set it is only compared, not parsed.
    const env = Object.fromEntries(
      Object.entries(BAD_VALUES)
        .filter(([name]) => name !== 'PARTIPANT_MAX')
        .map(([name, values]) => [name, values[0] ?? '']),
    );
    const daemon = await startDaemon(env, { wait: false });
    assert.equal(await daemon.exited, EXIT_CONFIG);
    const lines = daemon.stderr.join('').split('\n').filter((line) => line !== '');
    assert.equal(lines.length, Object.keys(env).length, lines.join('\n'));
    for (const [name, value] of Object.entries(env)) {
      const line = lines.find((text) => text.startsWith(`signal-sidecar: bad configuration: ${name}=`));
      assert.ok(line !== undefined, `no line for ${name}`);
      assert.ok(line.includes(JSON.stringify(value)) && line.includes('expected'), line);
    }
    assert.deepEqual(daemon.lines, [], 'nothing may start half-configured');
  });

  it('CENSUS_POLL without CENSUS_HOST: exit 78 with exactly that one line', async () => {
    const daemon = await startDaemon({ CENSUS_POLL: 'yes' }, { wait: false });
    assert.equal(await daemon.exited, EXIT_CONFIG);
    const lines = daemon.stderr.join('').split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^signal-sidecar: bad configuration: CENSUS_HOST="": expected .*CENSUS_POLL is true$/);
  });

  it('a well-formed bind address this host does not have: non-zero exit with one error line', async () => {
    // 192.0.2.1 is TEST-NET-1: valid syntax, never a local address, so the bind itself fails.
    const daemon = await startDaemon({ HTTP_HOST: '192.0.2.1' }, { wait: false });
    assert.notEqual(await daemon.exited, 0);
    const errors = daemon.logs().filter((line) => line.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(String(errors[0]?.message), /cannot start/);
  });
});

describe('exposure: HTTP_HOST and TCP_HOST choose the listening address', () => {
  const fake = new FakeSignalNode();
  let daemon: Daemon;

  before(async () => {
    await fake.start();
    daemon = await startDaemon(
      { JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin, HTTP_HOST: '127.0.0.2', TCP_HOST: '127.0.0.2' },
      { status: 'ready' },
    );
  });
  after(async () => {
    await daemon.stop();
    await fake.stop();
  });

  it('answers on the chosen address', async () => {
    const response = await fetch(`http://127.0.0.2:${daemon.httpPort}/health`);
    assert.equal(response.status, 200);
    assert.equal(await accepts('127.0.0.2', daemon.agentPort), true);
  });

  it('refuses the same ports on 127.0.0.1', async () => {
    assert.equal(await accepts('127.0.0.1', daemon.httpPort), false);
    assert.equal(await accepts('127.0.0.1', daemon.agentPort), false);
  });

  it('says where it listens', () => {
    const line = daemon.logs().find((entry) => entry.message === 'signal-sidecar listening');
    assert.equal(line?.http, `127.0.0.2:${daemon.httpPort}`);
    assert.equal(line?.agent, `127.0.0.2:${daemon.agentPort}`);
  });
});
