import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode, REPLIES, answer, redirect, type Endpoint, type Reply } from '../../src/demo/fake-signal-node';
import { QUICK, agentAnswer, get, processUsage, report, sleep, startAgainst, untilHealthy, verdict, waitFor, type Daemon, type ReportJson } from '../helpers/daemon';

const MiB = 1024 * 1024;
/** QUICK polls at 0.2 s: a steady state spans several polls within a second. */
const POLL_MS = Number(QUICK.POLLING_INTERVAL) * 1000;
const QUICK_TIMEOUT_MS = Number(QUICK.PROBE_TIMEOUT) * 1000;

interface Case {
  readonly what: string;
  readonly endpoint: Endpoint;
  readonly reply: (fake: FakeSignalNode) => Reply;
  readonly reason: RegExp;
}

const CASES: readonly Case[] = [
  { what: 'stats invalid JSON', endpoint: 'jicofoStats', reply: () => answer(200, '{"participants": 3,', 'application/json'), reason: /jicofo stats are not valid JSON/ },
  { what: 'stats null', endpoint: 'jicofoStats', reply: () => answer(200, 'null', 'application/json'), reason: /jicofo stats are null, not an object/ },
  { what: 'stats an array', endpoint: 'jicofoStats', reply: () => answer(200, '[1,2]', 'application/json'), reason: /jicofo stats are an array/ },
  { what: 'participants "many"', endpoint: 'jicofoStats', reply: () => REPLIES.statsWith('many'), reason: /participants is "many", not a number/ },
  { what: 'participants negative', endpoint: 'jicofoStats', reply: () => REPLIES.statsWith(-3), reason: /participants is -3/ },
  { what: 'participants fractional', endpoint: 'jicofoStats', reply: () => REPLIES.statsWith(2.5), reason: /participants is 2.5/ },
  { what: 'participants "NaN"', endpoint: 'jicofoStats', reply: () => REPLIES.statsWith('NaN'), reason: /participants is "NaN"/ },
  { what: 'participants 1e308', endpoint: 'jicofoStats', reply: () => REPLIES.statsWith(1e308), reason: /participants is 1e\+308, not a count/ },
  { what: 'stats 200 with an empty body', endpoint: 'jicofoStats', reply: () => answer(200, ''), reason: /jicofo stats are not valid JSON/ },
  { what: 'stats 200 with {}', endpoint: 'jicofoStats', reply: () => answer(200, '{}', 'application/json'), reason: /participants is missing/ },
  {
    what: 'stats dripping',
    endpoint: 'jicofoStats',
    reply: () => ({ kind: 'stream', bytes: 1_000_000, chunkBytes: 1, gapMs: 50 }),
    reason: new RegExp(`jicofo stats body incomplete after ${QUICK_TIMEOUT_MS} ms`),
  },
  { what: 'stats reset', endpoint: 'jicofoStats', reply: () => ({ kind: 'reset' }), reason: /jicofo stats unreachable/ },
  { what: 'health reset', endpoint: 'jicofoHealth', reply: () => ({ kind: 'reset' }), reason: /jicofo health unreachable/ },
  {
    what: 'health redirected to a healthy answer',
    endpoint: 'jicofoHealth',
    reply: (fake) => redirect(`${fake.prosodyOrigin}/http-bind`),
    reason: /jicofo health 302/,
  },
  {
    what: 'health dripping',
    endpoint: 'jicofoHealth',
    reply: () => ({ kind: 'stream', bytes: 1_000_000, chunkBytes: 1, gapMs: 50 }),
    reason: new RegExp(`jicofo health body incomplete after ${QUICK_TIMEOUT_MS} ms`),
  },
  { what: 'prosody reset', endpoint: 'prosody', reply: () => ({ kind: 'reset' }), reason: /prosody unreachable/ },
  { what: 'prosody redirected', endpoint: 'prosody', reply: (fake) => redirect(`${fake.jicofoOrigin}/about/health`, 301), reason: /prosody 301/ },
];

