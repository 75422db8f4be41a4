import type { HttpProbe, ProbeResult } from './http-probe';
import type { UpstreamSettings } from './jicofo-health';

export interface JicofoStats {
  readonly participants: number;
  readonly conferences: number;
}

export type StatsParse =
  | { readonly ok: true; readonly stats: JicofoStats }
  | { readonly ok: false; readonly problem: string };

export interface JicofoStatsSample {
  readonly probe: ProbeResult;
  /** Null when there was no complete 200 answer to parse. */
  readonly parse: StatsParse | null;
}

/** Far above any real signal node (about 6k): anything larger is a broken counter. */
const MAX_COUNT = 10_000_000;

function count(value: unknown, field: string): number | string {
  if (typeof value !== 'number') return `${field} is ${value === undefined ? 'missing' : JSON.stringify(value)}, not a number`;
  if (!Number.isInteger(value) || value < 0 || value > MAX_COUNT) {
    return `${field} is ${value}, not a count from 0 to ${MAX_COUNT}`;
  }
  return value;
}

/** Reads `participants` and `conferences` from jicofo's /stats JSON. */
export function parseJicofoStats(body: string): StatsParse {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'stats are not valid JSON' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, problem: `stats are ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}, not an object` };
  }
  const record = json as Record<string, unknown>;
  const participants = count(record.participants, 'participants');
  if (typeof participants === 'string') return { ok: false, problem: `stats ${participants}` };
  const conferences = count(record.conferences, 'conferences');
  if (typeof conferences === 'string') return { ok: false, problem: `stats ${conferences}` };
  return { ok: true, stats: { participants, conferences } };
}

/** GET {JICOFO_ORIG}/stats, parsed when it answered 200 completely. */
export async function collectJicofoStats(
  probe: HttpProbe,
  jicofoOrigin: string,
  settings: UpstreamSettings,
): Promise<JicofoStatsSample> {
  const result = await probe({ url: `${jicofoOrigin}/stats`, ...settings });
  if (result.statusCode !== 200 || result.timedOut || result.error !== null) return { probe: result, parse: null };
  if (result.truncated) {
    return { probe: result, parse: { ok: false, problem: `stats longer than ${settings.bodyLimit} bytes` } };
  }
  return { probe: result, parse: parseJicofoStats(result.body) };
}
