import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAfterPoll, decideAgain, type Decision } from '../../src/decide/decide';
import { FRESH_MEMORY, type FlapMemory } from '../../src/decide/flap';
import type { StateSettings } from '../../src/decide/state';
import type { Samples } from '../../src/decide/samples';
import { SETTINGS, samples, statsWith, type Node } from '../helpers/samples';

const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number): number => T0 + seconds * 1000;

/**
 * Drives the pure core like the daemon does: a poll at each given second,
 * remembering between polls, with the clock injected.
 */
class Timeline {
  memory: FlapMemory = FRESH_MEMORY;
  last: { samples: Samples; decision: Decision } | undefined;

  constructor(readonly settings: StateSettings = SETTINGS) {}

  poll(atSecond: number, node: Node = {}): Decision {
    const polled = samples(node);
    const decision = decideAfterPoll(polled, this.memory, s(atSecond), this.settings);
    this.memory = decision.memory;
    this.last = { samples: polled, decision };
    return decision;
  }

  /** The verdict at a later time with no new poll (grace or dampening running out). */
  at(atSecond: number): Decision {
    assert.ok(this.last, 'poll first');
    return decideAgain(this.last.samples, this.memory, s(atSecond), this.settings);
  }
}

/** The agent's verdict words; the wire line (with a description on down lines) is tested apart. */
const line = (decision: Decision): string => decision.report.agentmessage;

describe('raw health and status', () => {
  it('a healthy, ready node is up at full weight with no reasons', () => {
    const decision = new Timeline().poll(0);
    assert.equal(line(decision), 'up ready 100%');
    assert.equal(decision.report.healthy, true);
    assert.equal(decision.report.status, 'ready');
    assert.equal(decision.report.weight, '100%');
    assert.deepEqual(decision.reasons, []);
    assert.equal(decision.report.stats.jicofoParticipants, 20);
    assert.equal(decision.report.stats.jicofoConferences, 4);
  });

  it('drain and maint in the status file take the weight to 0% and stay up', () => {
    assert.equal(line(new Timeline().poll(0, { status: 'drain' })), 'up drain 0%');
    assert.equal(line(new Timeline().poll(0, { status: 'maint\n' })), 'up maint 0%');
  });

  it('a CRLF status line is trimmed to its word', () => {
    assert.equal(line(new Timeline().poll(0, { status: 'drain\r\n' })), 'up drain 0%');
  });

  it('the word unhealthy reports drain and forces unhealthy', () => {
    const decision = new Timeline().poll(0, { status: 'unhealthy' });
    assert.equal(decision.report.healthy, false);
    assert.equal(decision.report.status, 'drain');
    assert.equal(line(decision), 'down drain 0%');
    assert.deepEqual(decision.reasons, ['status file says unhealthy']);
  });

  it('a missing status file is unknown status and unhealthy; the agent says drain', () => {
    const decision = new Timeline().poll(0, { status: null });
    assert.equal(decision.report.healthy, false);
    assert.equal(decision.report.status, 'unknown');
    assert.equal(decision.report.statuses.statusFileFound, false);
    assert.match(line(decision), /^down drain /);
    assert.deepEqual(decision.reasons, ['status file missing']);
  });

  it('an unknown word is status unknown, still healthy, sent to HAProxy as drain', () => {
    const decision = new Timeline().poll(0, { status: 'draining please' });
    assert.equal(decision.report.status, 'unknown');
    assert.equal(decision.report.healthy, true);
    assert.match(line(decision), /^up drain /);
    assert.match(decision.reasons[0] ?? '', /not ready, drain or maint/);
  });

  it('jicofo answering 500 is down at once with the reason, grace or not', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    const decision = timeline.poll(5, { jicofo: 500 });
    assert.equal(line(decision), 'down ready 100%');
    assert.equal(decision.report.services.jicofoHealthy, false);
    assert.equal(decision.report.services.jicofoStatusCode, 500);
    assert.deepEqual(decision.reasons, ['jicofo health 500']);
  });

  it('jicofo stats failing makes jicofo unhealthy and hides participants', () => {
    const decision = new Timeline().poll(0, { stats: 500 });
    assert.equal(decision.report.healthy, false);
    assert.equal(decision.report.services.jicofoHealthy, false);
    assert.equal(decision.report.stats.jicofoParticipants, null);
    assert.deepEqual(decision.reasons, ['jicofo stats 500']);
  });

  it('participants are null whenever jicofo is not healthy, even with good stats', () => {
    const decision = new Timeline().poll(0, { jicofo: 503 });
    assert.equal(decision.report.stats.jicofoParticipants, null);
    assert.equal(decision.report.stats.jicofoConferences, null);
  });

  for (const [what, body] of [
    ['invalid JSON', '{"participants": 3'],
    ['null', 'null'],
    ['an array', '[1,2]'],
    ['participants as a string', statsWith('many')],
    ['negative participants', statsWith(-3)],
    ['fractional participants', statsWith(2.5)],
    ['absurd participants', statsWith(1e300)],
    ['missing conferences', JSON.stringify({ participants: 3 })],
    ['empty body', ''],
  ] as const) {
    it(`stats with ${what} are unhealthy, not healthy`, () => {
      const decision = new Timeline().poll(0, { statsBody: body });
      assert.equal(decision.report.healthy, false);
      assert.equal(decision.report.stats.jicofoParticipants, null);
      assert.match(decision.reasons.join(), /jicofo stats/);
    });
  }

  it('prosody refusing connections is a hard failure', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    const decision = timeline.poll(5, { prosody: 'refused' });
    assert.equal(line(decision), 'down ready 100%');
    assert.match(decision.reasons[0] ?? '', /^prosody unreachable: .*ECONNREFUSED/);
  });

  it('participants above PARTICIPANT_MAX drain the node', () => {
    const decision = new Timeline({ ...SETTINGS, participantMax: 10 }).poll(0);
    assert.equal(decision.report.status, 'drain');
    assert.equal(line(decision), 'up drain 0%');
    assert.deepEqual(decision.reasons, ['participants 20 > 10']);
  });

  it('maint is not turned into drain by participants above the maximum', () => {
    assert.equal(new Timeline({ ...SETTINGS, participantMax: 10 }).poll(0, { status: 'maint' }).report.status, 'maint');
  });
});

