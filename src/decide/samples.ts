import type { CensusSample } from '../collect/census';
import type { ConsulStatusSample } from '../collect/consul-status';
import type { ProbeResult } from '../collect/http-probe';
import type { JicofoStatsSample } from '../collect/jicofo-stats';
import type { StatusFileSample } from '../collect/status-file';
import type { ConsulReportsSample } from '../react/consul-reports';

/** The latest completed result of every source; null until its first probe completes. */
export interface Samples {
  readonly jicofoHealth: ProbeResult | null;
  readonly jicofoStats: JicofoStatsSample | null;
  readonly prosody: ProbeResult | null;
  readonly census: CensusSample | null;
  readonly statusFile: StatusFileSample | null;
  /** The Consul status watch, while CONSUL_STATUS is on; null otherwise. */
  readonly consulStatus: ConsulStatusSample | null;
  /** The last report write to Consul, while CONSUL_REPORTS is on; null otherwise. */
  readonly consulReports: ConsulReportsSample | null;
}

/** The sources the poller asks on its schedule. */
export type SourceName = 'jicofoHealth' | 'jicofoStats' | 'prosody' | 'census' | 'statusFile';

export const NO_SAMPLES: Samples = {
  jicofoHealth: null,
  jicofoStats: null,
  prosody: null,
  census: null,
  statusFile: null,
  consulStatus: null,
  consulReports: null,
};
