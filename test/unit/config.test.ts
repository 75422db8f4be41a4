import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VARIABLES, loadConfig } from '../../src/config/config';

describe('configuration', () => {
  it('has the contract defaults with an empty environment', () => {
    const { config, problems, warnings } = loadConfig({});
    assert.deepEqual(problems, []);
    assert.deepEqual(warnings, []);
    assert.ok(config);
    assert.equal(config.httpPort, 6000);
    assert.equal(config.tcpPort, 6060);
    assert.equal(config.httpHost, undefined);
    assert.equal(config.tcpHost, undefined);
    assert.equal(config.jicofoOrigin, 'http://localhost:8888');
    assert.equal(config.prosodyOrigin, 'http://localhost:5280');
    assert.equal(config.statusFile, '/etc/jitsi/shard-status');
    assert.equal(config.pollingIntervalMs, 5000);
    assert.equal(config.probeTimeoutMs, 3000);
    assert.equal(config.probeBodyLimit, 65536);
    assert.equal(config.participantMax, 5000);
    assert.equal(config.weightParticipants, false);
    assert.equal(config.censusPoll, false);
    assert.equal(config.censusHost, undefined);
    assert.equal(config.prosodyHost, undefined);
    assert.equal(config.healthDampeningMs, 30_000);
    assert.equal(config.drainGraceMs, 120_000);
    assert.equal(config.metrics, true);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.jicofoDump, undefined);
    assert.equal(config.prosodyDump, undefined);
  });

  it('is frozen', () => {
    const { config } = loadConfig({});
    assert.ok(Object.isFrozen(config));
  });

  it('reads decimal intervals in milliseconds', () => {
    const { config } = loadConfig({ POLLING_INTERVAL: '0.5', HEALTH_DAMPENING_INTERVAL: '1.25', DRAIN_GRACE_INTERVAL: '2.5', PROBE_TIMEOUT: '0.2' });
    assert.equal(config?.pollingIntervalMs, 500);
    assert.equal(config?.healthDampeningMs, 1250);
    assert.equal(config?.drainGraceMs, 2500);
    assert.equal(config?.probeTimeoutMs, 200);
  });

  it('accepts the PARTIPANT_MAX misspelling as an alias', () => {
    assert.equal(loadConfig({ PARTIPANT_MAX: '300' }).config?.participantMax, 300);
  });

  it('prefers PARTICIPANT_MAX over the alias and warns when they differ', () => {
    const { config, warnings } = loadConfig({ PARTICIPANT_MAX: '100', PARTIPANT_MAX: '300' });
    assert.equal(config?.participantMax, 100);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /PARTICIPANT_MAX=100 and PARTIPANT_MAX=300/);
  });

  it('names the alias when its value is bad', () => {
    assert.deepEqual(loadConfig({ PARTIPANT_MAX: 'lots' }).problems, ['PARTIPANT_MAX="lots": expected a whole number from 1 to 10000000']);
  });

  for (const [word, value] of [['true', true], ['TRUE', true], ['1', true], ['yes', true], ['false', false], ['0', false], ['no', false]] as const) {
    it(`reads the boolean ${word}`, () => {
      assert.equal(loadConfig({ WEIGHT_PARTICIPANTS: word }).config?.weightParticipants, value);
    });
  }

  it('treats an empty assignment as unset', () => {
    const { config } = loadConfig({ HTTP_PORT: '', CENSUS_HOST: '  ', METRICS: '' });
    assert.equal(config?.httpPort, 6000);
    assert.equal(config?.censusHost, undefined);
    assert.equal(config?.metrics, true);
  });

  it('strips a trailing slash from origins and keeps a path prefix', () => {
    const { config } = loadConfig({ JICOFO_ORIG: 'http://10.0.0.5:8888/', PROSODY_ORIG: 'https://signal.example.com/prosody/' });
    assert.equal(config?.jicofoOrigin, 'http://10.0.0.5:8888');
    assert.equal(config?.prosodyOrigin, 'https://signal.example.com/prosody');
  });

  it('reports every bad variable at once, one line each naming it, its value and what is expected', () => {
    const { config, problems } = loadConfig({
      HTTP_PORT: 'abc',
      TCP_PORT: '70000',
      POLLING_INTERVAL: '-1',
      HEALTH_DAMPENING_INTERVAL: '3O',
      WEIGHT_PARTICIPANTS: 'maybe',
      LOG_LEVEL: 'verbose',
      JICOFO_ORIG: 'localhost:8888',
      PROSODY_ORIG: 'ftp://x',
      PARTICIPANT_MAX: '0',
      CENSUS_POLL: 'true',
    });
    assert.equal(config, undefined);
    assert.deepEqual(problems, [
      'HTTP_PORT="abc": expected a port number from 1 to 65535',
      'TCP_PORT="70000": expected a port number from 1 to 65535',
      'JICOFO_ORIG="localhost:8888": expected an http:// or https:// URL such as http://localhost:8888, without query or fragment',
      'PROSODY_ORIG="ftp://x": expected an http:// or https:// URL such as http://localhost:8888, without query or fragment',
      'POLLING_INTERVAL="-1": expected a number of seconds from 0.1 and at most 86400 (decimals allowed, e.g. 0.5)',
      'PARTICIPANT_MAX="0": expected a whole number from 1 to 10000000',
      'WEIGHT_PARTICIPANTS="maybe": expected true or false (also 1/0, yes/no)',
      'HEALTH_DAMPENING_INTERVAL="3O": expected a number of seconds from 0 and at most 86400 (decimals allowed, e.g. 0.5)',
      'LOG_LEVEL="verbose": expected one of debug, info, warn, error',
      'CENSUS_HOST="": expected the conference host name (e.g. conference.meet.example.com) when CENSUS_POLL is true',
    ]);
  });

  it('rejects a zero polling interval and a port of 0', () => {
    assert.equal(loadConfig({ POLLING_INTERVAL: '0' }).problems.length, 1);
    assert.equal(loadConfig({ HTTP_PORT: '0' }).problems.length, 1);
  });

  it('raises DRAIN_GRACE_INTERVAL below HEALTH_DAMPENING_INTERVAL to dampening + 1, with a warning', () => {
    const { config, warnings } = loadConfig({ HEALTH_DAMPENING_INTERVAL: '30', DRAIN_GRACE_INTERVAL: '10' });
    assert.equal(config?.drainGraceMs, 31_000);
    assert.deepEqual(warnings, ['DRAIN_GRACE_INTERVAL=10 is below HEALTH_DAMPENING_INTERVAL=30; raised to 31']);
  });

  it('leaves a disabled grace (0) disabled', () => {
    const { config, warnings } = loadConfig({ DRAIN_GRACE_INTERVAL: '0' });
    assert.equal(config?.drainGraceMs, 0);
    assert.deepEqual(warnings, []);
  });

  it('describes every variable with a meaning', () => {
    for (const spec of Object.values(VARIABLES)) assert.ok(spec.meaning.length > 10, spec.name);
  });
});
