import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answer } from '../../src/demo/fake-signal-node';
import { agentAnswer, get, report, startAgainst, verdict, waitFor, type Daemon } from '../helpers/daemon';
import { daemonSuite } from '../helpers/daemon-suite';
import { CONFERENCE_HOST, LARGEST_NODE_PARTICIPANTS, largestNode, type NodeSnapshot } from '../helpers/largest-node';

/**
 * The built daemon at the size of the largest real signal node, with the
 * default limits and probe timeout: only the polling is quicker than the
 * default, and the census is on.
 */

const CENSUS = { CENSUS_POLL: 'true', CENSUS_HOST: CONFERENCE_HOST, POLLING_INTERVAL: '0.5', PROBE_TIMEOUT: '3' };
const CENSUS_BODY_LIMIT = 4194304;

const metric = (text: string, name: string): string | undefined => new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];

const untilParticipants = (d: Daemon, participants: number | null): Promise<Awaited<ReturnType<typeof report>>> =>
  waitFor(
    `the census to count ${participants} participants`,
    async () => {
      const body = await report(d.httpPort);
      return body.stats.prosodyParticipants === participants ? body : undefined;
    },
    20_000,
    100,
  );

describe('the largest signal node with the default limits', () => {
  const suite = daemonSuite('sidecar-largest-');
  const node = suite.fake;
  const serve = (snapshot: NodeSnapshot): void => {
    node.set('census', answer(200, snapshot.census));
    node.set('jicofoStats', answer(200, snapshot.stats, 'application/json'));
  };

  it('6,000 participants each alone in a room with a 200-byte address: census, stats, report, agent and metrics', async () => {
    const snapshot = largestNode('alone');
    assert.ok(snapshot.census.length > 1_600_000, `the census is ${snapshot.census.length} bytes`);
    serve(snapshot);
    const d = (suite.daemon = await startAgainst(node, CENSUS));

    const body = await untilParticipants(d, LARGEST_NODE_PARTICIPANTS);
    assert.equal(body.stats.jicofoParticipants, LARGEST_NODE_PARTICIPANTS);
    assert.equal(body.stats.jicofoConferences, snapshot.sizes.length);
    assert.equal(body.stats.prosodySumSquaredParticipants, snapshot.sumSquared);
    // Above the default PARTICIPANT_MAX of 5,000: healthy, but no new conferences.
    assert.equal(body.healthy, true);
    assert.equal(body.status, 'drain');
    assert.deepEqual(body.reasons, [`participants ${LARGEST_NODE_PARTICIPANTS} > 5000`]);
    assert.equal(verdict(await agentAnswer(d.agentPort)), 'up drain 0%\n');

    const census = await get(d.httpPort, '/signal/census');
    assert.equal(census.status, 200);
    assert.deepEqual(JSON.parse(census.body), JSON.parse(snapshot.census), 'every room, as prosody sent it');

    const metrics = (await get(d.httpPort, '/metrics')).body;
    assert.equal(metric(metrics, 'signal_census'), '1');
    assert.equal(metric(metrics, 'prosody_participant_sum_squared'), String(snapshot.sumSquared));
    assert.equal(metric(metrics, 'signal_probe_success\\{source="census"\\}'), '1');
    assert.ok(!d.logs().some((line) => line.message === 'census unavailable'), 'no census problem was logged');
  });

  it('a status change at that size serves the same census, and a new census replaces it', async () => {
    const skewed = largestNode('skewed');
    serve(skewed);
    const d = (suite.daemon = await startAgainst(node, CENSUS));
    await untilParticipants(d, LARGEST_NODE_PARTICIPANTS);
    const before = (await get(d.httpPort, '/signal/census')).body;
    assert.equal((JSON.parse(before) as { room_census: unknown[] }).room_census.length, skewed.sizes.length);

    d.setStatus('maint');
    await waitFor('maint', async () => (verdict(await agentAnswer(d.agentPort)) === 'up maint 0%\n' ? true : undefined));
    assert.equal((await get(d.httpPort, '/signal/census')).body, before);

    const smaller = largestNode('skewed', 4000);
    serve(smaller);
    await untilParticipants(d, 4000);
    assert.deepEqual(JSON.parse((await get(d.httpPort, '/signal/census')).body), JSON.parse(smaller.census));
  });

  it('a census longer than CENSUS_BODY_LIMIT is reported unavailable once, and the daemon keeps serving', async () => {
    const good = largestNode('alone');
    serve(good);
    const d = (suite.daemon = await startAgainst(node, CENSUS));
    await untilParticipants(d, LARGEST_NODE_PARTICIPANTS);

    const huge = largestNode('alone', 15_000);
    assert.ok(huge.census.length > CENSUS_BODY_LIMIT);
    node.set('census', answer(200, huge.census));
    const polled = node.count('census');
    const problem = `census longer than ${CENSUS_BODY_LIMIT} bytes (CENSUS_BODY_LIMIT)`;
    await waitFor('the census problem in the log', () => (d.logs().some((line) => line.message === 'census unavailable' && line.problem === problem) ? true : undefined), 20_000, 100);
    await waitFor('signal_census 0', async () => (metric((await get(d.httpPort, '/metrics')).body, 'signal_census') === '0' ? true : undefined));
    // Health does not depend on the census; the last good census is still served.
    assert.equal((await get(d.httpPort, '/signal/health')).status, 200);
    assert.equal((JSON.parse((await get(d.httpPort, '/signal/census')).body) as { room_census: unknown[] }).room_census.length, LARGEST_NODE_PARTICIPANTS);
    // Several polls of the same problem, one line.
    await waitFor('more census polls', () => (node.count('census') >= polled + 8 ? true : undefined), 20_000, 100);
    assert.equal(d.logs().filter((line) => line.message === 'census unavailable').length, 1);

    serve(largestNode('alone', 5000));
    await untilParticipants(d, 5000);
    await waitFor('census available again in the log', () => (d.logs().some((line) => line.message === 'census available again' && line.rooms === 5000) ? true : undefined));
  });
});
