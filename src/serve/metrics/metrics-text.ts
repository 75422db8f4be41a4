import type { Registry } from 'prom-client';

/**
 * The Prometheus text of a registry, byte for byte what prom-client's
 * `registry.metrics()` prints, built in one string. prom-client formats each
 * sample through label arrays, joins and template strings: about 330 KB of
 * short-lived allocations per scrape of an 18 KB page (measured), which made
 * young-generation collections the main source of slow scrapes. Covers what
 * this daemon's registry uses: the Prometheus text format, no default labels,
 * no exemplars. `test/unit/metrics-text.test.ts` holds it to prom-client's output.
 */

interface Sample {
  readonly metricName?: string;
  readonly labels?: Readonly<Record<string, string | number | undefined>>;
  readonly sharedLabels?: Readonly<Record<string, string | number | undefined>>;
  readonly value: number;
}

interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: unknown;
  readonly values?: readonly Sample[];
}

/** What the registry holds: every metric has get(); histograms also getForPromString(). */
interface Readable {
  get(): Promise<unknown>;
  getForPromString?: () => Promise<unknown>;
}

const NEEDS_ESCAPE = /[\\\n]/;
const LABEL_NEEDS_ESCAPE = /[\\\n"]/;

function escapeText(text: string): string {
  return NEEDS_ESCAPE.test(text) ? text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : text;
}

function escapeLabel(value: string | number | undefined): string {
  if (typeof value !== 'string') return `${value}`;
  return LABEL_NEEDS_ESCAPE.test(value) ? escapeText(value).replace(/"/g, '\\"') : value;
}

function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** `a="1",b="2"` for the labels not named in `except`. */
function labelText(labels: Readonly<Record<string, string | number | undefined>>, except?: Readonly<Record<string, unknown>>): string {
  let text = '';
  for (const name of Object.keys(labels)) {
    if (except !== undefined && Object.hasOwn(except, name)) continue;
    if (text !== '') text += ',';
    text += `${name}="${escapeLabel(labels[name])}"`;
  }
  return text;
}

export async function renderMetrics(registry: Registry): Promise<string> {
  // Asked in registration order and all at once, as prom-client does: a
  // collect() hook may set metrics registered after it.
  const metrics = (registry.getMetricsAsArray() as unknown as Readable[]).map((metric) =>
    metric.getForPromString !== undefined ? metric.getForPromString() : metric.get(),
  );
  const all = (await Promise.all(metrics)) as MetricData[];
  let text = '';
  let sharedFrom: unknown;
  let sharedText = '';
  for (const { name, help, type, values } of all) {
    if (text !== '') text += '\n\n';
    const escapedName = escapeText(name);
    text += `# HELP ${escapedName} ${escapeText(help)}\n# TYPE ${escapedName} ${String(type)}`;
    for (const { metricName, labels, sharedLabels, value } of values ?? []) {
      // A histogram's buckets share one labels object: format it once.
      if (sharedLabels !== sharedFrom) {
        sharedFrom = sharedLabels;
        sharedText = sharedLabels === undefined ? '' : labelText(sharedLabels);
      }
      const own = labels === undefined ? '' : labelText(labels, sharedLabels);
      const joined = own !== '' && sharedText !== '' ? `${own},${sharedText}` : own + sharedText;
      text += `\n${metricName ?? escapedName}${joined !== '' ? `{${joined}}` : ''} ${valueText(value)}`;
    }
  }
  return `${text}\n`;
}
