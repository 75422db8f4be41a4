import type { ProbeResult } from '../../src/collect/http-probe';
import { parseCensus } from '../../src/collect/census';
import { parseJicofoStats } from '../../src/collect/jicofo-stats';
import type { StatusFileSample } from '../../src/collect/status-file';
import type { Samples } from '../../src/decide/samples';
import type { StateSettings } from '../../src/decide/state';
import { fixture } from '../../src/demo/fake-signal-node';

/** How an upstream answered, in the words of a test. */
export type Answer = number | 'timeout' | 'refused';

export function probe(answer: Answer, body = ''): ProbeResult {
  if (answer === 'timeout') {
    return { reachable: false, statusCode: 0, body: '', truncated: false, durationMs: 3000, timedOut: true, error: 'timeout after 3000 ms' };
  }
  if (answer === 'refused') {
    return { reachable: false, statusCode: 0, body: '', truncated: false, durationMs: 1, timedOut: false, error: 'connect ECONNREFUSED 127.0.0.1:8888' };
  }
  return { reachable: true, statusCode: answer, body, truncated: false, durationMs: 2, timedOut: false, error: null };
}

export interface Node {
  jicofo?: Answer;
  stats?: Answer;
  statsBody?: string;
  prosody?: Answer;
  /** File contents, or null for a missing file. */
  status?: string | null;
  censusBody?: string;
}

/** Samples of a signal node: healthy and ready unless told otherwise. */
export function samples(node: Node = {}): Samples {
  const stats = node.stats ?? 200;
  const statsBody = node.statsBody ?? fixture('jicofo-stats.json');
  const statsProbe = probe(stats, statsBody);
  const status = node.status === undefined ? 'ready' : node.status;
  const censusProbe = probe(200, node.censusBody ?? fixture('room-census.json'));
  return {
    jicofoHealth: probe(node.jicofo ?? 200, 'OK'),
    jicofoStats: { probe: statsProbe, parse: stats === 200 ? parseJicofoStats(statsBody) : null },
    prosody: probe(node.prosody ?? 200, '<html>'),
    census: { probe: censusProbe, parse: parseCensus(censusProbe.body) },
    statusFile:
      status === null
        ? { found: false, contents: '', error: 'status file missing', modifiedAt: null }
        : { found: true, contents: status.trim(), error: null, modifiedAt: 0 },
    consulStatus: null,
    consulReports: null,
  };
}

export const statsWith = (participants: unknown, conferences: unknown = 4): string =>
  JSON.stringify({ ...(JSON.parse(fixture('jicofo-stats.json')) as object), participants, conferences });

export const SETTINGS: StateSettings = {
  participantMax: 5000,
  weightParticipants: false,
  censusPoll: false,
  healthDampeningMs: 30_000,
  drainGraceMs: 120_000,
  unhealthyThreshold: 1,
  healthyThreshold: 1,
  consulStatus: false,
  consulStatusKey: 'shard-state',
  consulReports: false,
  consulReportKey: 'shard-report',
};

/** A status-file sample without its modification time, which a test writing the file cannot know. */
export function withoutTime(sample: StatusFileSample): Omit<StatusFileSample, 'modifiedAt'> {
  return { found: sample.found, contents: sample.contents, error: sample.error };
}