describe('participant weighting', () => {
  const weighted = (participantMax: number, participants: unknown): string =>
    line(new Timeline({ ...SETTINGS, weightParticipants: true, participantMax }).poll(0, { statsBody: statsWith(participants) }));

  it('is the remaining capacity in 5 % steps', () => {
    assert.equal(weighted(1000, 250), 'up ready 75%');
    assert.equal(weighted(1000, 0), 'up ready 100%');
    assert.equal(weighted(1000, 500), 'up ready 50%');
    assert.equal(weighted(1000, 333), 'up ready 65%');
    assert.equal(weighted(1000, 338), 'up ready 65%');
    assert.equal(weighted(1000, 312), 'up ready 70%');
  });

  it('never goes below 1 % while under the maximum', () => {
    assert.equal(weighted(1000, 990), 'up ready 1%');
    assert.equal(weighted(1000, 1000), 'up ready 1%');
  });

  it('is 0 % when participants are unknown', () => {
    const timeline = new Timeline({ ...SETTINGS, weightParticipants: true, participantMax: 1000 });
    assert.equal(line(timeline.poll(0, { stats: 500 })), 'down ready 0%');
  });

  it('above the maximum the node drains at 0 %', () => {
    assert.equal(weighted(10, 20), 'up drain 0%');
  });

  it('holds a weight until the remaining capacity is a whole step away from it', () => {
    const timeline = new Timeline({ ...SETTINGS, weightParticipants: true, participantMax: 1000 });
    // Participants at each poll, and the weight reported.
    const polls: readonly (readonly [number, number])[] = [
      [480, 50], // 52 % left
      [470, 50], // 53 %: the contract's rounding would say 55, but it is not a whole step from 50
      [478, 50],
      [451, 50],
      [450, 55], // 55 %: a whole step from the reported 50, and the share as the contract rounds it
      [480, 55],
      [500, 50],
      [10, 100],
    ];
    const reported = polls.map(([participants], index) => line(timeline.poll(index * 5, { statsBody: statsWith(participants) })));
    assert.deepEqual(reported, polls.map(([, weight]) => `up ready ${weight}%`));
  });

  it('holds nothing across a drain or unknown participants: the next weight is the share itself', () => {
    const timeline = new Timeline({ ...SETTINGS, weightParticipants: true, participantMax: 1000 });
    assert.equal(line(timeline.poll(0, { statsBody: statsWith(480) })), 'up ready 50%');
    assert.equal(line(timeline.poll(5, { status: 'drain', statsBody: statsWith(480) })), 'up drain 0%');
    assert.equal(line(timeline.poll(10, { statsBody: statsWith(470) })), 'up ready 55%');
    assert.equal(line(timeline.poll(15, { stats: 500 })), 'down ready 0%');
  });

  it('is 100 % without WEIGHT_PARTICIPANTS whatever the load', () => {
    assert.equal(line(new Timeline({ ...SETTINGS, participantMax: 1000 }).poll(0, { statsBody: statsWith(900) })), 'up ready 100%');
  });
});

