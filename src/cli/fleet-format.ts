import type { FleetShard } from '../fleet/shard-report';
import type { LeftOutWhy, SplitCheck } from '../fleet/splits';
import type { FleetView } from '../fleet/view';

/**
 * `signal-sidecar fleet` as a person reads it (a table that fits a
 * terminal, the split conferences, a summary) and as a script reads it
 * (one JSON object with everything whole).
 */

export interface FleetReading {
  readonly prefix: string;
  /** The reader's clock when the reports were read, ms since the epoch. */
  readonly readAt: number;
  readonly staleAfterMs: number;
}

/** `4s`, `3m12s`, `2h05m`, `3d04h`: two units at most; negative when the shard's clock is ahead of the reader's. */
export function formatAge(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const pad = (value: number): string => String(value).padStart(2, '0');
  const seconds = Math.floor(Math.abs(ms) / 1000);
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  if (seconds < 60) return `${sign}${seconds}s`;
  if (minutes < 60) return `${sign}${minutes}m${pad(seconds % 60)}s`;
  if (hours < 24) return `${sign}${hours}h${pad(minutes % 60)}m`;
  return `${sign}${Math.floor(hours / 24)}d${pad(hours % 24)}h`;
}

const HEADER = ['SHARD', 'AGE', 'HEALTHY', 'STATUS', 'WEIGHT', 'PART', 'CONF', 'REASONS'] as const;
/** PART and CONF hold numbers: aligned on the right. */
const RIGHT = new Set([5, 6]);
/** The reasons keep at least this much room, however narrow the terminal. */
const MIN_REASONS = 24;
/** Shard names listed in a note before "and N more". */
const NAMES_IN_NOTE = 8;

const count = (value: number | null): string => (value === null ? '-' : String(value));

