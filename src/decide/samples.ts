import type { CensusSample } from '../collect/census';
import type { ProbeResult } from '../collect/http-probe';
import type { JicofoStatsSample } from '../collect/jicofo-stats';
import type { StatusFileSample } from '../collect/status-file';

/** The latest completed result of every source; null until its first probe completes. */
export interface Samples {
  readonly jicofoHealth: ProbeResult | null;
  readonly jicofoStats: JicofoStatsSample | null;
  readonly prosody: ProbeResult | null;
  readonly census: CensusSample | null;
  readonly statusFile: StatusFileSample | null;
}

export type SourceName = keyof Samples;

export const NO_SAMPLES: Samples = {
  jicofoHealth: null,
  jicofoStats: null,
  prosody: null,
  census: null,
  statusFile: null,
};
