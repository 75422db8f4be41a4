import type { Samples } from './samples';
import type { Observation, Status } from './observe';
import type { Judgement } from './flap';
import type { StatusSource } from './status-word';

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
  /**
   * The status word in force: the file's, or the Consul key's when that was
   * written last (CONSUL_STATUS); `statusSource` says which.
   */
  statuses: { statusFileFound: boolean; statusFileContents: string; statusSource: StatusSource };
  /** Present when CONSUL_STATUS or CONSUL_REPORTS is on. */
  consul?: ConsulView;
  stats: {
    jicofoParticipants: number | null;
    jicofoConferences: number | null;
    prosodyParticipants?: number | null;
    prosodySumSquaredParticipants?: number | null;
  };
}

export interface ConsulView {
  /** The status watch's last request was answered (or, without a watch, the last report write was taken); null before either. */
  reachable: boolean | null;
  status?: { key: string; keyFound: boolean | null; value: string | null; index: number | null; problem: string | null };
  reports?: { key: string; lastWriteOk: boolean | null; problem: string | null; bytes: number | null; censusTruncated: boolean | null };
}

/** What the report needs of the configuration beyond the decision's settings. */
export interface ReportSettings {
  readonly censusPoll: boolean;
  readonly consulStatus: boolean;
  readonly consulStatusKey: string;
  readonly consulReports: boolean;
  readonly consulReportKey: string;
}

function consulView(samples: Samples, settings: ReportSettings): ConsulView | undefined {
  if (!settings.consulStatus && !settings.consulReports) return undefined;
  const watch = samples.consulStatus;
  const writes = samples.consulReports;
  const view: ConsulView = { reachable: settings.consulStatus ? (watch?.reachable ?? null) : (writes?.ok ?? null) };
  if (settings.consulStatus) {
    view.status = {
      key: settings.consulStatusKey,
      keyFound: watch === null || (!watch.reachable && watch.index === null) ? null : watch.keyFound,
      value: watch?.word ?? null,
      index: watch?.index ?? null,
      problem: watch?.problem ?? null,
    };
  }
  if (settings.consulReports) {
    view.reports = {
      key: settings.consulReportKey,
      lastWriteOk: writes?.ok ?? null,
      problem: writes?.problem ?? null,
      bytes: writes?.bytes ?? null,
      censusTruncated: writes?.censusTruncated ?? null,
    };
  }
  return view;
}

/** jicofo's health body is a short sentence; a long one is cut for the report. */
const CONTENTS_LIMIT = 256;

export interface Verdict {
  readonly judgement: Judgement;
  readonly weight: number;
  readonly agentmessage: string;
  readonly reasons: readonly string[];
}

export function buildReport(samples: Samples, observation: Observation, verdict: Verdict, time: number, settings: ReportSettings): Report {
  const { judgement } = verdict;
  const health = samples.jicofoHealth;
  const stats = samples.jicofoStats?.probe ?? null;
  const prosody = samples.prosody;
  const word = observation.statusWord.sample;
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
      statusFileFound: word?.found ?? false,
      statusFileContents: word?.contents ?? '',
      statusSource: observation.statusWord.source,
    },
    stats: { jicofoParticipants: observation.participants, jicofoConferences: observation.conferences },
  };
  const consul = consulView(samples, settings);
  if (consul !== undefined) report.consul = consul;
  if (settings.censusPoll) {
    report.stats.prosodyParticipants = observation.census?.participants ?? null;
    report.stats.prosodySumSquaredParticipants = observation.census?.sumSquaredParticipants ?? null;
  }
  return report;
}
