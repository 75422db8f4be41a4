import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, type Config, type Environment } from '../../src/config/config';
import { parseConfigFile, type ConfigFile } from '../../src/config/config-file';
import { NEEDS_RESTART, changesBetween, planReload, reloadLines, type ReloadOutcome } from '../../src/react/reload-plan';

const PATH = '/etc/jitsi/signal-sidecar/config';

const fileOf = (text: string): ConfigFile => ({ ...parseConfigFile(text, PATH), explicit: true });

function running(env: Environment = {}, text = ''): Config {
  const { config } = loadConfig({ ...fileOf(text).values, ...env });
  assert.ok(config);
  return config;
}

function applied(outcome: ReloadOutcome): Extract<ReloadOutcome, { kind: 'applied' }> {
  assert.equal(outcome.kind, 'applied', JSON.stringify(outcome));
  return outcome;
}

void describe('reload planning', () => {
  void it('applies every changed setting and names each in the variable and the values an operator writes', () => {
    const before = 'POLLING_INTERVAL=5\nCENSUS_POLL=false\n';
    const after = 'POLLING_INTERVAL=0.5\nCENSUS_POLL=true\nCENSUS_HOST=conference.meet.example.com\nNOTIFY_URL=https://user:secret@hooks.example.com/sidecar?token=abc\nLOG_LEVEL=debug\n';
    const outcome = applied(planReload(running({}, before), {}, fileOf(after), fileOf(before)));
    assert.deepEqual(
      outcome.changes.map(({ name, from, to }) => `${name} ${from} → ${to}`),
      [
        'POLLING_INTERVAL 5 → 0.5',
        'CENSUS_POLL false → true',
        'CENSUS_HOST (unset) → conference.meet.example.com',
        'LOG_LEVEL info → debug',
        'NOTIFY_URL (none) → https://hooks.example.com/sidecar',
      ],
    );
    assert.equal(outcome.config.pollingIntervalMs, 500);
    assert.equal(outcome.config.censusPoll, true);
    assert.deepEqual(outcome.restartNeeded, []);
  });

  void it('keeps the running value of a setting that needs a restart, and says so', () => {
    const before = 'HTTP_PORT=6000\nTCP_HOST=0.0.0.0\n';
    const after = 'HTTP_PORT=6001\nTCP_HOST=127.0.0.1\nPARTICIPANT_MAX=100\n';
    const outcome = applied(planReload(running({}, before), {}, fileOf(after), fileOf(before)));
    assert.deepEqual(outcome.restartNeeded.map(({ name, from, to }) => `${name} ${from} → ${to}`), ['HTTP_PORT 6000 → 6001', 'TCP_HOST 0.0.0.0 → 127.0.0.1']);
    assert.deepEqual(outcome.changes.map((change) => change.name), ['PARTICIPANT_MAX']);
    assert.equal(outcome.config.httpPort, 6000);
    assert.equal(outcome.config.tcpHost, '0.0.0.0');
    assert.equal(outcome.config.participantMax, 100);
    assert.deepEqual([...NEEDS_RESTART], ['httpPort', 'httpHost', 'tcpPort', 'tcpHost']);
  });

  void it('refuses a bad value, a bad line or an unreadable file, with every problem', () => {
    const bad = planReload(running(), {}, fileOf('POLLING_INTERVAL=soon\nwhat is this\nTCP_PORT=70000\n'), fileOf(''));
    assert.equal(bad.kind, 'refused');
    assert.deepEqual(bad.kind === 'refused' ? bad.problems : [], [
      `${PATH}:2: expected NAME=value, got "what is this"`,
      'TCP_PORT="70000": expected a port number from 1 to 65535',
      'POLLING_INTERVAL="soon": expected a number of seconds from 0.1 and at most 86400 (decimals allowed, e.g. 0.5)',
    ]);
    const unreadable: ConfigFile = { path: PATH, explicit: true, values: {}, problems: [`CONFIG_FILE="${PATH}": cannot read it (ENOENT)`], warnings: [] };
    const gone = planReload(running(), {}, unreadable, fileOf(''));
    assert.deepEqual(gone.kind === 'refused' ? gone.problems : [], [`CONFIG_FILE="${PATH}": cannot read it (ENOENT)`]);
    assert.deepEqual(
      reloadLines(gone, PATH).map((line) => [line.level, line.message]),
      [['error', `configuration reload refused, still running on the previous one: CONFIG_FILE="${PATH}": cannot read it (ENOENT)`]],
    );
  });

  void it('lets the start-time environment win over the file, and says when a file change is overridden', () => {
    const env = { PARTICIPANT_MAX: '300' };
    const outcome = applied(planReload(running(env, 'PARTICIPANT_MAX=100\n'), env, fileOf('PARTICIPANT_MAX=200\n'), fileOf('PARTICIPANT_MAX=100\n')));
    assert.deepEqual(outcome.changes, []);
    assert.equal(outcome.config.participantMax, 300);
    assert.deepEqual(outcome.overridden, ['PARTICIPANT_MAX']);
    const unchanged = applied(planReload(running(env, 'PARTICIPANT_MAX=100\n'), env, fileOf('PARTICIPANT_MAX=100\n'), fileOf('PARTICIPANT_MAX=100\n')));
    assert.deepEqual(unchanged.overridden, [], 'a file line that did not change is not news');
  });

  void it('keeps the warnings of a start: adjusted values and names that are no variable', () => {
    const outcome = applied(planReload(running(), {}, fileOf('DRAIN_GRACE_INTERVAL=10\nPOLING_INTERVAL=1\n'), fileOf('')));
    assert.deepEqual(outcome.warnings, [
      `${PATH}:2: POLING_INTERVAL is not a signal-sidecar variable; ignored`,
      'DRAIN_GRACE_INTERVAL=10 is below HEALTH_DAMPENING_INTERVAL=30; raised to 31',
    ]);
    assert.equal(outcome.config.drainGraceMs, 31_000);
  });

  void it('logs warnings, what needs a restart, then one line naming what changed', () => {
    const outcome = planReload(running({}, 'HTTP_PORT=6000'), {}, fileOf('HTTP_PORT=6001\nPOLLING_INTERVAL=1\nMETRICS=false\n'), fileOf('HTTP_PORT=6000'));
    assert.deepEqual(reloadLines(outcome, PATH), [
      {
        level: 'warn',
        message: 'configuration reload: HTTP_PORT 6000 → 6001 needs a restart; the running value stays in force until then',
        fields: { file: PATH, restartNeeded: { HTTP_PORT: { from: '6000', to: '6001' } } },
      },
      {
        level: 'info',
        message: 'configuration reloaded: POLLING_INTERVAL 5 → 1, METRICS true → false',
        fields: { file: PATH, changed: { POLLING_INTERVAL: { from: '5', to: '1' }, METRICS: { from: 'true', to: 'false' } } },
      },
    ]);
    const none = planReload(running(), {}, fileOf(''), fileOf(''));
    assert.deepEqual(reloadLines(none, PATH).map((line) => line.message), ['configuration reloaded: nothing changed']);
  });

  void it('compares lists by value', () => {
    const urls = 'NOTIFY_URL=http://a.example/x,http://b.example/y';
    assert.deepEqual(changesBetween(running({}, urls), running({}, urls)), []);
  });
});
