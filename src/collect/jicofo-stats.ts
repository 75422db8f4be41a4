import type { HttpProbe } from './http-probe';
import type { UpstreamSettings } from './jicofo-health';
import { probeAndParse, type Parse, type ParsedSample } from './parsed-probe';

export interface JicofoStats {
  readonly participants: number;
  readonly conferences: number;
}

export type JicofoStatsSample = ParsedSample<JicofoStats>;

/** Far above any real signal node (about 6k): anything larger is a broken counter. */
const MAX_COUNT = 10_000_000;

/** Enough of a bad value to recognise it; reasons end up in logs and reports. */
const SHOWN_VALUE = 40;

function shown(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > SHOWN_VALUE ? `${text.slice(0, SHOWN_VALUE)}…` : text;
}

function count(value: unknown, field: string): number | string {
  if (typeof value !== 'number') return `${field} is ${value === undefined ? 'missing' : shown(value)}, not a number`;
  if (!Number.isInteger(value) || value < 0 || value > MAX_COUNT) {
    return `${field} is ${value}, not a count from 0 to ${MAX_COUNT}`;
  }
  return value;
}

/** Reads `participants` and `conferences` from jicofo's /stats JSON. */
export function parseJicofoStats(body: string): Parse<JicofoStats> {
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
  return { ok: true, value: { participants, conferences } };
}

/** GET {JICOFO_ORIG}/stats, parsed when it answered 200 completely. */
export function collectJicofoStats(probe: HttpProbe, jicofoOrigin: string, settings: UpstreamSettings): Promise<JicofoStatsSample> {
  return probeAndParse(probe, { url: `${jicofoOrigin}/stats`, ...settings }, 'stats', parseJicofoStats, 'PROBE_BODY_LIMIT');
}
