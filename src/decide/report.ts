import type { Samples } from './samples';
import type { Observation, Status } from './observe';
import type { Judgement } from './flap';

/** The /signal/report body. Field names are the original's and must not change. */
export interface Report {
  time: string;
  healthy: boolean;
  healthdamped: boolean;
  status: Status;
  weight: string;
  agentmessage: string;
  /** Why the node is not healthy and ready; empty when it is. */
  reasons: readonly string[];
  services: {
    jicofoHealthy: boolean;
    jicofoReachable: boolean;
    jicofoSoftDown: boolean;
    jicofoStatusCode: number;
    jicofoStatusContents: string;
    jicofoStatsReachable: boolean;
    jicofoStatsStatusCode: number;
    prosodyHealthy: boolean;
    prosodyReachable: boolean;
    prosodySoftDown: boolean;
    prosodyStatusCode: number;
    /** Round-trip times of the last probes in ms; null before the first. */
    jicofoRoundTripMs: number | null;
    jicofoStatsRoundTripMs: number | null;
    prosodyRoundTripMs: number | null;
  };
  statuses: { statusFileFound: boolean; statusFileContents: string };
  stats: {
    jicofoParticipants: number | null;
    jicofoConferences: number | null;
    prosodyParticipants?: number | null;
    prosodySumSquaredParticipants?: number | null;
  };
}

/** jicofo's health body is a short sentence; a long one is cut for the report. */
const CONTENTS_LIMIT = 256;

export interface Verdict {
  readonly judgement: Judgement;
  readonly weight: number;
  readonly agentmessage: string;
  readonly reasons: readonly string[];
}

export function buildReport(samples: Samples, observation: Observation, verdict: Verdict, time: number, censusPoll: boolean): Report {
  const { judgement } = verdict;
  const health = samples.jicofoHealth;
  const stats = samples.jicofoStats?.probe ?? null;
  const prosody = samples.prosody;
  const report: Report = {
    time: new Date(time).toISOString(),
    healthy: judgement.healthy,
    healthdamped: judgement.healthDamped,
    status: judgement.status,
    weight: `${verdict.weight}%`,
    agentmessage: verdict.agentmessage,
    reasons: verdict.reasons,
    services: {
      jicofoHealthy: observation.jicofoHealthy,
      jicofoReachable: health?.reachable ?? false,
      jicofoSoftDown: observation.jicofoSoftDown,
      jicofoStatusCode: health?.statusCode ?? 0,
      jicofoStatusContents: (health?.body ?? '').trim().slice(0, CONTENTS_LIMIT),
      jicofoStatsReachable: stats?.reachable ?? false,
      jicofoStatsStatusCode: stats?.statusCode ?? 0,
      prosodyHealthy: observation.prosodyHealthy,
      prosodyReachable: prosody?.reachable ?? false,
      prosodySoftDown: observation.prosodySoftDown,
      prosodyStatusCode: prosody?.statusCode ?? 0,
      jicofoRoundTripMs: health?.durationMs ?? null,
      jicofoStatsRoundTripMs: stats?.durationMs ?? null,
      prosodyRoundTripMs: prosody?.durationMs ?? null,
    },
    statuses: {
      statusFileFound: samples.statusFile?.found ?? false,
      statusFileContents: samples.statusFile?.contents ?? '',
    },
    stats: { jicofoParticipants: observation.participants, jicofoConferences: observation.conferences },
  };
  if (censusPoll) {
    report.stats.prosodyParticipants = observation.census?.participants ?? null;
    report.stats.prosodySumSquaredParticipants = observation.census?.sumSquaredParticipants ?? null;
  }
  return report;
}
