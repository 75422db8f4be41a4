import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT, helpText, parseArgs, runCli } from '../../src/cli/cli';
import { fleetPrefix, parseFleetArgs, runFleet } from '../../src/cli/fleet';
import { fleetJson, formatAge, formatFleet, wrap, type FleetReading } from '../../src/cli/fleet-format';
import type { CensusRoom } from '../../src/collect/census';
import { loadConfig, type Config } from '../../src/config/config';
import type { ConsulClient, ConsulEndpoint, KvEntry, TreeRead } from '../../src/consul/client';
import type { Report } from '../../src/decide/report';
import { readShardReport, type ReadableShard } from '../../src/fleet/shard-report';
import { findSplits } from '../../src/fleet/splits';
import { readFleet } from '../../src/fleet/view';
import { manyRooms, publishedValue, room, shardReport as reportAt } from '../helpers/shard-reports';

/** The reader's clock in every test: reports are aged against it. */
const NOW = Date.parse('2026-12-03T12:00:00.000Z');
const CLOCK = { now: NOW, staleAfterMs: 180_000 };
const READING: FleetReading = { prefix: 'signal-report/prod/', readAt: NOW, staleAfterMs: 180_000 };

/** A shard's report written `ageSeconds` before NOW. */
const shardReport = (ageSeconds: number, overrides: Partial<Report> = {}): Report => reportAt(NOW - ageSeconds * 1000, overrides);

/** The KV entry the publisher writes for one shard. */
function published(shard: string, report: Report, census: readonly CensusRoom[] | null, limitBytes?: number): KvEntry {
  return { key: `signal-report/prod/${shard}`, value: publishedValue(report, census, limitBytes) };
}

const readable = (entry: KvEntry): ReadableShard => {
  const shard = readShardReport(entry, CLOCK);
  assert.equal(shard.kind, 'report', JSON.stringify(shard));
  return shard;
};

