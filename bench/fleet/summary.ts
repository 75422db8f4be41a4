import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { markdownRows } from '../lib/table';
import type { FaultResult, FleetResults } from './report';

/**
 * `npm run bench:fleet:summary -- a.json b.json …`: the tables of
 * docs/failover.md from several fleet runs (each written with --out). One
 * table of totals, one row per run; then one table per topology and
 * weighting, a row per fault and a column per client model, each cell
 * `splits/moves without a fault/drain moves/new rooms on unavailable` and
 * the failover p50/p99 in ms where participants had to move.
 */

function topology(run: FleetResults): string {
  const versions = [...new Set(run.haproxyVersions.map((version) => version.split(' ')[2]?.split('-')[0] ?? version))];
  if (run.haproxies === 1) return `1 HAProxy ${versions.join()}`;
  return `${run.haproxies} peered HAProxies ${versions.join(' + ')}`;
}

/** The weighting, and the configuration when it is not the shipped example. */
function weighting(run: FleetResults): string {
  const config = basename(run.haproxyConfig);
  return `WEIGHT_PARTICIPANTS ${run.weightParticipants ? 'on' : 'off'}${config === 'haproxy-shards.cfg' ? '' : `, ${config}`}`;
}

function cell(fault: FaultResult): string {
  const longest = fault.longestSplitMs === undefined || fault.longestSplitMs === null ? '' : ` (≤${fault.longestSplitMs} ms)`;
  const counts = `${fault.splitRooms}${longest}/${fault.movesWithoutFault}/${fault.drainMoves}/${fault.newRoomsOnUnavailable}`;
  return fault.failoverP50Ms === null ? counts : `${counts} · ${fault.failoverP50Ms}/${fault.failoverP99Ms ?? '-'}`;
}

function totals(runs: readonly FleetResults[]): string {
  const header = ['topology', 'weighting', 'clients', 'split', 'moves w/o fault', 'drain moves', 'new rooms on unavailable (names used again within expire)', 'weight changes / shard·min', 'rings differ (% of time)', 'joins', 'failed joins', 'quick'];
  const rows = runs.map((run) => [
    topology(run),
    weighting(run),
    run.clients,
    String(run.splitConferences),
    String(run.movesWithoutFault),
    String(run.drainMoves),
    `${run.newRoomsOnUnavailable} (${run.newRoomsOnUnavailableReused})`,
    String(run.weightChangesPerShardMinute),
    String(run.ringDisagreement ?? '-'),
    String(run.joins),
    String(run.failedJoins),
    run.quick ? 'yes' : 'no',
  ]);
  return markdownRows(header, rows);
}

function perFault(runs: readonly FleetResults[]): string[] {
  const groups = new Map<string, FleetResults[]>();
  for (const run of runs) {
    const key = `${topology(run)}, ${weighting(run)}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups].flatMap(([key, group]) => {
    const faults = group[0]?.faults.map((fault) => fault.fault) ?? [];
    const result = (run: FleetResults, name: string): string => {
      const fault = run.faults.find((candidate) => candidate.fault === name);
      return fault === undefined ? '-' : cell(fault);
    };
    const rows = faults.map((name) => [name, ...group.map((run) => result(run, name))]);
    return [`**${key}** (split (longest)/moves w/o fault/drain moves/new rooms on unavailable · failover p50/p99 ms)`, '', markdownRows(['fault', ...group.map((run) => run.clients)], rows), ''];
  });
}

const runs = process.argv.slice(2).map((file) => JSON.parse(readFileSync(file, 'utf8')) as FleetResults);
process.stdout.write([totals(runs), '', ...perFault(runs)].join('\n'));
