import type { CensusRoom } from '../../src/collect/census';
import { decideAfterPoll } from '../../src/decide/decide';
import { FRESH_MEMORY } from '../../src/decide/flap';
import type { Report } from '../../src/decide/report';
import { CONSUL_VALUE_LIMIT, reportValue } from '../../src/react/consul-reports';
import { samples, SETTINGS } from './samples';

/**
 * Literal shard reports for the fleet tests, written as the publisher
 * writes them (its own reportValue()), so the reader is tested on what the
 * daemon really puts in Consul.
 */

/**
 * A shard's report made at `time` (ms since the epoch) by the daemon's own
 * rules from healthy, ready samples (jicofo's stats fixture: 20 participants
 * in 4 conferences), with `overrides` on top.
 */
export function shardReport(time: number, overrides: Partial<Report> = {}): Report {
  return { ...decideAfterPoll(samples(), FRESH_MEMORY, time, SETTINGS).report, ...overrides };
}

/** A census room as mod_muc_census sends it. */
export const room = (name: string, participants: number): CensusRoom => ({ room_name: name, participants, created_time: '1764700000000', leaked: false });

/** `count` rooms of one or two participants: a census too large for a small value limit. */
export const manyRooms = (count: number, prefix = 'room'): CensusRoom[] =>
  Array.from({ length: count }, (_, at) => room(`${prefix}${at}@conference.meet.example.com`, 1 + (at % 2)));

/** The value the publisher writes for `report` (census null = CENSUS_REPORTS off; lastUnhealthy: its last unhealthy decision). */
export const publishedValue = (report: Report, census: readonly CensusRoom[] | null, limitBytes = CONSUL_VALUE_LIMIT, lastUnhealthy: string | null = null): string =>
  reportValue(report, census, limitBytes, lastUnhealthy).body;