describe('fleet: one shard\'s report', () => {
  it('reads what the publisher writes: age, health, status, weight, counts, reasons, census', () => {
    const report = shardReport(4, { healthy: false, status: 'drain', weight: '0%', reasons: ['jicofo down (HTTP 500)'] });
    const shard = readable(published('shard1', report, [room('a@conference.example.com', 3), room('b@conference.example.com', -1)]));
    assert.equal(shard.shard, 'shard1');
    assert.equal(shard.ageMs, 4000);
    assert.equal(shard.stale, false);
    assert.deepEqual(
      [shard.healthy, shard.status, shard.weight, shard.participants, shard.conferences, shard.reasons],
      [false, 'drain', '0%', 20, 4, ['jicofo down (HTTP 500)']],
    );
    assert.deepEqual(shard.census, {
      rooms: [room('a@conference.example.com', 3), room('b@conference.example.com', -1)],
      truncated: false,
      totalRooms: 2,
      malformed: 0,
    });
    assert.equal(shard.report.agentmessage, 'up ready 100%');
  });

  it('is stale only past the limit', () => {
    assert.equal(readable(published('s', shardReport(180), null)).stale, false);
    assert.equal(readable(published('s', shardReport(181), null)).stale, true);
  });

  it('tells no census (CENSUS_REPORTS off) from an empty one', () => {
    assert.equal(readable(published('s', shardReport(1), null)).census, null);
    assert.deepEqual(readable(published('s', shardReport(1), [])).census, { rooms: [], truncated: false, totalRooms: 0, malformed: 0 });
  });

  it('says the census was cut to fit, with the full count', () => {
    const census = manyRooms(200);
    const shard = readable(published('s', shardReport(1), census, 4096));
    assert.equal(shard.census?.truncated, true);
    assert.equal(shard.census?.totalRooms, 200);
    assert.ok((shard.census?.rooms.length ?? 0) < 200);
  });

  it('takes an original sidecar\'s report: no reasons, no censusRooms, unknown participants', () => {
    const original = { time: new Date(NOW - 2000).toISOString(), healthy: false, status: 'ready', weight: '0%', stats: { jicofoParticipants: null }, census: [room('x', 2)] };
    const shard = readable({ key: 'signal-report/prod/old', value: JSON.stringify(original) });
    assert.deepEqual([shard.reasons, shard.participants, shard.conferences], [[], null, null]);
    assert.deepEqual(shard.census, { rooms: [room('x', 2)], truncated: false, totalRooms: null, malformed: 0 });
  });

  it('skips census entries that are not rooms and counts them', () => {
    const value = JSON.stringify({ ...shardReport(1), census: [room('ok', 1), { room_name: 'half' }, 'junk', room('neg', -2)], censusRooms: 4 });
    assert.deepEqual(readable({ key: 'k/s', value }).census?.malformed, 3);
  });

  it('lists a value that is no report as unreadable, with why, and never throws', () => {
    const cases: readonly [string, RegExp][] = [
      ['', /^empty value$/],
      ['   ', /^empty value$/],
      ['{"time": "2026-', /^not JSON: "\{\\"time\\": \\"2026-"$/],
      ['x'.repeat(100), /^not JSON: "x{24}"…$/],
      ['[1,2]', /^not a JSON object$/],
      ['"ready"', /^not a JSON object$/],
      ['null', /^not a JSON object$/],
      ['{}', /^no time field$/],
      ['{"time":"yesterday","healthy":true,"status":"ready"}', /^time is not a date: "yesterday"$/],
      [`{"time":"${new Date(NOW).toISOString()}","status":"ready"}`, /^no healthy field/],
      [`{"time":"${new Date(NOW).toISOString()}","healthy":"yes","status":"ready"}`, /^no healthy field/],
      [`{"time":"${new Date(NOW).toISOString()}","healthy":true}`, /^no status field$/],
      ['\u0000\u0001binary', /^not JSON/],
    ];
    for (const [value, problem] of cases) {
      const shard = readShardReport({ key: 'signal-report/prod/bad', value }, CLOCK);
      assert.equal(shard.kind, 'unreadable', value);
      if (shard.kind === 'unreadable') {
        assert.match(shard.problem, problem, value);
        assert.equal(shard.shard, 'bad');
      }
    }
  });
});

describe('fleet: split conferences', () => {
  const fresh = (shard: string, census: readonly CensusRoom[] | null, ageSeconds = 5): ReadableShard =>
    readable(published(shard, shardReport(ageSeconds), census));

  it('lists a room live on two shards, with each one\'s participants', () => {
    const check = findSplits([
      fresh('shard1', [room('standup', 3), room('only-here', 4)]),
      fresh('shard2', [room('standup', 2), room('elsewhere', 1)]),
      fresh('shard3', [room('elsewhere-too', 1)]),
    ]);
    assert.deepEqual(check.splits, [{ room: 'standup', shards: [{ shard: 'shard1', participants: 3 }, { shard: 'shard2', participants: 2 }] }]);
    assert.equal(check.checked, 3);
    assert.deepEqual(check.leftOut, []);
  });

  it('finds a room on three shards as one split, rooms sorted by name, shards by name', () => {
    const check = findSplits([
      fresh('shard10', [room('b', 1), room('a', 1)]),
      fresh('shard2', [room('b', 5), room('a', 2)]),
      fresh('shard9', [room('b', 1)]),
    ]);
    assert.deepEqual(
      check.splits.map((split) => [split.room, split.shards.map((where) => where.shard)]),
      [
        ['a', ['shard2', 'shard10']],
        ['b', ['shard2', 'shard9', 'shard10']],
      ],
    );
  });

  it('a room is live with one participant or more: -1 (only the focus left) and 0 are not', () => {
    for (const other of [-1, 0]) {
      assert.deepEqual(findSplits([fresh('s1', [room('r', 2)]), fresh('s2', [room('r', other)])]).splits, [], `participants ${other}`);
    }
    assert.equal(findSplits([fresh('s1', [room('r', 1)]), fresh('s2', [room('r', 1)])]).splits.length, 1);
  });

  it('compares room names exactly as the census gives them', () => {
    const check = findSplits([
      fresh('s1', [room('Standup@conference.example.com', 2), room('standup@conference.example.com ', 2)]),
      fresh('s2', [room('standup@conference.example.com', 2)]),
    ]);
    assert.deepEqual(check.splits, []);
  });

  it('a room listed twice in one census is no split', () => {
    assert.deepEqual(findSplits([fresh('s1', [room('r', 2), room('r', 2)]), fresh('s2', [room('other', 1)])]).splits, []);
  });

  it('leaves out stale reports, unhealthy shards, unreadable ones and those without a census, and says which', () => {
    const shards = [
      fresh('live', [room('r', 2)]),
      fresh('dead', [room('r', 4)], 600),
      readable(published('failing', shardReport(5, { healthy: false }), [room('r', 3)])),
      readable({ key: 'signal-report/prod/back', value: publishedValue(shardReport(5), [room('r', 1)], undefined, new Date(NOW - 30_000).toISOString()) }),
      fresh('quiet', null),
      readShardReport({ key: 'signal-report/prod/junk', value: 'junk' }, CLOCK),
    ];
    const check = findSplits(shards);
    assert.deepEqual(check.splits, [], 'a dead sidecar\'s last census is no split, nor the rooms failing over from an unhealthy shard');
    assert.equal(check.checked, 1);
    assert.deepEqual(check.leftOut, [
      { shard: 'dead', why: 'stale' },
      { shard: 'failing', why: 'unhealthy' },
      { shard: 'back', why: 'recovering' },
      { shard: 'quiet', why: 'no census' },
      { shard: 'junk', why: 'unreadable' },
    ]);
  });

  it('names the shards whose census was cut to fit, and still compares what they kept', () => {
    const big = [room('shared', 50), ...Array.from({ length: 100 }, (_, at) => room(`small${at}`, 1))];
    const check = findSplits([readable(published('busy', shardReport(1), big, 2048)), fresh('other', [room('shared', 2), room('small99', 1)])]);
    assert.equal(check.truncated.length, 1);
    assert.equal(check.truncated[0]?.shard, 'busy');
    assert.equal(check.truncated[0]?.totalRooms, 101);
    assert.deepEqual(check.splits.map((split) => split.room), ['shared'], 'the largest room was kept and found; small99 was cut and cannot be');
  });
});

describe('fleet: the view and its summary', () => {
  const entries: KvEntry[] = [
    published('shard2', shardReport(3, { status: 'drain', weight: '0%', stats: { jicofoParticipants: 40, jicofoConferences: 3 } }), [room('r', 2)]),
    published('shard10', shardReport(2, { healthy: false, reasons: ['jicofo down'], stats: { jicofoParticipants: null, jicofoConferences: null } }), [room('r', 1)]),
    published('shard1', shardReport(4), [room('r', 3)]),
    published('shard3', shardReport(999, { stats: { jicofoParticipants: 500, jicofoConferences: 50 } }), [room('q', 3)]),
    { key: 'signal-report/prod/shard4', value: '' },
    { key: 'signal-report/prod/', value: '' },
  ];
  const view = readFleet(entries, CLOCK);

  it('sorts shards as a person does and skips folder keys', () => {
    assert.deepEqual(view.shards.map((shard) => shard.shard), ['shard1', 'shard2', 'shard3', 'shard4', 'shard10']);
  });

  it('counts health, drain and participants over the fresh reports only', () => {
    assert.deepEqual(view.summary, {
      shards: 5,
      fresh: 3,
      stale: 1,
      unreadable: 1,
      healthy: 2,
      unhealthy: 1,
      draining: 1,
      participants: 60,
      conferences: 7,
      splits: 1,
    });
  });
});

describe('fleet: text output', () => {
  it('formats ages in two units at most', () => {
    assert.deepEqual(
      [0, 4_999, 59_999, 60_000, 192_000, 3_599_000, 3_600_000, 7_500_000, 86_400_000, 273_600_000, -3_000].map(formatAge),
      ['0s', '4s', '59s', '1m00s', '3m12s', '59m59s', '1h00m', '2h05m', '1d00h', '3d04h', '-3s'],
    );
  });

  const view = readFleet(
    [
      published('shard-a', shardReport(4), [room('standup@conference.meet.example.com', 3)]),
      published('shard-b', shardReport(12, { status: 'drain', weight: '0%', reasons: ['status drain (from Consul)'] }), [room('standup@conference.meet.example.com', 2)]),
      published('shard-c', shardReport(192, { healthy: false, reasons: ['jicofo down (HTTP 500)'] }), [room('old', 5)]),
      { key: 'signal-report/prod/shard-d', value: 'not json' },
    ],
    CLOCK,
  );

  it('prints one aligned line per shard, the split, what was left out, and a summary', () => {
    const text = formatFleet(view, READING, 120);
    assert.equal(
      text,
      [
        'Reports under signal-report/prod/ (stale after 3m00s):',
        'SHARD    AGE          HEALTHY  STATUS  WEIGHT  PART  CONF  REASONS',
        'shard-a  4s           yes      ready   100%      20     4',
        'shard-b  12s          yes      drain   0%        20     4  status drain (from Consul)',
        'shard-c  3m12s STALE  NO       ready   100%      20     4  jicofo down (HTTP 500)',
        'shard-d  -            -        -       -          -     -  UNREADABLE: not JSON: "not json"',
        '',
        'SPLIT: 1 room live on two or more shards at once (participants in brackets):',
        '  standup@conference.meet.example.com  shard-a (3), shard-b (2)',
        'Not checked, stale (a stopped sidecar\'s last census would give false alarms): shard-c',
        'Not checked, unreadable: shard-d',
        '',
        '4 shards: 2 healthy, 1 draining, 1 stale, 1 unreadable; 40 participants in 8 conferences',
        '',
      ].join('\n'),
    );
  });

  it('cuts only the reasons to fit the terminal', () => {
    const lines = formatFleet(view, READING, 85).split('\n');
    assert.equal(lines.find((line) => line.startsWith('shard-b')), 'shard-b  12s          yes      drain   0%        20     4  status drain (from Consul)');
    assert.equal(lines.find((line) => line.startsWith('shard-d')), 'shard-d  -            -        -       -          -     -  UNREADABLE: not JSON: "no…');
    const narrow = formatFleet(view, READING, 20).split('\n').find((line) => line.startsWith('shard-b'));
    assert.match(narrow ?? '', / {2}status drain \(from Cons…$/, 'the reasons keep some room on a very narrow terminal');
  });

  it('says when no census could be compared, and names a census cut to fit', () => {
    const none = readFleet([published('s1', shardReport(1), null)], CLOCK);
    assert.match(formatFleet(none, READING, 120), /^No census to compare: no fresh report carries one/m);
    assert.match(formatFleet(none, READING, 120), /^Not checked, no census in the report \(CENSUS_REPORTS off, or the census poll failing\): s1$/m);
    const failing = readFleet([published('s1', shardReport(1, { healthy: false }), [room('r', 2)]), published('s2', shardReport(1), [room('r', 2)])], CLOCK);
    assert.match(formatFleet(failing, READING, 200), /^Not checked, unhealthy \(its conferences are failing over; its BOSH participants linger in prosody for a minute\): s1$/m);
    const recovered = (ago: number): KvEntry => ({ key: 'signal-report/prod/s1', value: publishedValue(shardReport(1), [room('r', 2)], undefined, new Date(NOW - ago).toISOString()) });
    const back = readFleet([recovered(59_000), published('s2', shardReport(1), [room('r', 2)])], CLOCK);
    assert.match(formatFleet(back, READING, 200), /^Not checked, healthy again for less than a minute \(prosody may still hold the BOSH participants of its failed-over rooms\): s1$/m);
    assert.equal(back.check.splits.length, 0);
    assert.equal(readFleet([recovered(61_000), published('s2', shardReport(1), [room('r', 2)])], CLOCK).check.splits.length, 1, 'a minute after it recovered, its census counts again');
    const cut = readFleet(
      [published('big', shardReport(1), Array.from({ length: 50 }, (_, at) => room(`room${at}`, 2)), 2048), published('s2', shardReport(1), [])],
      CLOCK,
    );
    const text = formatFleet(cut, READING, 120);
    assert.match(text, /^No split conferences in the census of 2 shards\.$/m);
    assert.match(text, /^Census cut to fit Consul \(smaller rooms left out, their splits unseen\): big \(\d+ of 50 rooms\)$/m);
  });

  it('names at most eight shards in a note, and wraps notes to the terminal', () => {
    const many = readFleet(Array.from({ length: 11 }, (_, at) => published(`shard${at}`, shardReport(1000), [])), CLOCK);
    const text = formatFleet(many, READING, 60);
    assert.match(
      text,
      new RegExp(
        [
          '^Not checked, stale \\(a stopped sidecar\'s last census would',
          '  give false alarms\\): shard0, shard1, shard2, shard3,',
          '  shard4, shard5, shard6, shard7 and 3 more$',
        ].join('\n'),
        'm',
      ),
    );
    assert.deepEqual(wrap('one two three', 80), ['one two three']);
    assert.deepEqual(wrap('a-very-long-word b', 5), ['a-very-long-word', '  b']);
  });
});

describe('fleet: --json', () => {
  it('has every shard with its fields and the report as read, the splits, the check and the summary', () => {
    const entries = [
      published('s1', shardReport(4, { reasons: ['a reason far longer than any terminal column would hold, kept whole'.repeat(3)] }), [room('r', 2), room('gone', -1)]),
      published('s2', shardReport(5), [room('r', 1)]),
      { key: 'signal-report/prod/s3', value: '{' },
    ];
    const view = readFleet(entries, CLOCK);
    const json = JSON.parse(fleetJson(view, READING)) as Record<string, unknown> & { shards: Record<string, unknown>[] };
    assert.equal(json.prefix, 'signal-report/prod/');
    assert.equal(json.readAt, '2026-12-03T12:00:00.000Z');
    assert.equal(json.staleAfterSeconds, 180);
    const [s1, , s3] = json.shards;
    assert.deepEqual({ ...s1, report: undefined }, {
      shard: 's1',
      key: 'signal-report/prod/s1',
      readable: true,
      time: new Date(NOW - 4000).toISOString(),
      ageSeconds: 4,
      stale: false,
      healthy: true,
      status: 'ready',
      weight: '100%',
      participants: 20,
      conferences: 4,
      reasons: ['a reason far longer than any terminal column would hold, kept whole'.repeat(3)],
      census: { rooms: 2, liveRooms: 1, truncated: false, totalRooms: 2, malformed: 0 },
      report: undefined,
    });
    assert.deepEqual(s1?.report, JSON.parse(entries[0]?.value ?? ''), 'the report as read, census included');
    assert.deepEqual(s3, { shard: 's3', key: 'signal-report/prod/s3', readable: false, problem: s3?.problem, bytes: 1 });
    assert.match(String(s3?.problem), /^not JSON/);
    assert.deepEqual(json.splits, [{ room: 'r', shards: [{ shard: 's1', participants: 2 }, { shard: 's2', participants: 1 }] }]);
    assert.deepEqual(json.splitCheck, { checked: 2, leftOut: [{ shard: 's3', why: 'unreadable' }], truncated: [] });
    assert.deepEqual(json.summary, view.summary);
  });
});

describe('fleet: arguments', () => {
  it('takes a PREFIX, --json and --stale-after, in any order', () => {
    assert.deepEqual(parseArgs(['fleet']), { kind: 'fleet', args: { prefix: undefined, json: false, staleAfterMs: undefined } });
    assert.deepEqual(parseArgs(['fleet', '--json', 'signal-report/prod/', '--stale-after', '90']), {
      kind: 'fleet',
      args: { prefix: 'signal-report/prod/', json: true, staleAfterMs: 90_000 },
    });
    assert.deepEqual(parseFleetArgs(['--stale-after=1.5']), { kind: 'fleet', args: { prefix: undefined, json: false, staleAfterMs: 1500 } });
    assert.deepEqual(parseFleetArgs(['--help']), { kind: 'help' });
  });

  it('refuses what it does not know, with exit 2', async () => {
    for (const args of [['--stale-after'], ['--stale-after', '0'], ['--stale-after', 'soon'], ['--yaml'], ['a/', 'b/']]) {
      assert.equal(parseFleetArgs(args).kind, 'usage-error', args.join(' '));
    }
    const err: string[] = [];
    const code = await runCli(['fleet', '--yaml'], { env: {}, stdout: () => undefined, stderr: (text) => void err.push(text) });
    assert.equal(code, EXIT.usage);
    assert.match(err.join(''), /unknown option --yaml/);
  });

  it('reads the folder of CONSUL_REPORT_KEY by default, and one folder when named', () => {
    assert.deepEqual(fleetPrefix(undefined, 'signal-report/prod/shard1'), { prefix: 'signal-report/prod/' });
    assert.deepEqual(fleetPrefix('signal-report/prod', 'x'), { prefix: 'signal-report/prod/' }, 'not signal-report/prod-eu/ too');
    assert.deepEqual(fleetPrefix('signal-report/prod/', 'x'), { prefix: 'signal-report/prod/' });
    assert.match(JSON.stringify(fleetPrefix(undefined, 'shard-report')), /CONSUL_REPORT_KEY=shard-report is in no folder/);
    for (const bad of ['', ' ', '/signal-report/', 'a b/', 'a?x', 'a//b']) assert.ok('problem' in fleetPrefix(bad, 'x'), JSON.stringify(bad));
  });

  it('is in --help with its default PREFIX and its exit code', () => {
    const help = helpText();
    assert.match(help, /^ {2}fleet \[PREFIX\] +the shards' reports in Consul/m);
    assert.match(help, /PREFIX: by default the folder of CONSUL_REPORT_KEY/);
    assert.match(help, /^4 `fleet` found split conferences\.$/m);
    assert.equal(EXIT.splits, 4);
  });
});

describe('fleet: the command on a Consul that answers as asked', () => {
  const config = (env: Record<string, string> = {}): Config => {
    const loaded = loadConfig({ CONSUL_REPORT_KEY: 'signal-report/prod/me', ...env }).config;
    assert.ok(loaded);
    return loaded;
  };

  /** A client whose recursive read answers `tree`, recording what was asked. */
  function consulAnswering(tree: TreeRead) {
    const asked: { prefix: string; limitBytes: number; endpoint: ConsulEndpoint }[] = [];
    const open = (endpoint: ConsulEndpoint): ConsulClient => ({
      readKey: () => Promise.reject(new Error('not used')),
      writeKey: () => Promise.reject(new Error('not used')),
      readTree: (prefix, _timeoutMs, limitBytes) => {
        asked.push({ prefix, limitBytes, endpoint });
        return Promise.resolve(tree);
      },
      close: () => undefined,
    });
    return { asked, open };
  }

  async function fleet(tree: TreeRead, args: string[] = [], env: Record<string, string> = {}) {
    const consul = consulAnswering(tree);
    const out: string[] = [];
    const err: string[] = [];
    const command = parseFleetArgs(args);
    assert.equal(command.kind, 'fleet');
    const outcome = await runFleet(command.kind === 'fleet' ? command.args : { prefix: undefined, json: false, staleAfterMs: undefined }, config(env), {
      env: {},
      stdout: (text) => void out.push(text),
      stderr: (text) => void err.push(text),
      now: () => NOW,
      openConsul: consul.open,
    });
    return { outcome, out: out.join(''), err: err.join(''), asked: consul.asked };
  }

  it('reads the prefix once, with a bound that holds hundreds of full reports, and says ok or splits', async () => {
    const quiet = await fleet({ kind: 'entries', entries: [published('a', shardReport(1), [room('r', 1)]), published('b', shardReport(1), [])] });
    assert.equal(quiet.outcome, 'ok');
    assert.equal(quiet.asked.length, 1);
    assert.equal(quiet.asked[0]?.prefix, 'signal-report/prod/');
    // 512 KiB, base64 in JSON: about 700 KB a shard.
    assert.ok((quiet.asked[0]?.limitBytes ?? 0) >= 300 * 700_000, String(quiet.asked[0]?.limitBytes));
    const split = await fleet({ kind: 'entries', entries: [published('a', shardReport(1), [room('r', 1)]), published('b', shardReport(1), [room('r', 1)])] }, ['--json']);
    assert.equal(split.outcome, 'splits');
    assert.equal((JSON.parse(split.out) as { splits: unknown[] }).splits.length, 1);
  });

  it('takes the stale limit from CONSUL_REPORTS_INTERVAL, or --stale-after', async () => {
    const entries = [published('a', shardReport(100), [])];
    assert.match((await fleet({ kind: 'entries', entries }, [], { CONSUL_REPORTS_INTERVAL: '30' })).out, /^a +1m40s STALE/m);
    assert.match((await fleet({ kind: 'entries', entries }, [])).out, /^a +1m40s +yes/m);
    assert.match((await fleet({ kind: 'entries', entries }, ['--stale-after', '99'])).out, /^a +1m40s STALE/m);
  });

  it('says a 403 is the token, names no token, and fails', async () => {
    const result = await fleet({ kind: 'failed', problem: 'HTTP 403: ACL not found', status: 403 }, [], { CONSUL_HTTP_TOKEN: 's3cr3t-token' });
    assert.equal(result.outcome, 'failed');
    assert.equal(result.out, '');
    assert.equal(
      result.err,
      'signal-sidecar: Consul at http://localhost:8500 refused to read signal-report/prod/ (HTTP 403: ACL not found): ' +
        'the ACL token (CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE) is unknown to Consul or lacks key read on signal-report/prod/\n',
    );
    assert.equal(result.asked[0]?.endpoint.token(), 's3cr3t-token', 'the token is sent');
  });

  it('says when Consul does not answer, or answers with an error', async () => {
    const down = await fleet({ kind: 'failed', problem: 'connect ECONNREFUSED 127.0.0.1:8500', status: 0 });
    assert.equal(down.outcome, 'failed');
    assert.match(down.err, /Consul at http:\/\/localhost:8500 does not answer: connect ECONNREFUSED/);
    const leaderless = await fleet({ kind: 'failed', problem: 'HTTP 500: No cluster leader', status: 500 }, [], { CONSUL_SECURE: 'true' });
    assert.match(leaderless.err, /Consul at https:\/\/localhost:8500 could not read signal-report\/prod\/: HTTP 500: No cluster leader/);
  });

  it('fails on an empty prefix, and says ACLs hide keys from a read without a (good) token', async () => {
    const empty = await fleet({ kind: 'entries', entries: [] });
    assert.equal(empty.outcome, 'failed');
    assert.match(empty.err, /no reports under signal-report\/prod\/ .*without a token: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE\)$/m);
    const withToken = await fleet({ kind: 'entries', entries: [{ key: 'signal-report/prod/', value: '' }] }, [], { CONSUL_HTTP_TOKEN: 't' });
    assert.match(withToken.err, /a token may not read: has it key read on signal-report\/prod\/\?\)$/m);
  });

  it('says an unreadable token file names the file, and reads nothing', async () => {
    const result = await fleet({ kind: 'entries', entries: [] }, [], { CONSUL_HTTP_TOKEN_FILE: '/nonexistent/token' });
    assert.equal(result.outcome, 'failed');
    assert.match(result.err, /bad configuration: CONSUL_HTTP_TOKEN_FILE="\/nonexistent\/token": cannot read it \(no such file\)/);
    assert.equal(result.asked.length, 0);
  });
});
