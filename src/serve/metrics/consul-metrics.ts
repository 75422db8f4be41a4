import { Counter, Gauge, type Registry } from 'prom-client';
import type { Report } from '../../decide/report';
import type { ReportWriteOutcome } from '../../react/consul-reports';

/** What /metrics says of Consul: the same facts as the report's `statuses.statusSource` and `consul`. */
export interface ConsulMetrics {
  countReportWrite(outcome: ReportWriteOutcome, bytes: number, censusTruncated: boolean): void;
}

const SOURCES = ['file', 'consul'] as const;

/** `report` gives the report in force at scrape time (null before the first decision). */
export function registerConsulMetrics(registry: Registry, report: () => Report | null): ConsulMetrics {
  new Gauge({
    name: 'signal_status_source',
    help: 'Where the status word in force comes from: 1 for that source (file or consul), 0 for the other',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      const source = report()?.statuses.statusSource ?? 'file';
      for (const candidate of SOURCES) this.set({ source: candidate }, candidate === source ? 1 : 0);
    },
  });
  new Gauge({
    name: 'signal_consul_reachable',
    help: 'Consul answered the status watch (or, without a watch, took the last report write): 1 or 0; absent when Consul is not used or not yet asked',
    registers: [registry],
    collect() {
      this.reset();
      const reachable = report()?.consul?.reachable;
      if (reachable !== undefined && reachable !== null) this.set(reachable ? 1 : 0);
    },
  });
  const writes = new Counter({
    name: 'signal_consul_report_writes_total',
    help: 'Report writes to CONSUL_REPORT_KEY, by result (written, failed)',
    labelNames: ['result'],
    registers: [registry],
  });
  const bytes = new Gauge({
    name: 'signal_consul_report_bytes',
    help: 'Size of the last report value sent to Consul',
    registers: [registry],
  });
  const truncated = new Gauge({
    name: 'signal_consul_report_census_truncated',
    help: 'The census in the last report sent to Consul was cut to fit its value limit (1) or complete (0)',
    registers: [registry],
  });
  return {
    countReportWrite(outcome, size, censusTruncated) {
      writes.inc({ result: outcome });
      bytes.set(size);
      truncated.set(censusTruncated ? 1 : 0);
    },
  };
}
