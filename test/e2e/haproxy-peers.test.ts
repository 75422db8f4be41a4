import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSession } from '../helpers/conference-server';
import { freePort, sleep, waitFor } from '../helpers/daemon';
import { fetchText, Haproxy, missing } from './components';
import { BACKEND, fillExample, type ExamplePeer } from './example-config';
import { Shard } from './shard';

/**
 * Two HAProxies in front of the same shards, as a region runs them behind
 * its load balancer: each runs examples/haproxy-shards.cfg filled in with its
 * own address, both as peers sharing the stick table, and each lists the
 * servers in an order of its own (as service discovery may).
 */

const skip = missing('haproxy');
const TEST = { skip, timeout: 60_000 };
const NAMES = ['haproxy1', 'haproxy2'] as const;
const ROOMS = Array.from({ length: 6 }, (_, index) => `ten-oclock-${index}`);

interface Pair {
  readonly proxies: Haproxy[];
  readonly frontends: number[];
}

/**
 * Both HAProxies, peered; `withoutIds` drops the example's forced server ids,
 * so each HAProxy numbers its servers in the order it lists them.
 */
async function startPair(shards: readonly Shard[], options: { withoutIds?: boolean } = {}): Promise<Pair> {
  const frontends = [await freePort(), await freePort()];
  const peerPorts = [await freePort(), await freePort()];
  const peers: ExamplePeer[] = NAMES.map((name, index) => ({ name, port: peerPorts[index] ?? 0 }));
  const servers = shards.map((shard, index) => ({ name: shard.name, port: shard.web.port, agentPort: shard.agentPort, id: index + 1 }));
  const proxies: Haproxy[] = [];
  try {
    for (const [index, name] of NAMES.entries()) {
      const order = index === 0 ? servers : [...servers].reverse();
      let config = fillExample(frontends[index] ?? 0, order, undefined, peers);
      if (options.withoutIds === true) {
        const before = config;
        config = config.replace(/ id \d+$/gm, '');
        assert.notEqual(config, before, 'the example forces server ids');
      }
      proxies.push(await Haproxy.start(config, { args: ['-L', name] }));
    }
    for (const proxy of proxies) {
      await waitFor('every agent verdict', async () => ([...(await proxy.servers(BACKEND)).values()].every((server) => server.lastAgent.startsWith('via agent')) ? true : undefined), 10_000);
      await waitFor('the peer connection', async () => (/\(remote,active\).*last_status=ESTA/.test(await proxy.command('show peers')) ? true : undefined), 10_000);
    }
  } catch (error) {
    await Promise.all(proxies.map((proxy) => proxy.stop()));
    throw error;
  }
  return { proxies, frontends };
}

const entry = async (proxy: Haproxy, room: string): Promise<string> => (await proxy.command(`show table ${BACKEND} key ${room}`)).split('\n').slice(1).join(' ').trim();

/** Resolves once `proxy` holds `room`'s entry with its shard: the peers carried it over. */
const learned = (proxy: Haproxy, room: string): Promise<true> =>
  waitFor(`${room}'s entry on the other HAProxy`, async () => ((await entry(proxy, room)).includes('server_key=') ? true : undefined), 5000, 20);

/**
 * A new room's first participant through HAProxy 1, its request held by the
 * shard (a BOSH request: HAProxy writes the stick entry only when the shard
 * answers), and a second one through HAProxy 2 meanwhile: neither has an
 * entry to follow, each hashes the room on its own ring.
 */
async function race(pair: Pair, room: string): Promise<{ first: string; second: string; entryDuringRace: string }> {
  const [one, two] = pair.proxies;
  assert.ok(one !== undefined && two !== undefined);
  // Held long enough that the checks below come well before the answer, even on a busy machine.
  const held = fetchText(`http://127.0.0.1:${pair.frontends[0]}/http-bind?room=${room}&hold=2000`, 8000);
  await sleep(100);
  // What the joiner's HAProxy knows of the room when it arrives, and the first one's.
  const entryDuringRace = (await entry(two, room)) + (await entry(one, room));
  const joiner = await openSession(pair.frontends[1] ?? 0, room);
  const first = (await held).body;
  joiner.close();
  await joiner.closed;
  return { first, second: joiner.shard, entryDuringRace };
}

