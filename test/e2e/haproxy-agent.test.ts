import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { REPLIES } from '../../src/demo/fake-signal-node';
import { freePort, get, sleep, waitFor } from '../helpers/daemon';
import { agentCheckConfig, fetchText, Haproxy, missing, stateOf, watchUntil, type ServerView } from './components';
import { FAST, seconds, Shard } from './shard';

/**
 * What real HAProxy 2.6 does with the sidecar's agent answers, read from its
 * own stats socket. s1 is the shard under test; s2 weighs itself by
 * participants and otherwise stays ready.
 */

const skip = missing('haproxy');
const AGENT_INTER_MS = 200;
const POLL_MS = seconds(FAST.POLLING_INTERVAL);
const GRACE_MS = seconds(FAST.DRAIN_GRACE_INTERVAL);
const DAMPENING_MS = seconds(FAST.HEALTH_DAMPENING_INTERVAL);
const PROBE_TIMEOUT_MS = seconds(FAST.PROBE_TIMEOUT);
/** Slack for a shared, noisy 2-core machine: bounds catch a broken mechanism, not a slow run. */
const SLACK_MS = 1500;
const TEST = { skip, timeout: 60_000 };

function config(frontend: number, shards: readonly Shard[]): string {
  return agentCheckConfig(frontend, shards.map((shard) => ({ name: shard.name, webPort: shard.web.port, agentPort: shard.agentPort })), AGENT_INTER_MS);
}