describe('drain grace', () => {
  it('a soft jicofo failure is drain during the grace, then down', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    const during = timeline.poll(5, { jicofo: 503 });
    assert.equal(line(during), 'up drain 0%');
    assert.equal(during.report.healthy, true);
    assert.equal(during.report.services.jicofoSoftDown, true);
    assert.equal(during.reconsiderAt, s(125));
    assert.deepEqual(during.reasons, ['jicofo health 503', 'drain grace until 2026-01-01T00:02:05.000Z']);
    assert.equal(line(timeline.poll(120, { jicofo: 503 })), 'up drain 0%');
    // Between polls, at the grace boundary, with no new sample.
    assert.equal(line(timeline.at(124.999)), 'up drain 0%');
    const after = timeline.at(125);
    assert.equal(line(after), 'down ready 100%');
    assert.equal(after.reconsiderAt, null);
    assert.equal(line(timeline.poll(130, { jicofo: 503 })), 'down ready 100%');
  });

  it('a prosody timeout with jicofo healthy is soft', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    assert.equal(line(timeline.poll(5, { prosody: 'timeout' })), 'up drain 0%');
  });

  it('jicofo soft down with prosody timing out is soft', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    const decision = timeline.poll(5, { jicofo: 503, prosody: 'timeout' });
    assert.equal(line(decision), 'up drain 0%');
    assert.equal(decision.report.services.prosodySoftDown, true);
  });

  it('jicofo soft down with prosody refusing is hard', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    assert.equal(line(timeline.poll(5, { jicofo: 503, prosody: 'refused' })), 'down ready 100%');
  });

  it('no grace before the node was ever healthy', () => {
    assert.equal(line(new Timeline().poll(0, { jicofo: 503 })), 'down ready 100%');
  });

  it('a hard failure gets no grace', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    assert.equal(line(timeline.poll(5, { jicofo: 500 })), 'down ready 100%');
  });

  it('an episode that turned hard does not return to drain when it softens again', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    assert.equal(line(timeline.poll(5, { jicofo: 503 })), 'up drain 0%');
    assert.equal(line(timeline.poll(10, { jicofo: 500 })), 'down ready 100%');
    assert.equal(line(timeline.poll(15, { jicofo: 503 })), 'down ready 100%');
  });

  it('a soft failure with the status file missing is hard', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    assert.match(line(timeline.poll(5, { jicofo: 503, status: null })), /^down /);
  });

  it('DRAIN_GRACE_INTERVAL=0 disables the grace', () => {
    const timeline = new Timeline({ ...SETTINGS, drainGraceMs: 0 });
    timeline.poll(0);
    assert.equal(line(timeline.poll(5, { jicofo: 503 })), 'down ready 100%');
  });
});

describe('health dampening', () => {
  it('after a hard failure, health returns only HEALTH_DAMPENING_INTERVAL after the last unhealthy poll', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    timeline.poll(10, { jicofo: 500 });
    const damped = timeline.poll(15);
    assert.equal(line(damped), 'down ready 100%');
    assert.equal(damped.report.healthdamped, true);
    assert.equal(damped.reconsiderAt, s(40));
    assert.deepEqual(damped.reasons, ['dampening until 2026-01-01T00:00:40.000Z']);
    assert.equal(line(timeline.poll(35)), 'down ready 100%');
    assert.equal(line(timeline.at(39.999)), 'down ready 100%');
    const healed = timeline.at(40);
    assert.equal(line(healed), 'up ready 100%');
    assert.equal(healed.report.healthdamped, false);
  });

  it('a new failure during dampening restarts it', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    timeline.poll(10);
    timeline.poll(20, { jicofo: 500 });
    assert.equal(timeline.poll(25).reconsiderAt, s(50));
  });

  it('no dampening before the first failure', () => {
    const decision = new Timeline().poll(0);
    assert.equal(decision.report.healthdamped, false);
    assert.equal(line(decision), 'up ready 100%');
  });

  it('a node that starts unhealthy is dampened once it heals', () => {
    const timeline = new Timeline();
    timeline.poll(0, { jicofo: 'refused' });
    assert.equal(timeline.poll(5).report.healthdamped, true);
  });

  it('a soft episode that heals within the grace is not dampened', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    timeline.poll(5, { jicofo: 503 });
    timeline.poll(10, { jicofo: 503 });
    const healed = timeline.poll(15);
    assert.equal(line(healed), 'up ready 100%');
    assert.equal(healed.report.healthdamped, false);
  });

  it('a soft episode that outlived its grace is dampened', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    timeline.poll(5, { jicofo: 503 });
    timeline.poll(130, { jicofo: 503 });
    const healed = timeline.poll(135);
    assert.equal(healed.report.healthdamped, true);
    assert.equal(healed.reconsiderAt, s(160));
  });

  it('an episode that began soft but turned hard is dampened', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    timeline.poll(5, { jicofo: 503 });
    timeline.poll(10, { jicofo: 500 });
    assert.equal(timeline.poll(15).report.healthdamped, true);
  });

  it('HEALTH_DAMPENING_INTERVAL=0 disables dampening', () => {
    const timeline = new Timeline({ ...SETTINGS, healthDampeningMs: 0 });
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    assert.equal(line(timeline.poll(10)), 'up ready 100%');
  });
});

