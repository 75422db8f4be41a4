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

export function buildReport(
  samples: Samples,
  observation: Observation,
  judgement: Judgement,
  weight: number,
  agentmessage: string,
  time: number,
  censusPoll: boolean,
): Report {
  const health = samples.jicofoHealth;
  const stats = samples.jicofoStats?.probe ?? null;
  const prosody = samples.prosody;
  const report: Report = {
    time: new Date(time).toISOString(),
    healthy: judgement.healthy,
    healthdamped: judgement.healthDamped,
    status: judgement.status,
    weight: `${weight}%`,
    agentmessage,
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