void describe('several HAProxies sharing a stick table, with examples/haproxy-shards.cfg', () => {
  let shards: Shard[] = [];

  before(async () => {
    if (skip !== undefined) return;
    shards = await Promise.all(['shard1', 'shard2', 'shard3', 'shard4'].map((name) => Shard.start(name)));
  });

  after(async () => {
    if (skip !== undefined) return;
    await Promise.all(shards.map((shard) => shard.stop()));
  });

  void it('two first joiners of a new room racing through two peered HAProxies land on one shard, and both HAProxies then agree', TEST, async (t) => {
    const pair = await startPair(shards);
    try {
      for (const room of ROOMS) {
        const { first, second, entryDuringRace } = await race(pair, room);
        assert.equal(entryDuringRace, '', `no entry for ${room} while the first request is held: a true race`);
        assert.equal(second, first, `${room}: the joiner through HAProxy 2 lands beside the first participant`);
        // The first answer wrote the entry; the peers carry it to the other HAProxy.
        const [one, two] = pair.proxies;
        assert.ok(one !== undefined && two !== undefined);
        await learned(two, room);
        const key = (text: string): string => /server_key=(\S+)/.exec(text)?.[1] ?? text;
        assert.equal(key(await entry(two, room)), key(await entry(one, room)));
      }
      t.diagnostic(`e2e: peers: ${ROOMS.length} rooms, each raced by two first joiners through two HAProxies: one shard each`);
    } finally {
      await Promise.all(pair.proxies.map((proxy) => proxy.stop()));
    }
  });

  void it('why the example forces server ids: without them, HAProxies listing the servers in another order hash racing joiners apart', TEST, async (t) => {
    const pair = await startPair(shards, { withoutIds: true });
    try {
      const apart: string[] = [];
      for (const room of ROOMS) {
        const { first, second } = await race(pair, room);
        if (first !== second) apart.push(`${room} on ${first} and ${second}`);
      }
      t.diagnostic(`e2e: peers, without server ids: ${apart.length} of ${ROOMS.length} raced rooms split: ${apart.join('; ')}`);
      assert.ok(apart.length > 0, 'some raced rooms land on two shards');
    } finally {
      await Promise.all(pair.proxies.map((proxy) => proxy.stop()));
    }
  });

  void it('a room running on a shard stays there through either HAProxy when the shard drains', TEST, async (t) => {
    const pair = await startPair(shards);
    try {
      const room = 'running-through-one';
      const session = await openSession(pair.frontends[0] ?? 0, room);
      const target = shards.find((shard) => shard.name === session.shard);
      assert.ok(target !== undefined);
      // A running room: its entry is on both HAProxies (how long the peers take is the racing test's and the fleet bench's business).
      await learned(pair.proxies[1] ?? assert.fail('two HAProxies'), room);
      target.setStatus('drain');
      for (const proxy of pair.proxies) {
        await waitFor(`${target.name} DRAIN`, async () => ((await proxy.server(BACKEND, target.name)).admin & 8 ? true : undefined), 10_000, 50);
      }
      const joiners = await Promise.all(pair.frontends.map((port) => openSession(port, room)));
      t.diagnostic(`e2e: peers: ${room} runs on ${target.name}, drained; joiners through each HAProxy landed on ${joiners.map((joiner) => joiner.shard).join(', ')}`);
      for (const joiner of joiners) assert.equal(joiner.shard, target.name);
      for (const joiner of [session, ...joiners]) joiner.close();
    } finally {
      for (const shard of shards) shard.setStatus('ready');
      await Promise.all(pair.proxies.map((proxy) => proxy.stop()));
    }
  });
});