function cells(shard: FleetShard): string[] {
  if (shard.kind === 'unreadable') return [shard.shard, '-', '-', '-', '-', '-', '-', `UNREADABLE: ${shard.problem}`];
  return [
    shard.shard,
    `${formatAge(shard.ageMs)}${shard.stale ? ' STALE' : ''}`,
    shard.healthy ? 'yes' : 'NO',
    shard.status,
    shard.weight ?? '-',
    count(shard.participants),
    count(shard.conferences),
    shard.reasons.join('; '),
  ];
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

function table(shards: readonly FleetShard[], columns: number): string[] {
  const rows = [[...HEADER], ...shards.map(cells)];
  const widths = HEADER.slice(0, -1).map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  const lead = widths.reduce((total, width) => total + width + 2, 0);
  const reasonsWidth = Math.max(MIN_REASONS, columns - lead);
  return rows.map((row) => {
    const fixed = widths.map((width, column) => (RIGHT.has(column) ? (row[column] ?? '').padStart(width) : (row[column] ?? '').padEnd(width)));
    return `${fixed.join('  ')}  ${cut(row[widths.length] ?? '', reasonsWidth)}`.trimEnd();
  });
}

function names(list: readonly string[]): string {
  const shown = list.slice(0, NAMES_IN_NOTE).join(', ');
  return list.length > NAMES_IN_NOTE ? `${shown} and ${list.length - NAMES_IN_NOTE} more` : shown;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** A note in lines of at most `columns` (a word longer than that stands alone), continued two spaces in. */
export function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > columns) {
      lines.push(line);
      line = `  ${word}`;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** Why a shard's census was not compared, in the order the notes come. A Record: a new reason cannot be left without one. */
const LEFT_OUT_NOTES: Readonly<Record<LeftOutWhy, string>> = {
  stale: "stale (a stopped sidecar's last census would give false alarms)",
  unhealthy: 'unhealthy (its conferences are failing over; its BOSH participants linger in prosody for a minute)',
  recovering: 'healthy again for less than a minute (prosody may still hold the BOSH participants of its failed-over rooms)',
  unreadable: 'unreadable',
  'no census': 'no census in the report (CENSUS_REPORTS off, or the census poll failing)',
};

function splitLines(check: SplitCheck, columns: number): string[] {
  const lines: string[] = [];
  const notes: string[] = [];
  if (check.splits.length > 0) {
    lines.push(`SPLIT: ${plural(check.splits.length, 'room')} live on two or more shards at once (participants in brackets):`);
    for (const split of check.splits) lines.push(`  ${split.room}  ${split.shards.map((where) => `${where.shard} (${where.participants})`).join(', ')}`);
  } else if (check.checked > 0) {
    lines.push(`No split conferences in the census of ${plural(check.checked, 'shard')}.`);
  } else {
    notes.push('No census to compare: no fresh report carries one (CENSUS_POLL and CENSUS_REPORTS on the shards).');
  }
  for (const [why, note] of Object.entries(LEFT_OUT_NOTES) as [LeftOutWhy, string][]) {
    const shards = check.leftOut.filter((shard) => shard.why === why).map((shard) => shard.shard);
    if (shards.length > 0) notes.push(`Not checked, ${note}: ${names(shards)}`);
  }
  const cut = check.truncated.map((shard) => `${shard.shard} (${shard.rooms}${shard.totalRooms === null ? '' : ` of ${shard.totalRooms}`} rooms)`);
  if (cut.length > 0) notes.push(`Census cut to fit Consul (smaller rooms left out, their splits unseen): ${names(cut)}`);
  return [...lines, ...notes.flatMap((note) => wrap(note, columns))];
}

function summaryLine(view: FleetView): string {
  const { summary } = view;
  const parts = [`${summary.healthy} healthy`];
  if (summary.unhealthy > 0) parts.push(`${summary.unhealthy} unhealthy`);
  if (summary.draining > 0) parts.push(`${summary.draining} draining`);
  if (summary.stale > 0) parts.push(`${summary.stale} stale`);
  if (summary.unreadable > 0) parts.push(`${summary.unreadable} unreadable`);
  return `${plural(summary.shards, 'shard')}: ${parts.join(', ')}; ${summary.participants} participants in ${plural(summary.conferences, 'conference')}`;
}

/** The table, the split check and a summary line; `columns` is the terminal's width, which only the reasons give way to. */
export function formatFleet(view: FleetView, reading: FleetReading, columns: number): string {
  const lines = [
    `Reports under ${reading.prefix} (stale after ${formatAge(reading.staleAfterMs)}):`,
    ...table(view.shards, columns),
    '',
    ...splitLines(view.check, columns),
    '',
    summaryLine(view),
  ];
  return `${lines.join('\n')}\n`;
}

function shardJson(shard: FleetShard): Record<string, unknown> {
  if (shard.kind === 'unreadable') return { shard: shard.shard, key: shard.key, readable: false, problem: shard.problem, bytes: shard.bytes };
  const { census } = shard;
  return {
    shard: shard.shard,
    key: shard.key,
    readable: true,
    time: shard.time,
    ageSeconds: Math.round(shard.ageMs) / 1000,
    stale: shard.stale,
    healthy: shard.healthy,
    status: shard.status,
    weight: shard.weight,
    participants: shard.participants,
    conferences: shard.conferences,
    reasons: shard.reasons,
    census:
      census === null
        ? null
        : {
            rooms: census.rooms.length,
            liveRooms: census.rooms.filter((room) => room.participants >= 1).length,
            truncated: census.truncated,
            totalRooms: census.totalRooms,
            malformed: census.malformed,
          },
    report: shard.report,
  };
}

/** `--json`: everything the table shows, whole, plus each report as read. */
export function fleetJson(view: FleetView, reading: FleetReading): string {
  const { splits, ...splitCheck } = view.check;
  return `${JSON.stringify({
    prefix: reading.prefix,
    readAt: new Date(reading.readAt).toISOString(),
    staleAfterSeconds: reading.staleAfterMs / 1000,
    shards: view.shards.map(shardJson),
    splits,
    splitCheck,
    summary: view.summary,
  })}\n`;
}