const HEALTHY: Readonly<Record<Endpoint, () => Reply>> = {
  jicofoHealth: REPLIES.jicofoHealthy,
  jicofoStats: REPLIES.stats,
  prosody: REPLIES.prosodyHealthy,
  census: REPLIES.census,
};

describe('hostile upstream replies: unhealthy with the reason, one log line per change', () => {
  const fake = new FakeSignalNode();
  let daemon: Daemon;

  before(async () => {
    await fake.start();
    daemon = await startAgainst(fake);
    await untilHealthy(daemon.httpPort);
  });
  after(async () => {
    await daemon.stop();
    await fake.stop();
  });

  /** The report once it carries a reason matching `reason`, read from the transition log. */
  const reportWhen = (reason: RegExp): Promise<ReportJson> =>
    waitFor(`a report with ${reason}`, async () => {
      const body = await report(daemon.httpPort);
      const reasons = daemon.logs().at(-1)?.reasons;
      return Array.isArray(reasons) && reasons.some((text) => reason.test(String(text))) ? body : undefined;
    }, 8000);

  for (const hostile of CASES) {
    it(`${hostile.what}: reported down, daemon still answers, no log line per poll`, async () => {
      fake.set(hostile.endpoint, hostile.reply(fake));
      try {
        const seen = await reportWhen(hostile.reason);
        assert.equal(seen.healthy, false);
        assert.match(seen.agentmessage, /^down /);
        // A jicofo that is not healthy has no participant count worth passing on.
        if (hostile.endpoint !== 'prosody') assert.equal(seen.stats.jicofoParticipants, null);
        // Steady: several polls of the same failure add no line.
        const lines = daemon.lines.length;
        await sleep(POLL_MS * 4);
        assert.equal((await get(daemon.httpPort, '/health')).status, 200);
        assert.match(verdict(await agentAnswer(daemon.agentPort)), /^down \w+ \d+%\n$/);
        assert.equal(daemon.lines.length, lines, `new lines: ${daemon.lines.slice(lines).join('\n')}`);
      } finally {
        fake.set(hostile.endpoint, HEALTHY[hostile.endpoint]());
      }
      await untilHealthy(daemon.httpPort);
    });
  }

  it('a 1 MiB health body is read only to the cap: still healthy, the report keeps a short excerpt', async () => {
    fake.set('jicofoHealth', answer(200, 'All good. '.repeat(100 * 1024), 'text/plain'));
    try {
      await waitFor('polls of the long health body', () => (fake.count('jicofoHealth') > 5 ? true : undefined));
      const seen = await report(daemon.httpPort);
      assert.equal(seen.healthy, true);
      assert.ok(String(seen.services.jicofoStatusContents).length <= 256);
      assert.match(verdict(await agentAnswer(daemon.agentPort)), /^up ready 100%\n$/);
    } finally {
      fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    }
  });

  it('a 32 MiB stats body is cut at the cap, reported, and does not grow the daemon', async () => {
    const pid = daemon.child.pid ?? 0;
    const before = processUsage(pid).rssKiB;
    fake.set('jicofoStats', { kind: 'stream', bytes: 32 * MiB, chunkBytes: 64 * 1024, gapMs: 0, prefix: '{"participants":1,"x":"' });
    try {
      const seen = await reportWhen(/jicofo stats longer than 65536 bytes/);
      assert.equal(seen.healthy, false);
      // Several more polls of the huge body: each would add 32 MiB if read whole.
      await sleep(POLL_MS * 6);
      const grown = processUsage(pid).rssKiB - before;
      assert.ok(grown < 16 * 1024, `RSS grew by ${grown} KiB`);
      assert.ok((fake.streamed.get('jicofoStats') ?? 0) < 16 * MiB, 'the upstream pushed most of the body');
    } finally {
      fake.set('jicofoStats', REPLIES.stats());
    }
    await untilHealthy(daemon.httpPort);
  });
});
