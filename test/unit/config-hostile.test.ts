import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config';
import { BAD_VALUES } from '../helpers/bad-config';

describe('loadConfig refuses every bad value with one line naming it', () => {
  for (const [name, values] of Object.entries(BAD_VALUES)) {
    for (const value of values) {
      it(`${name}=${JSON.stringify(value)}`, () => {
        const { config, problems } = loadConfig({ [name]: value });
        assert.equal(config, undefined);
        assert.equal(problems.length, 1, problems.join('\n'));
        const [problem] = problems;
        assert.ok(problem?.startsWith(`${name}=${JSON.stringify(value)}: expected `), problem);
      });
    }
  }

  it('CENSUS_POLL without CENSUS_HOST', () => {
    const { config, problems } = loadConfig({ CENSUS_POLL: 'true' });
    assert.equal(config, undefined);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^CENSUS_HOST="": expected .* when CENSUS_POLL is true$/);
  });

  it('several bad variables give one line each', () => {
    const { config, problems } = loadConfig({ HTTP_PORT: 'x', TCP_PORT: '0', LOG_LEVEL: 'loud', JICOFO_ORIG: 'nope' });
    assert.equal(config, undefined);
    assert.deepEqual(
      problems.map((problem) => problem.split('=')[0]),
      ['HTTP_PORT', 'TCP_PORT', 'JICOFO_ORIG', 'LOG_LEVEL'],
    );
  });
});
