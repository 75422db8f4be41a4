import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REPLIES } from '../../src/demo/fake-signal-node';
import { openSession, type Session } from '../helpers/conference-server';
import { freePort, sleep, waitFor } from '../helpers/daemon';
import { fetchText, Haproxy, missing, stateOf, watchUntil, type ServerView } from './components';
import { BACKEND, fillExample } from './example-config';
import { FAST, seconds, Shard } from './shard';

/**
 * Room-sticky sharding as Jitsi deployments run it: the example config shipped
 * in examples/haproxy-shards.cfg, loaded as it is with only addresses and ports
 * made loopback ones, in front of three shards each watched by its sidecar.
 */

const skip = missing('haproxy');
const TEST = { skip, timeout: 60_000 };
/** The example's agent-inter and check inter: bounds for waiting on HAProxy. */
const AGENT_INTER_MS = 1000;
const DAMPENING_MS = seconds(FAST.HEALTH_DAMPENING_INTERVAL);

const count = (sessions: ReadonlyMap<string, Session>, shard: string): number => [...sessions.values()].filter((session) => session.shard === shard).length;

/**
 * The example with loopback addresses and this run's ports; `withoutStickTable`
 * removes its stick rules, `expire` shortens the table's expire so that a test
 * can watch an entry age out.
 */
function localConfig(frontend: number, shards: readonly Shard[], options: { withoutStickTable?: boolean; expire?: string } = {}): string {
  let text = fillExample(
    frontend,
    shards.map((shard, index) => ({ name: shard.name, port: shard.web.port, agentPort: shard.agentPort, id: index + 1 })),
  );
  const change = (pattern: RegExp, replacement: string, what: string): void => {
    const before = text;
    text = text.replace(pattern, replacement);
    assert.notEqual(text, before, `the example has ${what}`);
  };
  if (options.withoutStickTable === true) change(/^\s*stick(-table| match| store-request) .*$/gm, '', 'a stick table');
  if (options.expire !== undefined) change(/^(\s*stick-table .*\bexpire )\S+/m, `$1${options.expire}`, 'an expire');
  return text;
}

