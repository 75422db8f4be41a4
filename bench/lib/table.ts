import type { Spread } from './measure';

/** One line of the results table: the daemon's figure, the reference's, their ratio and the target. */
export interface Figure {
  readonly id: string;
  readonly name: string;
  readonly unit: string;
  readonly daemon: Spread;
  readonly reference: Spread | null;
  /** daemon ÷ reference, per paired run. */
  readonly ratio: Spread | null;
  readonly target: string;
  /** null when there is no target for this figure. */
  readonly met: boolean | null;
}

function number(value: number): string {
  if (!Number.isFinite(value)) return '-';
  const size = Math.abs(value);
  if (size >= 1000) return Math.round(value).toString();
  if (size >= 100) return value.toFixed(0);
  if (size >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatSpread(spread: Spread | null): string {
  if (spread === null) return '';
  if (spread.n <= 1) return number(spread.median);
  return `${number(spread.median)} (${number(spread.min)}–${number(spread.max)})`;
}

function ratio(spread: Spread | null): string {
  return spread === null ? '' : `${formatSpread(spread)}×`;
}

export function tableRows(figures: readonly Figure[]): string[][] {
  return figures.map((figure) => [
    `${figure.name} [${figure.unit}]`,
    formatSpread(figure.daemon),
    formatSpread(figure.reference),
    ratio(figure.ratio),
    figure.target,
    figure.met === null ? '' : figure.met ? 'yes' : 'NO',
  ]);
}

export const HEADER = ['figure', 'daemon median (min–max)', 'bare reference', 'ratio', 'target', 'met'];

/** Any rows under a header as a fixed-width table for the terminal. */
export function plainTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const rows = [header, ...body];
  const widths = header.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  const line = (row: readonly string[]): string => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...body.map(line)].join('\n');
}

/** Any rows under a header in Markdown. */
export function markdownRows(header: readonly string[], body: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

/** A fixed-width table for the terminal. */
export function textTable(figures: readonly Figure[]): string {
  return plainTable(HEADER, tableRows(figures));
}

/** The same table in Markdown, for docs/performance.md. */
export function markdownTable(figures: readonly Figure[]): string {
  return markdownRows(HEADER, tableRows(figures));
}

/** A figure of the daemon alone, with nothing to compare it to. */
export function alone(id: string, name: string, unit: string, daemon: Spread, target = '', met: boolean | null = null): Figure {
  return { id, name, unit, daemon, reference: null, ratio: null, target, met };
}