describe('report shape', () => {
  it('keeps every field of the contract, in order, and adds only new ones', () => {
    const report = new Timeline().poll(0).report;
    const contract = ['time', 'healthy', 'healthdamped', 'status', 'weight', 'agentmessage', 'services', 'statuses', 'stats'];
    assert.deepEqual(Object.keys(report).filter((key) => contract.includes(key)), contract);
    const services = [
      'jicofoHealthy',
      'jicofoReachable',
      'jicofoSoftDown',
      'jicofoStatusCode',
      'jicofoStatusContents',
      'jicofoStatsReachable',
      'jicofoStatsStatusCode',
      'prosodyHealthy',
      'prosodyReachable',
      'prosodySoftDown',
      'prosodyStatusCode',
    ];
    for (const field of services) assert.ok(field in report.services, field);
    assert.deepEqual(Object.keys(report.statuses), ['statusFileFound', 'statusFileContents', 'statusSource']);
    assert.equal(report.statuses.statusSource, 'file');
    assert.equal(report.consul, undefined, 'no consul block while Consul is not used');
    assert.equal(report.time, '2026-01-01T00:00:00.000Z');
    assert.equal(report.agentmessage, 'up ready 100%');
  });

  it('lists reasons, empty when healthy and ready', () => {
    assert.deepEqual(new Timeline().poll(0).report.reasons, []);
    assert.deepEqual(new Timeline().poll(0, { status: 'drain' }).report.reasons, ['status file says drain']);
    assert.deepEqual(new Timeline().poll(0, { prosody: 'timeout' }).report.reasons, ['prosody timeout after 3000 ms']);
  });

  it('carries the round-trip time of each probe next to its status code', () => {
    const services = new Timeline().poll(0, { prosody: 'timeout' }).report.services;
    assert.equal(services.jicofoRoundTripMs, 2);
    assert.equal(services.jicofoStatsRoundTripMs, 2);
    assert.equal(services.prosodyRoundTripMs, 3000);
  });

  it('status codes are 0 without an HTTP answer', () => {
    const report = new Timeline().poll(0, { jicofo: 'timeout', stats: 'refused', prosody: 'refused' }).report;
    assert.equal(report.services.jicofoStatusCode, 0);
    assert.equal(report.services.jicofoReachable, false);
    assert.equal(report.services.jicofoStatsStatusCode, 0);
    assert.equal(report.services.prosodyStatusCode, 0);
  });

  it('census stats appear only with CENSUS_POLL', () => {
    assert.equal('prosodyParticipants' in new Timeline().poll(0).report.stats, false);
    const stats = new Timeline({ ...SETTINGS, censusPoll: true }).poll(0).report.stats;
    assert.equal(stats.prosodyParticipants, 19);
    assert.equal(stats.prosodySumSquaredParticipants, 144 + 25 + 4);
  });

  it('census stats are null when the census is broken', () => {
    const stats = new Timeline({ ...SETTINGS, censusPoll: true }).poll(0, { censusBody: 'garbage' }).report.stats;
    assert.equal(stats.prosodyParticipants, null);
    assert.equal(stats.prosodySumSquaredParticipants, null);
  });
});

