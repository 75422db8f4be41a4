import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJicofoStats } from '../../src/collect/jicofo-stats';
import { fixture } from '../../src/demo/fake-signal-node';

describe('parseJicofoStats refuses what is not a count', () => {
  const real = JSON.parse(fixture('jicofo-stats.json')) as Record<string, unknown>;
  const withParticipants = (value: unknown): string => JSON.stringify({ ...real, participants: value });

  const refused: [string, string, RegExp][] = [
    ['invalid JSON', '{"participants": 3,', /not valid JSON/],
    ['null', 'null', /not an object/],
    ['an array', '[{"participants":3,"conferences":1}]', /an array/],
    ['a bare number', '42', /not an object/],
    ['a string', '"ok"', /not an object/],
    ['an empty body', '', /not valid JSON/],
    ['an empty object', '{}', /participants is missing/],
    ['participants as a string', withParticipants('many'), /participants is "many", not a number/],
    ['participants as a numeric string', withParticipants('12'), /not a number/],
    ['participants negative', withParticipants(-1), /participants is -1/],
    ['participants fractional', withParticipants(1.5), /participants is 1.5/],
    ['participants "NaN"', withParticipants('NaN'), /not a number/],
    ['participants null (what JSON makes of NaN)', withParticipants(null), /participants is null/],
    ['participants absurdly large', withParticipants(1e308), /not a count from 0/],
    ['participants above 2^53', '{"participants":9007199254740993,"conferences":1}', /not a count from 0/],
    ['participants an object', withParticipants({ value: 3 }), /not a number/],
    ['participants a boolean', withParticipants(true), /not a number/],
    ['conferences missing', JSON.stringify({ participants: 3 }), /conferences is missing/],
  ];
  for (const [what, body, problem] of refused) {
    it(`refuses ${what}`, () => {
      const parsed = parseJicofoStats(body);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.problem, problem);
    });
  }

  it('keeps a refusal reason short even for a huge value', () => {
    const parsed = parseJicofoStats(withParticipants('x'.repeat(60_000)));
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.ok(parsed.problem.length <= 200, `reason is ${parsed.problem.length} characters`);
  });

  it('accepts the empty-but-real stats of an idle jicofo (zero is a count)', () => {
    const parsed = parseJicofoStats(fixture('jicofo-stats-empty.json'));
    assert.deepEqual(parsed, { ok: true, value: { participants: 0, conferences: 0 } });
  });
});
