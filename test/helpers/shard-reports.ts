import type { CensusRoom } from '../../src/collect/census';
import type { Report } from '../../src/decide/report';
import { CONSUL_VALUE_LIMIT, reportValue } from '../../src/react/consul-reports';

/**
 * Literal shard reports for the fleet tests, written as the publisher
 * writes them (its own reportValue()), so the reader is tested on what the
 * daemon really puts in Consul.
 */

/** A healthy, ready shard's report made at `time` (ms since the epoch). */
export function shardReport(time: number, overrides: Partial<Report> = {}): Report {
  return {
    time: new Date(time).toISOString(),
    healthy: true,
    healthdamped: false,
    status: 'ready',
    weight: '100%',
    agentmessage: 'up ready 100%',
    reasons: [],
    services: {
      jicofoHealthy: true,
      jicofoReachable: true,
      jicofoSoftDown: false,
      jicofoStatusCode: 200,
      jicofoStatusContents: '',
      jicofoStatsReachable: true,
      jicofoStatsStatusCode: 200,
      prosodyHealthy: true,
      prosodyReachable: true,
      prosodySoftDown: false,
      prosodyStatusCode: 200,
      jicofoRoundTripMs: 2,
      jicofoStatsRoundTripMs: 3,
      prosodyRoundTripMs: 1,
    },
    statuses: { statusFileFound: true, statusFileContents: 'ready', statusSource: 'consul' },
    stats: { jicofoParticipants: 10, jicofoConferences: 2 },
    ...overrides,
  };
}

/** A census room as mod_muc_census sends it. */
export const room = (name: string, participants: number): CensusRoom => ({ room_name: name, participants, created_time: '1764700000000', leaked: false });

/** `count` rooms of one or two participants: a census too large for a small value limit. */
export const manyRooms = (count: number, prefix = 'room'): CensusRoom[] =>
  Array.from({ length: count }, (_, at) => room(`${prefix}${at}@conference.meet.example.com`, 1 + (at % 2)));

/** The value the publisher writes for `report` (census null = CENSUS_REPORTS off). */
export const publishedValue = (report: Report, census: readonly CensusRoom[] | null, limitBytes = CONSUL_VALUE_LIMIT): string =>
  reportValue(report, census, limitBytes).body;
