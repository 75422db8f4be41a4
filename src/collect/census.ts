import type { HttpProbe } from './http-probe';
import type { UpstreamSettings } from './jicofo-health';
import { probeAndParse, type Parse, type ParsedSample } from './parsed-probe';

/** One room as mod_muc_census reports it; passed on as received. */
export type CensusRoom = Readonly<Record<string, unknown>> & {
  readonly room_name: string;
  readonly participants: number;
};

export interface Census {
  /**
   * The census as /signal/census serves it, `{"room_census":[…]}` with every
   * room as received: the body itself when it already has that shape (so a
   * busy node's megabytes are neither copied nor kept twice as objects),
   * otherwise rewritten to it.
   */
  readonly json: string;
  readonly rooms: number;
  /** Sum over rooms, a room reported as -1 (only focus left) counting as 0. */
  readonly participants: number;
  /** Sum of participants² over rooms: how unevenly load is spread. */
  readonly sumSquaredParticipants: number;
}

export type CensusSample = ParsedSample<Census>;

/** One census entry as mod_muc_census writes a room (the fleet reader checks published ones with it too). */
export function isRoom(entry: unknown): entry is CensusRoom {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return false;
  const room = entry as Record<string, unknown>;
  return (
    typeof room.room_name === 'string' &&
    typeof room.participants === 'number' &&
    Number.isInteger(room.participants) &&
    room.participants >= -1
  );
}

/**
 * Parses /room-census. With no rooms most module versions send
 * `{"room_census":{}}` (an empty Lua table becomes an object), the newest `[]`.
 */
export function parseCensus(body: string): Parse<Census> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'census is not valid JSON' };
  }
  const list = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).room_census : undefined;
  let entries: unknown[];
  if (Array.isArray(list)) {
    entries = list;
  } else if (typeof list === 'object' && list !== null && Object.keys(list).length === 0) {
    entries = [];
  } else {
    return { ok: false, problem: 'census has no room_census list' };
  }
  let participants = 0;
  let sumSquaredParticipants = 0;
  for (const entry of entries) {
    if (!isRoom(entry)) return { ok: false, problem: `census room is malformed: ${JSON.stringify(entry).slice(0, 100)}` };
    const present = Math.max(0, entry.participants);
    participants += present;
    sumSquaredParticipants += present * present;
  }
  const asServed = Array.isArray(list) && Object.keys(json as object).length === 1;
  return {
    ok: true,
    value: { json: asServed ? body : JSON.stringify({ room_census: entries }), rooms: entries.length, participants, sumSquaredParticipants },
  };
}

/** Why the last census gives no rooms, in a short phrase; null when it gave them. */
export function censusProblem(sample: CensusSample): string | null {
  if (sample.parse?.ok === true) return null;
  if (sample.parse !== null) return sample.parse.problem;
  const { probe } = sample;
  if (!probe.reachable) return `census unreachable: ${probe.error ?? 'no answer'}`;
  return probe.error === null ? `census ${probe.statusCode}` : `census ${probe.statusCode}: ${probe.error}`;
}

/** GET {PROSODY_ORIG}/room-census with Host: CENSUS_HOST. */
export function collectCensus(
  probe: HttpProbe,
  prosodyOrigin: string,
  censusHost: string | undefined,
  settings: UpstreamSettings,
): Promise<CensusSample> {
  return probeAndParse(probe, { url: `${prosodyOrigin}/room-census`, host: censusHost, ...settings }, 'census', parseCensus, 'CENSUS_BODY_LIMIT');
}

/** The rooms of a parsed census, as objects again (for a report that carries them). */
export function censusRooms(census: Census): CensusRoom[] {
  return (JSON.parse(census.json) as { room_census: CensusRoom[] }).room_census;
}