describe('agent line on the wire', () => {
  it('is the verdict alone when up', () => {
    assert.equal(new Timeline().poll(0).agentLine, 'up ready 100%\n');
    const timeline = new Timeline();
    timeline.poll(0);
    assert.equal(timeline.poll(5, { jicofo: 503 }).agentLine, 'up drain 0%\n');
  });

  it('adds the first reason as the HAProxy description on down lines', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    assert.equal(timeline.poll(5, { jicofo: 500 }).agentLine, 'down ready 100% # jicofo health 500\n');
    assert.equal(new Timeline().poll(0, { status: 'unhealthy' }).agentLine, 'down drain 0% # status file says unhealthy\n');
  });

  it('explains the down, not the status, when both have reasons', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    const damped = timeline.poll(10, { status: 'drain' });
    assert.deepEqual(damped.reasons, ['status file says drain', 'dampening until 2026-01-01T00:00:35.000Z']);
    assert.equal(damped.agentLine, 'down drain 0% # dampening until 2026-01-01T00:00:35.000Z\n');
    assert.equal(timeline.poll(15, { status: 'drain', prosody: 'refused' }).agentLine.split(' # ')[1]?.startsWith('prosody unreachable'), true);
  });

  it('names dampening as the reason while health is held back', () => {
    const timeline = new Timeline();
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    assert.equal(timeline.poll(10).agentLine, 'down ready 100% # dampening until 2026-01-01T00:00:35.000Z\n');
  });

  it('keeps junk from the status file on one line', () => {
    const text = new Timeline().poll(0, { status: 'bad\u0000word\rwith\ncontrols' }).agentLine;
    assert.equal(text.indexOf('\n'), text.length - 1);
    assert.equal([...text.slice(0, -1)].some((char) => char.charCodeAt(0) < 0x20), false);
  });
});

describe('hysteresis', () => {
  const thresholds = (unhealthyThreshold: number, healthyThreshold: number): StateSettings => ({
    ...SETTINGS,
    unhealthyThreshold,
    healthyThreshold,
    healthDampeningMs: 0,
    drainGraceMs: 0,
  });

  it('with the defaults (1 and 1) one poll decides, as the original did', () => {
    const timeline = new Timeline(thresholds(1, 1));
    timeline.poll(0);
    assert.equal(line(timeline.poll(5, { jicofo: 500 })), 'down ready 100%');
    assert.equal(line(timeline.poll(10)), 'up ready 100%');
  });

  it('UNHEALTHY_THRESHOLD=3 reports a failure only on its third poll in a row', () => {
    const timeline = new Timeline(thresholds(3, 1));
    timeline.poll(0);
    const first = timeline.poll(5, { jicofo: 500 });
    assert.equal(line(first), 'up ready 100%');
    assert.deepEqual(first.reasons, ['jicofo health 500', 'failure not confirmed: 1 of 3 unhealthy polls']);
    assert.equal(line(timeline.poll(10, { jicofo: 500 })), 'up ready 100%');
    assert.equal(line(timeline.poll(15, { jicofo: 500 })), 'down ready 100%');
  });

  it('a healthy poll in between resets the count', () => {
    const timeline = new Timeline(thresholds(2, 1));
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    timeline.poll(10);
    assert.equal(line(timeline.poll(15, { jicofo: 500 })), 'up ready 100%');
    assert.equal(line(timeline.poll(20, { jicofo: 500 })), 'down ready 100%');
  });

  it('HEALTHY_THRESHOLD=2 returns health only on the second healthy poll in a row', () => {
    const timeline = new Timeline(thresholds(1, 2));
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    const first = timeline.poll(10);
    assert.equal(line(first), 'down ready 100%');
    assert.deepEqual(first.reasons, ['recovering: 1 of 2 healthy polls']);
    assert.equal(line(timeline.poll(15)), 'up ready 100%');
  });

  it('a blip below the threshold leaves no dampening behind', () => {
    const timeline = new Timeline({ ...thresholds(2, 1), healthDampeningMs: 30_000 });
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    const after = timeline.poll(10);
    assert.equal(line(after), 'up ready 100%');
    assert.equal(after.report.healthdamped, false);
  });

  it('dampening counts from the last poll before health was confirmed', () => {
    const timeline = new Timeline({ ...thresholds(1, 2), healthDampeningMs: 30_000 });
    timeline.poll(0);
    timeline.poll(5, { jicofo: 500 });
    timeline.poll(10);
    const confirmed = timeline.poll(15);
    assert.equal(confirmed.report.healthdamped, true);
    assert.equal(confirmed.reconsiderAt, s(40));
  });

  it('a soft episode keeps its drain grace while a recovery is being confirmed', () => {
    const timeline = new Timeline({ ...thresholds(1, 3), drainGraceMs: 120_000 });
    timeline.poll(0);
    assert.equal(line(timeline.poll(5, { jicofo: 503 })), 'up drain 0%');
    assert.equal(line(timeline.poll(10)), 'up drain 0%');
    assert.equal(line(timeline.poll(15)), 'up drain 0%');
    assert.equal(line(timeline.poll(20)), 'up ready 100%');
  });
});
