import { fixture } from '../../src/demo/fake-signal-node';

/**
 * What the upstreams of the largest real signal node send: about 6,000
 * participants (the HA thread in the seeds: one c5.2xlarge signal node "can
 * handle up to 6k participants"; PARTICIPANT_MAX defaults to 5,000).
 *
 * Sizes, from the formats themselves:
 * - jicofo /stats holds aggregates only (counts, the fixed set of
 *   conference-size buckets, jingle and jibri counters): about 1.5 KB whatever
 *   the node's size; only its digits grow.
 * - mod_muc_census lists every room: `{"room_name":…,"participants":…,
 *   "created_time":"…","leaked":false}` is 79 bytes plus the room address and
 *   the count. The address is `<name>@conference.<domain>`; jitsi-meet lowercases
 *   the name and percent-encodes it (getBackendSafeRoomName), so one Cyrillic
 *   or Greek letter takes 6 bytes and a 25-letter name in such a script about
 *   150. With the fixtures' short names 65,536 bytes hold about 730 rooms.
 * - The most rooms 6,000 participants can fill is 6,000 (everyone alone). With
 *   200-byte addresses that census is 1.7 MB: the worst case CENSUS_BODY_LIMIT
 *   (4 MiB) is sized for, with room to spare for rooms that only focus holds.
 */

export const LARGEST_NODE_PARTICIPANTS = 6000;
/** A long room address: a 27-letter non-Latin name percent-encoded, a number, and the conference host. */
export const LONG_ADDRESS_BYTES = 200;
export const CONFERENCE_HOST = 'conference.meet.example.com';

/** A small seeded generator (mulberry32): the same node on every run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Conference sizes that add up to `participants`: `alone` puts everyone in a
 * room of their own (the most rooms), `skewed` is many small rooms and a few
 * large ones, as on a public deployment (mean about 4).
 */
export function roomSizes(participants: number, shape: 'alone' | 'skewed', seed = 1): number[] {
  if (shape === 'alone') return Array.from({ length: participants }, () => 1);
  const random = seeded(seed);
  // Share of rooms by size band: [share, smallest, largest].
  const bands: readonly (readonly [number, number, number])[] = [
    [0.35, 1, 1],
    [0.3, 2, 2],
    [0.2, 3, 5],
    [0.1, 6, 10],
    [0.045, 11, 50],
    [0.005, 51, 200],
  ];
  const sizes: number[] = [];
  let left = participants;
  while (left > 0) {
    let pick = random();
    let band = bands[bands.length - 1] ?? [1, 1, 1];
    for (const candidate of bands) {
      if (pick < candidate[0]) {
        band = candidate;
        break;
      }
      pick -= candidate[0];
    }
    const size = Math.min(left, band[1] + Math.floor(random() * (band[2] - band[1] + 1)));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

/** Percent-encoded lowercase letters, as jitsi-meet sends a Cyrillic room name ("совещание"). */
const ENCODED_WORD = '%d1%81%d0%be%d0%b2%d0%b5%d1%89%d0%b0%d0%bd%d0%b8%d0%b5';

/** Room `index`'s address, exactly `bytes` long (at least the host and the number). */
export function roomAddress(index: number, bytes = LONG_ADDRESS_BYTES, host = CONFERENCE_HOST): string {
  const tail = `-${index}@${host}`;
  let name = '';
  while (name.length + tail.length < bytes) name += name === '' ? ENCODED_WORD : `-${ENCODED_WORD}`;
  // Cut on a whole escape, then pad with letters: the address stays one jitsi-meet could send.
  const cut = name.slice(0, Math.max(0, bytes - tail.length)).replace(/%[0-9a-f]?$/, '');
  return `${cut.padEnd(bytes - tail.length, 'a')}${tail}`;
}

/** The census mod_muc_census would send for these rooms (the newest, cjson format). */
export function censusBody(sizes: readonly number[], addressBytes = LONG_ADDRESS_BYTES, createdAt = 1763698815000): string {
  const rooms = sizes.map((participants, index) => ({
    room_name: roomAddress(index, addressBytes),
    participants,
    created_time: String(createdAt + index * 1000),
    leaked: false,
  }));
  return JSON.stringify({ room_census: rooms });
}

const BUCKETS: readonly (readonly [string, number])[] = [
  ['0_to_1', 1],
  ['1_to_2', 2],
  ['2_to_3', 3],
  ['3_to_5', 5],
  ['5_to_10', 10],
  ['10_to_20', 20],
  ['20_to_50', 50],
  ['50_to_100', 100],
  ['100_to_200', 200],
  ['200_to_300', 300],
  ['300_to_400', 400],
  ['400_to_500', 500],
  ['500_to_max', Number.POSITIVE_INFINITY],
];

/** jicofo's /stats for a node running these conferences: the fixture's fields, its aggregates recomputed. */
export function statsBody(sizes: readonly number[]): string {
  const stats = JSON.parse(fixture('jicofo-stats.json')) as Record<string, unknown>;
  const participants = sizes.reduce((sum, size) => sum + size, 0);
  const buckets: Record<string, number> = {};
  for (const [key] of BUCKETS) buckets[key] = 0;
  for (const size of sizes) {
    const bucket = BUCKETS.find(([, below]) => size < below)?.[0] ?? '500_to_max';
    buckets[bucket] = (buckets[bucket] ?? 0) + 1;
  }
  const largest = sizes.reduce((max, size) => Math.max(max, size), 0);
  return JSON.stringify({
    ...stats,
    total_participants: participants * 40,
    total_conferences_created: sizes.length * 30,
    conferences: sizes.length,
    largest_conference: largest,
    participants,
    conference_sizes: {
      average: sizes.length === 0 ? null : participants / sizes.length,
      max: largest,
      min: 0,
      total_value: participants,
      total_count: sizes.length,
      discarded: 0,
      buckets: { ...buckets, p99_upper_bound: -1, p999_upper_bound: -1 },
    },
    endpoint_pairs: sizes.reduce((sum, size) => sum + size * size, 0),
    threads: 1400,
  });
}

export interface NodeSnapshot {
  readonly sizes: readonly number[];
  readonly census: string;
  readonly stats: string;
  readonly participants: number;
  readonly sumSquared: number;
}

/** The largest node: 6,000 participants, by default each alone in a room with a long address. */
export function largestNode(shape: 'alone' | 'skewed' = 'alone', participants = LARGEST_NODE_PARTICIPANTS, addressBytes = LONG_ADDRESS_BYTES): NodeSnapshot {
  const sizes = roomSizes(participants, shape);
  return {
    sizes,
    census: censusBody(sizes, addressBytes),
    stats: statsBody(sizes),
    participants,
    sumSquared: sizes.reduce((sum, size) => sum + size * size, 0),
  };
}
