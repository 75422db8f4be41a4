import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configTemplate, helpText } from '../../src/cli/cli';
import { parseConfigFile } from '../../src/config/config-file';
import { loadConfig, loggable } from '../../src/config/config';
import { changesBetween, reloadLines, planReload } from '../../src/react/reload-plan';

const TOKEN = 'b1gs3cret-7e57-70k3n';

describe('Consul variables', () => {
  it('default to the original\'s values: off, localhost:8500, shard-state, shard-report, every 60 s', () => {
    const { config } = loadConfig({});
    assert.ok(config !== undefined);
    assert.deepEqual(
      [config.consulStatus, config.consulReports, config.censusReports, config.consulHost, config.consulPort, config.consulSecure],
      [false, false, false, 'localhost', 8500, false],
    );
    assert.deepEqual([config.consulStatusKey, config.consulReportKey, config.consulReportsIntervalMs], ['shard-state', 'shard-report', 60_000]);
  });

  it('take Jitsi\'s own settings', () => {
    const { config, problems } = loadConfig({
      CONSUL_STATUS: 'true',
      CONSUL_REPORTS: 'true',
      CENSUS_POLL: 'true',
      CENSUS_HOST: 'conference.meet.example.com',
      CENSUS_REPORTS: 'true',
      CONSUL_HOST: '10.0.1.10',
      CONSUL_STATUS_KEY: 'shard-states/prod/prod-shard-1',
      CONSUL_REPORT_KEY: 'signal-report/prod/prod-shard-1',
    });
    assert.deepEqual(problems, []);
    assert.equal(config?.consulStatusKey, 'shard-states/prod/prod-shard-1');
  });

  it('refuse a key Consul\'s API would read as something else, one line each naming the variable', () => {
    for (const key of ['/shard-states/prod', 'a//b', 'a b', 'a?b', 'a#b', 'a%2Fb', '']) {
      const { problems } = loadConfig({ CONSUL_STATUS_KEY: key === '' ? ' ' : key });
      if (key === '') {
        assert.deepEqual(problems, [], 'empty means unset: the default');
        continue;
      }
      assert.equal(problems.length, 1, key);
      assert.match(problems[0] ?? '', /^CONSUL_STATUS_KEY=".*": expected a Consul KV key/);
    }
    assert.match(loadConfig({ CONSUL_PORT: '85000' }).problems[0] ?? '', /^CONSUL_PORT="85000": expected a port/);
    assert.match(loadConfig({ CONSUL_REPORTS_INTERVAL: '0.5' }).problems[0] ?? '', /^CONSUL_REPORTS_INTERVAL="0.5": expected a number of seconds from 1/);
    assert.match(loadConfig({ CONSUL_SECURE: 'maybe' }).problems[0] ?? '', /^CONSUL_SECURE="maybe"/);
  });

  it('warn about combinations that do nothing', () => {
    const warned = (env: Record<string, string>): readonly string[] => loadConfig(env).warnings;
    assert.match(warned({ CENSUS_REPORTS: 'true' }).join('\n'), /CONSUL_REPORTS is not/);
    assert.match(warned({ CENSUS_REPORTS: 'true', CONSUL_REPORTS: 'true' }).join('\n'), /CENSUS_POLL is not/);
    assert.match(warned({ CONSUL_CACERT: '/etc/ca.pem' }).join('\n'), /CONSUL_SECURE is not true/);
    assert.match(warned({ CONSUL_HTTP_TOKEN: TOKEN, CONSUL_HTTP_TOKEN_FILE: '/etc/t' }).join('\n'), /the file wins/);
    assert.doesNotMatch(warned({ CONSUL_HTTP_TOKEN: TOKEN, CONSUL_HTTP_TOKEN_FILE: '/etc/t' }).join('\n'), new RegExp(TOKEN));
  });
});

describe('the Consul token is never shown', () => {
  const { config } = loadConfig({ CONSUL_STATUS: 'true', CONSUL_HTTP_TOKEN: TOKEN });
  assert.ok(config !== undefined);

  it('not in the configuration as logged at start', () => {
    assert.doesNotMatch(JSON.stringify(loggable(config)), new RegExp(TOKEN));
    assert.equal(loggable(config).consulToken, '(hidden)');
  });

  it('not in --help or the configuration template', () => {
    assert.doesNotMatch(helpText() + configTemplate(), new RegExp(TOKEN));
    assert.match(helpText(), /CONSUL_HTTP_TOKEN /);
  });

  it('not in a reload\'s log lines, which say that it changed', () => {
    const { config: next } = loadConfig({ CONSUL_STATUS: 'true', CONSUL_HTTP_TOKEN: `${TOKEN}-2` });
    assert.ok(next !== undefined);
    const changes = changesBetween(config, next);
    assert.deepEqual(changes.map(({ name, from, to }) => [name, from, to]), [['CONSUL_HTTP_TOKEN', '(hidden)', '(hidden)']]);
    const file = { path: '/etc/jitsi/signal-sidecar/config', explicit: true, values: { CONSUL_STATUS: 'true', CONSUL_HTTP_TOKEN: `${TOKEN}-2` }, problems: [], warnings: [] };
    const lines = reloadLines(planReload(config, {}, file, { ...file, values: {} }), file.path);
    assert.doesNotMatch(JSON.stringify(lines), new RegExp(TOKEN));
  });

  it('not in the problem a malformed line of the configuration file makes', () => {
    const parsed = parseConfigFile(`CONSUL_STATUS=true\nCONSUL_HTTP_TOKEN ${TOKEN}\n`, '/etc/jitsi/signal-sidecar/config');
    assert.equal(parsed.problems.length, 1);
    assert.doesNotMatch(parsed.problems[0] ?? '', new RegExp(TOKEN));
    assert.match(parsed.problems[0] ?? '', /CONSUL_HTTP_TOKEN \(not shown/);
  });
});