void describe('room-sticky sharding with examples/haproxy-shards.cfg', () => {
  let shards: Shard[] = [];
  let haproxy: Haproxy;
  let frontend: number;
  /** Room -> shard, as first assigned by HAProxy. */
  const placed = new Map<string, string>();

  const shardOf = async (room: string, proxyPort = frontend): Promise<string> => {
    // Several kinds of request of one conference, as a Jitsi client sends them.
    const paths = [`/http-bind?room=${room}`, `/xmpp-websocket?room=${room}`, `/config.js?room=${room}&v=2`];
    const answers = new Set<string>();
    for (const path of paths) {
      const { status, body } = await fetchText(`http://127.0.0.1:${proxyPort}${path}`);
      answers.add(status === 200 ? body : `HTTP ${status}`);
    }
    assert.equal(answers.size, 1, `room ${room} was split over ${[...answers].join(', ')}`);
    return [...answers][0] ?? '';
  };
  const roomsOn = (name: string): string[] => [...placed].filter(([, shard]) => shard === name).map(([room]) => room);
  const view = (haproxyInstance: Haproxy, shard: Shard): Promise<ServerView> => haproxyInstance.server(BACKEND, shard.name);
  const waitState = (haproxyInstance: Haproxy, shard: Shard, state: ReturnType<typeof stateOf>, timeoutMs = 10_000): Promise<{ ms: number }> =>
    watchUntil(`${shard.name} ${state}`, () => view(haproxyInstance, shard), (server) => stateOf(server) === state && (state !== 'UP' || server.weight === 256), {
      since: Date.now(),
      timeoutMs,
    });
  const agentVerdicts = async (haproxyInstance: Haproxy): Promise<void> => {
    for (const shard of shards) {
      await waitFor(`a first agent verdict on ${shard.name}`, async () => ((await view(haproxyInstance, shard)).lastAgent.startsWith('via agent') ? true : undefined), 10_000);
    }
  };

  before(async () => {
    if (skip !== undefined) return;
    shards = await Promise.all(['shard1', 'shard2', 'shard3'].map((name) => Shard.start(name)));
    frontend = await freePort();
    haproxy = await Haproxy.start(localConfig(frontend, shards));
    await agentVerdicts(haproxy);
  });

  after(async () => {
    if (skip !== undefined) return;
    await haproxy?.stop();
    await Promise.all(shards.map((shard) => shard.stop()));
  });

  void it('all requests for one room land on one shard, and rooms spread over the shards', TEST, async (t) => {
    for (let i = 0; i < 30; i += 1) {
      const room = `conference${i}`;
      placed.set(room, await shardOf(room));
      // Asked again: the same shard.
      assert.equal(await shardOf(room), placed.get(room));
    }
    const spread = Object.fromEntries(shards.map((shard) => [shard.name, roomsOn(shard.name).length]));
    t.diagnostic(`e2e: shards: 30 rooms placed ${JSON.stringify(spread)}`);
    assert.ok(shards.filter((shard) => roomsOn(shard.name).length > 0).length >= 2, JSON.stringify(spread));
  });

  void it('a shard in drain receives no new rooms while its running conferences stay whole on it', TEST, async (t) => {
    const target = [...shards].sort((a, b) => roomsOn(b.name).length - roomsOn(a.name).length)[0];
    assert.ok(target !== undefined);
    const running = roomsOn(target.name);
    assert.ok(running.length > 1, 'the busiest shard runs rooms');
    // A running conference has its participants connected (/xmpp-websocket).
    const sessions = new Map<string, Session>();
    for (const room of running) sessions.set(room, await openSession(frontend, room));
    for (const [room, session] of sessions) assert.equal(session.shard, target.name, `${room} runs on ${target.name}`);

    target.setStatus('drain');
    const drained = await waitState(haproxy, target, 'DRAIN');
    t.diagnostic(`e2e: shards: status file drain -> ${target.name} DRAIN in ${drained.ms} ms (agent-inter ${AGENT_INTER_MS} ms)`);

    for (const room of running) {
      assert.equal(await shardOf(room), target.name, `running room ${room} stays on the draining shard`);
      const joiner = await openSession(frontend, room);
      assert.equal(joiner.shard, target.name, `a new participant of running room ${room} joins it on the draining shard`);
      joiner.close();
    }
    const fresh: Record<string, string> = {};
    for (let i = 0; i < 30; i += 1) fresh[`new-during-drain${i}`] = await shardOf(`new-during-drain${i}`);
    const onTarget = Object.entries(fresh).filter(([, shard]) => shard === target.name);
    t.diagnostic(`e2e: shards: ${target.name} drained: ${running.length} running rooms stayed, 0 of 30 new rooms expected on it, got ${onTarget.length}`);
    assert.deepEqual(onTarget, []);
    for (const [room, shard] of Object.entries(fresh)) placed.set(room, shard);

    for (const session of sessions.values()) session.close();
    await Promise.all([...sessions.values()].map((session) => session.closed));
    target.setStatus('ready');
    await waitState(haproxy, target, 'UP');
  });

  void it('a shard marked DOWN has its participants disconnected; they rejoin together elsewhere and stay when it returns', TEST, async (t) => {
    // Every known room gets a participant; the busiest shard is the one to break.
    const sessions = new Map<string, Session>();
    for (const room of placed.keys()) sessions.set(room, await openSession(frontend, room));
    const target = [...shards].sort((a, b) => count(sessions, b.name) - count(sessions, a.name))[0];
    assert.ok(target !== undefined);
    const running = [...sessions].filter(([, session]) => session.shard === target.name).map(([room]) => room);
    assert.ok(running.length > 0);

    target.fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    const down = await waitState(haproxy, target, 'DOWN');
    t.diagnostic(`e2e: shards: jicofo 500 -> ${target.name} DOWN in ${down.ms} ms (poll ${seconds(FAST.POLLING_INTERVAL)} ms, agent-inter ${AGENT_INTER_MS} ms)`);
    // on-marked-down shutdown-sessions: the participants of the broken shard are
    // disconnected (and reload) instead of staying beside a moved conference.
    const cut = Date.now();
    await Promise.race([
      Promise.all(running.map((room) => sessions.get(room)?.closed ?? Promise.resolve())),
      new Promise((_, fail) => setTimeout(() => fail(new Error('the sessions of the DOWN shard stayed open')), 5000)),
    ]);
    t.diagnostic(`e2e: shards: ${running.length} participants of ${target.name} disconnected ${Date.now() - cut} ms after it showed DOWN`);
    for (const [room, session] of sessions) {
      if (session.shard !== target.name) assert.equal(await Promise.race([session.closed.then(() => 'closed'), Promise.resolve('open')]), 'open', `${room} elsewhere stays connected`);
    }

    // Their reload: each room's participants land together on one healthy shard.
    const moved = new Map<string, string>();
    for (const room of running) {
      const [first, second] = [await openSession(frontend, room), await openSession(frontend, room)];
      assert.notEqual(first.shard, target.name, `room ${room} left the down shard`);
      assert.equal(second.shard, first.shard, `room ${room} is whole on ${first.shard}`);
      moved.set(room, first.shard);
      sessions.set(room, first);
      second.close();
    }
    t.diagnostic(`e2e: shards: ${target.name} down: its ${running.length} rooms moved to ${[...new Set(moved.values())].join(', ')}`);

    target.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    const up = await waitState(haproxy, target, 'UP', DAMPENING_MS + 10_000);
    t.diagnostic(`e2e: shards: jicofo healthy again -> ${target.name} UP in ${up.ms} ms (dampening ${DAMPENING_MS} ms)`);
    // A running conference that moved must not be split by moving back.
    for (const [room, shard] of moved) assert.equal(await shardOf(room), shard, `room ${room} stays where it moved`);
    const fresh: string[] = [];
    for (let i = 0; i < 30; i += 1) fresh.push(await shardOf(`new-after-return${i}`));
    assert.ok(fresh.includes(target.name), `the returned shard takes new rooms again: ${fresh.join(', ')}`);
    for (const session of sessions.values()) session.close();
    await Promise.all([...sessions.values()].map((session) => session.closed));
  });

  void it('participants starting a conference together land on one shard, also where the last conference of the room left its entry elsewhere', TEST, async (t) => {
    const room = 'standup-at-ten';
    const home = await shardOf(room);
    const target = shards.find((shard) => shard.name === home);
    assert.ok(target !== undefined);
    // Yesterday's conference failed over while its shard was down: the entry names another shard.
    target.fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    await waitState(haproxy, target, 'DOWN');
    const elsewhere = await shardOf(room);
    assert.notEqual(elsewhere, home);
    target.fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    await waitState(haproxy, target, 'UP', DAMPENING_MS + 10_000);

    // Today: the first participant's request is held (BOSH: the entry is written when the shard answers), and a second one joins meanwhile.
    const held = fetchText(`http://127.0.0.1:${frontend}/http-bind?room=${room}&hold=1500`, 5000);
    await sleep(200);
    const joiner = await openSession(frontend, room);
    const first = (await held).body;
    joiner.close();
    await joiner.closed;
    t.diagnostic(`e2e: shards: two participants starting ${room} at once (hashed to ${home}, the entry on ${elsewhere}): ${first} and ${joiner.shard}`);
    assert.equal(joiner.shard, first, 'the joiner lands beside the first participant');
    assert.equal(first, elsewhere, 'both follow the entry');
  });

  void it("a room name used again within the table's expire follows its entry, also onto a draining shard; after it, it is a new room", TEST, async (t) => {
    const port = await freePort();
    // Two seconds instead of the example's minutes, so the test can watch the entry age out.
    const shortLived = await Haproxy.start(localConfig(port, shards, { expire: '2s' }));
    try {
      await agentVerdicts(shortLived);
      const room = 'daily-standup';
      const home = await shardOf(room, port);
      const target = shards.find((shard) => shard.name === home);
      assert.ok(target !== undefined);
      target.setStatus('drain');
      await waitState(shortLived, target, 'DRAIN');
      const within = await shardOf(room, port);
      await waitFor(`${room}'s entry to expire`, async () => ((await shortLived.command(`show table ${BACKEND} key ${room}`)).includes('key=') ? undefined : true), 10_000, 100);
      const later = await shardOf(room, port);
      t.diagnostic(`e2e: shards: ${room} last ran on ${home}, now draining: used again within the expire on ${within}, after it on ${later}`);
      assert.equal(within, home, 'within the expire the entry is followed: HAProxy cannot tell a new conference from one between requests');
      assert.notEqual(later, home, 'after the expire the room is hashed like a new one, away from the draining shard');
    } finally {
      shards.forEach((shard) => shard.setStatus('ready'));
      await shortLived.stop();
    }
    for (const shard of shards) await waitState(haproxy, shard, 'UP');
  });

  void it('why the example has a stick table: with hashing alone, draining a shard moves its running rooms, and ready moves them back', TEST, async (t) => {
    const port = await freePort();
    const hashOnly = await Haproxy.start(localConfig(port, shards, { withoutStickTable: true }));
    try {
      await agentVerdicts(hashOnly);
      const rooms = new Map<string, string>();
      for (let i = 0; i < 30; i += 1) rooms.set(`hashed${i}`, await shardOf(`hashed${i}`, port));
      const target = shards.find((shard) => [...rooms.values()].includes(shard.name));
      assert.ok(target !== undefined);
      const running = [...rooms].filter(([, shard]) => shard === target.name).map(([room]) => room);

      target.setStatus('drain');
      await waitState(hashOnly, target, 'DRAIN');
      const after: string[] = [];
      for (const room of running) after.push(await shardOf(room, port));
      t.diagnostic(`e2e: shards, hashing alone: ${target.name} drained: its ${running.length} running rooms now on ${[...new Set(after)].join(', ')}`);
      assert.ok(!after.includes(target.name), 'HAProxy takes a drained server out of the hash ring');

      // And when the shard is ready again, its rooms jump back: a second split.
      target.setStatus('ready');
      await waitState(hashOnly, target, 'UP');
      for (const room of running) assert.equal(await shardOf(room, port), target.name, `room ${room} hashed back to ${target.name}`);
    } finally {
      shards.forEach((shard) => shard.setStatus('ready'));
      await hashOnly.stop();
    }
    for (const shard of shards) await waitState(haproxy, shard, 'UP');
  });
});
