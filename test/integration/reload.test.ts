import assert from 'node:assert/strict';
import { linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FakeSignalNode, REPLIES } from '../../src/demo/fake-signal-node';
import { agentAnswer, agentSays, freePort, get, report, sleep, startDaemon, verdict, waitFor, type Daemon } from '../helpers/daemon';
import { daemonSuite } from '../helpers/daemon-suite';

type Settings = Record<string, string>;

const messages = (d: Daemon): string[] => d.logs().map((line) => String(line.message));

const metric = async (d: Daemon, name: string): Promise<number> =>
  Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await get(d.httpPort, '/metrics')).body)?.[1]);

/**
 * SIGHUP (what `systemctl reload signal-sidecar` sends) through the built
 * daemon: the settings live in its configuration file, as the package has
 * them, and the file is rewritten between signals.
 */
void describe('reload on SIGHUP', () => {
  const suite = daemonSuite('sidecar-reload-');
  const { fake, scratch } = suite;
  let file = '';
  let serial = 0;

  const base = (): Settings => ({
    JICOFO_ORIG: fake.jicofoOrigin,
    PROSODY_ORIG: fake.prosodyOrigin,
    POLLING_INTERVAL: '0.2',
    PROBE_TIMEOUT: '0.5',
    HEALTH_DAMPENING_INTERVAL: '0',
    DRAIN_GRACE_INTERVAL: '0',
  });
  const writeConfig = (settings: Settings): void =>
    writeFileSync(file, `${Object.entries(settings).map(([name, value]) => `${name}=${value}`).join('\n')}\n`);

  /** Starts the daemon on `settings` in its file; `env` is its environment at start (it wins over the file). */
  const start = async (settings: Settings, env: Settings = {}, options: { status?: string; unset?: string[] } = {}): Promise<Daemon> => {
    serial += 1;
    file = join(scratch, `config-${serial}`);
    writeConfig(settings);
    const daemon = await startDaemon({ CONFIG_FILE: file, ...env }, { status: options.status ?? 'ready', unset: options.unset ?? [] });
    suite.daemon = daemon;
    await agentAnswer(daemon.agentPort);
    return daemon;
  };

  /** Writes `settings` (unless null), sends SIGHUP, and waits for the reload's last line; returns the reload's lines. */
  const reload = async (d: Daemon, settings: Settings | null, last: RegExp = /^configuration reloaded: /): Promise<Record<string, unknown>[]> => {
    if (settings !== null) writeConfig(settings);
    const from = d.lines.length;
    d.child.kill('SIGHUP');
    await waitFor('the reload to be logged', () => (d.lines.slice(from).some((line) => last.test(String((JSON.parse(line) as { message?: string }).message))) ? true : undefined));
    return d.lines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => String(line.message).startsWith('configuration reload'));
  };

  void it('applies a new configuration without a restart and names what changed in one line', async () => {
    const other = await new FakeSignalNode().start();
    try {
      const d = await start(base());
      await agentSays(d, 'up ready 100%\n');
      assert.equal((await get(d.httpPort, '/metrics')).status, 200);
      assert.equal((await get(d.httpPort, '/signal/census')).status, 404);

      const lines = await reload(d, {
        ...base(),
        JICOFO_ORIG: other.jicofoOrigin,
        PARTICIPANT_MAX: '10',
        CENSUS_POLL: 'true',
        CENSUS_HOST: 'conference.meet.example.com',
        METRICS: 'false',
        LOG_LEVEL: 'debug',
      });
      assert.deepEqual(
        lines.map((line) => [line.level, line.message]),
        [
          [
            'info',
            `configuration reloaded: JICOFO_ORIG ${fake.jicofoOrigin} → ${other.jicofoOrigin}, PARTICIPANT_MAX 5000 → 10, CENSUS_POLL false → true, ` +
              'CENSUS_HOST (unset) → conference.meet.example.com, METRICS true → false, LOG_LEVEL info → debug',
          ],
        ],
      );
      // The fake's /stats says 20 participants: above the new maximum.
      await agentSays(d, 'up drain 0%\n');
      assert.equal((await get(d.httpPort, '/metrics')).status, 404);
      await waitFor('the census', async () => {
        const census = await get(d.httpPort, '/signal/census');
        return census.status === 200 && (JSON.parse(census.body) as { room_census: unknown[] }).room_census.length > 0 ? true : undefined;
      });
      const polled = other.count('jicofoHealth');
      await waitFor('polls of the new jicofo', () => (other.count('jicofoHealth') > polled + 3 ? true : undefined));
      const old = fake.count('jicofoHealth');
      await waitFor('more polls of the new jicofo', () => (other.count('jicofoHealth') > polled + 6 ? true : undefined));
      assert.ok(fake.count('jicofoHealth') <= old + 1, 'the old jicofo is no longer polled');
      assert.ok(fake.count('census') > 0, 'the census is polled');
    } finally {
      await other.stop();
    }
  });

  void it('a shorter POLLING_INTERVAL takes effect at once', async () => {
    const d = await start({ ...base(), POLLING_INTERVAL: '600' });
    await agentSays(d, 'up ready 100%\n');
    const polled = fake.count('jicofoHealth');
    await reload(d, { ...base(), POLLING_INTERVAL: '0.2' });
    // At 600 s not one more poll would come while this test runs.
    await waitFor('polls at the new interval', () => (fake.count('jicofoHealth') > polled + 3 ? true : undefined));
  });

  void it('refuses a bad configuration, one line per problem, and keeps running on the old one', async () => {
    const good = { ...base(), PARTICIPANT_MAX: '10' };
    const d = await start(good);
    await agentSays(d, 'up drain 0%\n');

    const refused = await reload(d, { ...base(), PARTICIPANT_MAX: '5000', POLLING_INTERVAL: 'soon', WEIGHT_PARTICIPANTS: 'maybe' }, /WEIGHT_PARTICIPANTS/);
    assert.deepEqual(
      refused.map((line) => [line.level, line.message]),
      [
        ['error', 'configuration reload refused, still running on the previous one: POLLING_INTERVAL="soon": expected a number of seconds from 0.1 and at most 86400 (decimals allowed, e.g. 0.5)'],
        ['error', 'configuration reload refused, still running on the previous one: WEIGHT_PARTICIPANTS="maybe": expected true or false (also 1/0, yes/no)'],
      ],
    );
    assert.equal(await metric(d, 'signal_config_last_reload_successful'), 0);
    await sleep(500);
    assert.equal(verdict(await agentAnswer(d.agentPort)), 'up drain 0%\n', 'still PARTICIPANT_MAX=10');

    writeFileSync(file, `${Object.entries(base()).map(([name, value]) => `${name}=${value}`).join('\n')}\nPARTICIPANT_MAX 5000\n`);
    const badLine = await reload(d, null, /expected NAME=value/);
    assert.deepEqual(badLine.map((line) => line.message), [`configuration reload refused, still running on the previous one: ${file}:7: expected NAME=value, got "PARTICIPANT_MAX 5000"`]);

    rmSync(file);
    const gone = await reload(d, null, /cannot read it/);
    assert.equal(gone.length, 1);
    assert.match(String(gone[0]?.message), /^configuration reload refused, still running on the previous one: CONFIG_FILE=".*": cannot read it \(ENOENT/);
    assert.equal(verdict(await agentAnswer(d.agentPort)), 'up drain 0%\n');
    assert.equal(d.child.exitCode, null);

    await reload(d, { ...base(), PARTICIPANT_MAX: '5000' });
    await agentSays(d, 'up ready 100%\n');
    assert.equal(await metric(d, 'signal_config_last_reload_successful'), 1);
  });

  void it('logs the settings that need a restart, old → new, and keeps them; the rest applies', async () => {
    const [httpPort, tcpPort, newPort] = [await freePort(), await freePort(), await freePort()];
    const listeners = { HTTP_HOST: '127.0.0.1', TCP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), TCP_PORT: String(tcpPort) };
    // The ports come from the file here, not the environment, so a new one in the file is not overridden.
    const d = await start({ ...base(), ...listeners }, { HTTP_PORT: String(httpPort), TCP_PORT: String(tcpPort) }, { unset: ['HTTP_PORT', 'TCP_PORT', 'HTTP_HOST', 'TCP_HOST'] });
    await agentSays(d, 'up ready 100%\n');
    const lines = await reload(d, { ...base(), ...listeners, HTTP_PORT: String(newPort), TCP_HOST: '0.0.0.0', PARTICIPANT_MAX: '10' });
    assert.deepEqual(
      lines.map((line) => [line.level, line.message]),
      [
        ['warn', `configuration reload: HTTP_PORT ${httpPort} → ${newPort}, TCP_HOST 127.0.0.1 → 0.0.0.0 need a restart; the running values stay in force until then`],
        ['info', 'configuration reloaded: PARTICIPANT_MAX 5000 → 10'],
      ],
    );
    await agentSays(d, 'up drain 0%\n');
    assert.equal((await get(httpPort, '/signal/health')).status, 200, 'still answering on the old port');
    await assert.rejects(get(newPort, '/health'), 'nothing on the new port');
  });

  void it('the environment at start still wins over the file', async () => {
    const d = await start({ ...base(), PARTICIPANT_MAX: '5000' }, { PARTICIPANT_MAX: '10' });
    await agentSays(d, 'up drain 0%\n');
    const lines = await reload(d, { ...base(), PARTICIPANT_MAX: '4000' });
    assert.deepEqual(
      lines.map((line) => line.message),
      ['configuration reloaded: nothing changed'],
    );
    assert.ok(messages(d).includes('PARTICIPANT_MAX changed in the configuration file, but the environment sets it, and the environment wins'));
    await sleep(500);
    assert.equal(verdict(await agentAnswer(d.agentPort)), 'up drain 0%\n');
  });

  void it('keeps the flap memory: a drain grace and a dampening in progress go on across a reload', async () => {
    const flapping = { ...base(), DRAIN_GRACE_INTERVAL: '60', HEALTH_DAMPENING_INTERVAL: '30' };
    const d = await start(flapping);
    await agentSays(d, 'up ready 100%\n');

    fake.set('jicofoHealth', REPLIES.jicofoSoftDown());
    await agentSays(d, 'up drain 0%\n');
    await reload(d, { ...flapping, LOG_LEVEL: 'debug' });
    await sleep(500);
    assert.equal(verdict(await agentAnswer(d.agentPort)), 'up drain 0%\n', 'still in its grace');
    fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    // Healed within its grace: only ever drained, so not dampened.
    await agentSays(d, 'up ready 100%\n');

    fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    await agentSays(d, 'down ready 100%\n');
    fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    await waitFor('dampening', async () => ((await report(d.httpPort)).healthdamped ? true : undefined));
    await reload(d, { ...flapping, LOG_LEVEL: 'info' });
    await sleep(500);
    const damped = await report(d.httpPort);
    assert.equal(damped.healthdamped, true, 'still dampened after the reload');
    assert.ok(damped.reasons.some((reason) => reason.startsWith('dampening until')));

    // A shorter dampening applies to the episode in progress: its last unhealthy poll is over a second ago.
    await sleep(1200);
    await reload(d, { ...flapping, HEALTH_DAMPENING_INTERVAL: '1' });
    await agentSays(d, 'up ready 100%\n');
  });

  void it('reads the status file again on SIGHUP', async () => {
    // The status file is a hard link to a file in another directory, written
    // by that other name: inotify tells only the directory of the name
    // written through, so the watch sees nothing, and the next poll is ten
    // minutes away. Only the reload can read it. (A symbolic link is
    // followed by the watch.)
    const [links, targets] = [join(scratch, `links-${serial}`), join(scratch, `targets-${serial}`)];
    mkdirSync(links);
    mkdirSync(targets);
    const target = join(targets, 'shard-status');
    writeFileSync(target, 'ready\n');
    linkSync(target, join(links, 'shard-status'));
    const d = await start({ ...base(), POLLING_INTERVAL: '600' }, { STATUS_PATH: join(links, 'shard-status') }, { status: undefined });
    await agentSays(d, 'up ready 100%\n');
    writeFileSync(target, 'drain\n');
    await sleep(1000);
    assert.equal(verdict(await agentAnswer(d.agentPort)), 'up ready 100%\n', 'the change is not seen without the reload');
    const lines = await reload(d, null);
    assert.deepEqual(lines.map((line) => line.message), ['configuration reloaded: nothing changed']);
    await agentSays(d, 'up drain 0%\n');
  });
});