void describe('HAProxy 2.6 agent-check against the sidecar', () => {
  let haproxy: Haproxy;
  let s1: Shard;
  let s2: Shard;
  let frontend: number;
  const server = (shard: Shard): Promise<ServerView> => haproxy.server('be', shard.name);
  const upReady = (view: ServerView): boolean => stateOf(view) === 'UP' && view.weight === 256;

  before(async () => {
    if (skip !== undefined) return;
    [s1, s2] = await Promise.all([
      Shard.start('s1'),
      Shard.start('s2', { WEIGHT_PARTICIPANTS: 'true', PARTICIPANT_MAX: '1000' }),
    ]);
    s2.fake.set('jicofoStats', REPLIES.statsWith(0));
    frontend = await freePort();
    haproxy = await Haproxy.start(config(frontend, [s1, s2]));
    // Servers start UP before any agent reply: wait for a real agent verdict on both.
    for (const shard of [s1, s2]) {
      await waitFor(`a first agent verdict on ${shard.name}`, async () => {
        const view = await server(shard);
        return view.lastAgent.startsWith('via agent') ? view : undefined;
      });
    }
  });

  after(async () => {
    if (skip !== undefined) return;
    await haproxy?.stop();
    await Promise.all([s1?.stop(), s2?.stop()]);
  });

  /** Waits (bounded) for both servers to be back UP at full weight, so tests do not depend on order. */
  async function bothReady(): Promise<void> {
    s1.setStatus('ready');
    s2.setStatus('ready');
    s1.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    s2.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    s2.fake.set('jicofoStats', REPLIES.statsWith(0));
    for (const shard of [s1, s2]) {
      await watchUntil(`${shard.name} UP at weight 256`, () => server(shard), upReady, { since: Date.now(), timeoutMs: DAMPENING_MS + 10_000 });
    }
  }

  void it('ready: both servers UP at full weight, by the agent', TEST, async () => {
    for (const shard of [s1, s2]) {
      const view = await server(shard);
      assert.equal(stateOf(view), 'UP', JSON.stringify(view));
      assert.equal(view.status, 'UP');
      assert.equal(view.weight, 256);
      assert.equal(view.lastAgent, 'via agent : up');
      assert.equal(view.agentStatus, 'L7OK');
    }
  });

  for (const [word, state, status] of [
    ['drain', 'DRAIN', 'DRAIN (agent)'],
    ['maint', 'MAINT', 'MAINT'],
  ] as const) {
    void it(`status file ${word}: ${state} within 1 s; ready: UP again`, TEST, async (t) => {
      await bothReady();
      const since = Date.now();
      s1.setStatus(word);
      const changed = await watchUntil(`s1 ${state}`, () => server(s1), (view) => stateOf(view) === state, { since });
      t.diagnostic(`e2e: status file ${word} -> HAProxy ${state} in ${changed.ms} ms`);
      assert.equal((await server(s1)).status, status);
      assert.ok(changed.ms <= 1000, `${state} took ${changed.ms} ms`);

      const back = Date.now();
      s1.setStatus('ready');
      const up = await watchUntil('s1 UP', () => server(s1), upReady, { since: back });
      t.diagnostic(`e2e: status file ready after ${word} -> HAProxy UP in ${up.ms} ms`);
      assert.ok(up.ms <= 1000, `UP took ${up.ms} ms`);
    });
  }

  void it('rewriting the status file (truncate, then write, as `echo ready >` does) never drains the server', TEST, async (t) => {
    await bothReady();
    interface Events {
      events: { time: string; status: string; previousStatus: string | null }[];
    }
    const events = async (): Promise<Events['events']> => (JSON.parse((await get(s1.daemon.httpPort, '/signal/events')).body) as Events).events;
    const newestBefore = (await events())[0]?.time;
    const seen: ServerView[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        seen.push(await server(s1));
        await sleep(10);
      }
    })();
    try {
      // writeFileSync opens with O_TRUNC, then writes: for a moment the file is empty.
      for (let i = 0; i < 60; i += 1) {
        writeFileSync(s1.statusFile, 'ready\n');
        await sleep(25);
      }
    } finally {
      sampling = false;
      await sampler;
    }
    t.diagnostic(`e2e: 60 rewrites of "ready": ${seen.length} HAProxy samples, states seen: ${[...new Set(seen.map(stateOf))].join(', ')}`);
    assert.equal((await events())[0]?.time, newestBefore, `no change of the reported state: ${JSON.stringify((await events()).slice(0, 4))}`);
    assert.deepEqual(new Set(seen.map(stateOf)), new Set(['UP']));

    // A different word is one change, straight from ready, without a moment of status unknown.
    s1.setStatus('drain');
    await watchUntil('s1 DRAIN', () => server(s1), (view) => stateOf(view) === 'DRAIN', { since: Date.now() });
    const [newest] = await events();
    assert.equal(newest?.status, 'drain');
    assert.equal(newest?.previousStatus, 'ready');
  });

  void it('WEIGHT_PARTICIPANTS: participants at half of PARTICIPANT_MAX give weight 128', TEST, async (t) => {
    await bothReady();
    const since = Date.now();
    s2.fake.set('jicofoStats', REPLIES.statsWith(500));
    const half = await watchUntil('s2 at weight 128', () => server(s2), (view) => view.weight === 128, { since });
    t.diagnostic(`e2e: participants 500/1000 -> HAProxy weight 128 in ${half.ms} ms`);
    assert.equal(stateOf(half.value), 'UP');
    assert.equal((await haproxy.command('get weight be/s2')).trim(), '128 (initial 256)');

    s2.fake.set('jicofoStats', REPLIES.statsWith(250));
    const quarter = await watchUntil('s2 at weight 192', () => server(s2), (view) => view.weight === 192, { since: Date.now() });
    t.diagnostic(`e2e: participants 250/1000 -> HAProxy weight 192 in ${quarter.ms} ms`);
  });

  void it('jicofo 500: DOWN within one poll; healthy again: UP only after the dampening interval', TEST, async (t) => {
    await bothReady();
    const since = Date.now();
    s1.fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    const down = await watchUntil('s1 DOWN', () => server(s1), (view) => stateOf(view) === 'DOWN', { since });
    t.diagnostic(`e2e: jicofo 500 -> HAProxy DOWN in ${down.ms} ms (poll ${POLL_MS} ms, agent-inter ${AGENT_INTER_MS} ms)`);
    const downView = await server(s1);
    assert.equal(downView.status, 'DOWN (agent)');
    assert.ok(down.ms <= POLL_MS + AGENT_INTER_MS + SLACK_MS, `DOWN took ${down.ms} ms`);
    // The reason after ` # ` on the down line is what operators see in HAProxy.
    t.diagnostic(`e2e: jicofo 500: HAProxy last_agt "${downView.lastAgent}"`);
    assert.equal(downView.lastAgent, 'via agent : down (jicofo health 500)');

    await sleep(POLL_MS);
    const healed = Date.now();
    s1.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    const seen: ServerView[] = [];
    const up = await watchUntil('s1 UP', () => server(s1), upReady, { since: healed, timeoutMs: DAMPENING_MS + 10_000, seen });
    t.diagnostic(`e2e: jicofo healthy again -> HAProxy UP in ${up.ms} ms (dampening ${DAMPENING_MS} ms)`);
    // The last unhealthy poll was at most one interval before jicofo healed.
    assert.ok(up.ms >= DAMPENING_MS - POLL_MS - 50, `UP after ${up.ms} ms, before the dampening interval ran out`);
    assert.ok(up.ms <= DAMPENING_MS + POLL_MS + AGENT_INTER_MS + SLACK_MS, `UP took ${up.ms} ms`);
    assert.deepEqual(new Set(seen.slice(0, -1).map(stateOf)), new Set(['DOWN']), 'stays DOWN while dampened');
  });

  void it('jicofo 503: DRAIN for the grace interval, then DOWN; healthy again: UP after dampening', TEST, async (t) => {
    await bothReady();
    const since = Date.now();
    s1.fake.set('jicofoHealth', REPLIES.jicofoSoftDown());
    const drained = await watchUntil('s1 DRAIN', () => server(s1), (view) => stateOf(view) === 'DRAIN', { since });
    t.diagnostic(`e2e: jicofo 503 -> HAProxy DRAIN in ${drained.ms} ms`);
    assert.equal((await server(s1)).status, 'DRAIN (agent)');
    assert.ok(drained.ms <= POLL_MS + AGENT_INTER_MS + SLACK_MS, `DRAIN took ${drained.ms} ms`);

    const seen: ServerView[] = [];
    const down = await watchUntil('s1 DOWN', () => server(s1), (view) => stateOf(view) === 'DOWN', { since, timeoutMs: GRACE_MS + 10_000, seen });
    t.diagnostic(`e2e: jicofo 503 -> HAProxy DOWN in ${down.ms} ms (grace ${GRACE_MS} ms)`);
    // The grace runs from the poll that saw the 503, which came after `since`.
    assert.ok(down.ms >= GRACE_MS - 50, `DOWN after ${down.ms} ms, inside the grace interval`);
    assert.ok(down.ms <= GRACE_MS + POLL_MS + AGENT_INTER_MS + SLACK_MS, `DOWN took ${down.ms} ms`);
    assert.deepEqual(new Set(seen.slice(0, -1).map(stateOf)), new Set(['DRAIN']), 'DRAIN throughout the grace');
    const after503 = await server(s1);
    t.diagnostic(`e2e: jicofo 503 after the grace: HAProxy last_agt "${after503.lastAgent}"`);
    assert.match(after503.lastAgent, /^via agent : down \(.*503.*\)$/);

    await sleep(POLL_MS);
    const healed = Date.now();
    s1.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    const up = await watchUntil('s1 UP', () => server(s1), upReady, { since: healed, timeoutMs: DAMPENING_MS + 10_000 });
    t.diagnostic(`e2e: jicofo 200 after 503 -> HAProxy UP in ${up.ms} ms (dampening ${DAMPENING_MS} ms)`);
    assert.ok(up.ms >= DAMPENING_MS - POLL_MS - 50, `UP after ${up.ms} ms, before the dampening interval ran out`);
  });

  void it('jicofo hangs: DOWN within the probe timeout plus one poll', TEST, async (t) => {
    await bothReady();
    const since = Date.now();
    s1.fake.set('jicofoHealth', { kind: 'hang' });
    const down = await watchUntil('s1 DOWN', () => server(s1), (view) => stateOf(view) === 'DOWN', { since });
    t.diagnostic(`e2e: jicofo hangs -> HAProxy DOWN in ${down.ms} ms (probe timeout ${PROBE_TIMEOUT_MS} ms, poll ${POLL_MS} ms)`);
    assert.ok(down.ms <= PROBE_TIMEOUT_MS + POLL_MS + AGENT_INTER_MS + SLACK_MS, `DOWN took ${down.ms} ms`);
    s1.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
  });

  void it('restarting the sidecar (SIGTERM, start again) never shows the server DOWN or DRAIN', TEST, async (t) => {
    await bothReady();
    const samples: ServerView[] = [];
    let sampling = true;
    const started = Date.now();
    // Sample HAProxy's view as densely as the socket allows, all through the restart.
    const sampler = (async () => {
      while (sampling) {
        samples.push(await server(s1));
        await sleep(5);
      }
    })();
    try {
      await sleep(500);
      const { stoppedMs, gapMs } = await s1.restart();
      // The new daemon answers after its first poll; give HAProxy several agent checks after that.
      await waitFor('a verdict from the restarted daemon', async () => ((await server(s1)).agentStatus === 'L7OK' ? true : undefined));
      await sleep(5 * AGENT_INTER_MS);
      t.diagnostic(`e2e: sidecar restart: SIGTERM to exit ${stoppedMs} ms, exit to listening ${gapMs} ms`);
    } finally {
      sampling = false;
      await sampler;
    }
    const states = new Set(samples.map(stateOf));
    const agentResults = new Set(samples.map((view) => view.agentStatus));
    t.diagnostic(
      `e2e: sidecar restart: ${samples.length} HAProxy samples over ${Date.now() - started} ms; states seen: ${[...states].join(', ')}; agent check results seen: ${[...agentResults].join(', ')}`,
    );
    assert.deepEqual(states, new Set(['UP']));
    assert.deepEqual(new Set(samples.map((view) => view.weight)), new Set([256]));
    // Proof that HAProxy did check while the agent was away (refused, closed or held).
    assert.ok([...agentResults].some((result) => result !== 'L7OK'), `agent results: ${[...agentResults].join(', ')}`);
  });

  void it('traffic through the frontend reaches only servers that are up and not drained', TEST, async (t) => {
    await bothReady();
    const send = async (count: number): Promise<Record<string, number>> => {
      const hits: Record<string, number> = {};
      for (let i = 0; i < count; i += 1) {
        const { status, body } = await fetchText(`http://127.0.0.1:${frontend}/`);
        const key = status === 200 ? body : `HTTP ${status}`;
        hits[key] = (hits[key] ?? 0) + 1;
      }
      return hits;
    };

    const both = await send(40);
    t.diagnostic(`e2e: traffic, both ready: ${JSON.stringify(both)}`);
    assert.deepEqual(Object.keys(both).sort(), ['s1', 's2']);

    s1.setStatus('drain');
    await watchUntil('s1 DRAIN', () => server(s1), (view) => stateOf(view) === 'DRAIN', { since: Date.now() });
    const drained = await send(40);
    t.diagnostic(`e2e: traffic, s1 drained: ${JSON.stringify(drained)}`);
    assert.deepEqual(drained, { s2: 40 });

    s1.setStatus('ready');
    s2.fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    await watchUntil('s1 UP', () => server(s1), upReady, { since: Date.now() });
    await watchUntil('s2 DOWN', () => server(s2), (view) => stateOf(view) === 'DOWN', { since: Date.now() });
    const down = await send(40);
    t.diagnostic(`e2e: traffic, s2 down: ${JSON.stringify(down)}`);
    assert.deepEqual(down, { s1: 40 });
    await bothReady();
  });
});
