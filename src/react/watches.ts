import { upstreamsOf } from '../collect/sources';
import { changedBetween, type Config } from '../config/config';
import type { SourceName } from '../decide/samples';
import type { Logger } from '../runtime/logger';
import type { SidecarMetrics } from '../serve/metrics/metrics';
import { watchUpstreams, type UpstreamsWatch } from './connection-watch';
import { watchStatusFile, type StatusWatch } from './status-watch';

/**
 * What asks for a probe outside the schedule: the status file changed on
 * disk, or a connection to jicofo or prosody closed. Both watch what the
 * configuration names, so a reload that renames it opens them again.
 */
export interface Watches {
  start(config: Config): void;
  /** Opens again the watches whose settings differ between `before` and `config`. */
  reconfigure(before: Config, config: Config): void;
  /** A probe of `source` succeeded: a connection watch waiting to retry may connect now. */
  answered(source: SourceName): void;
  close(): void;
}

export interface WatchesDeps {
  readonly refresh: (names: readonly SourceName[]) => void;
  readonly now: () => number;
  readonly logger: Logger;
  readonly metrics: SidecarMetrics;
}

const STATUS_SETTINGS: readonly (keyof Config)[] = ['statusFile', 'pollingIntervalMs'];
const CONNECTION_SETTINGS: readonly (keyof Config)[] = ['connectionWatch', 'jicofoOrigin', 'prosodyOrigin', 'censusPoll', 'pollingIntervalMs', 'probeTimeoutMs'];

export function createWatches(deps: WatchesDeps): Watches {
  let statusWatch: StatusWatch | undefined;
  let connectionWatch: UpstreamsWatch | undefined;

  const watchStatus = (config: Config): StatusWatch =>
    watchStatusFile(
      config.statusFile,
      () => deps.refresh(['statusFile']),
      (message) => deps.logger.warn(message),
      Math.max(config.pollingIntervalMs, 1000),
    );
  const watchConnections = (config: Config): UpstreamsWatch | undefined =>
    config.connectionWatch
      ? watchUpstreams(upstreamsOf(config), {
          pollingIntervalMs: config.pollingIntervalMs,
          connectTimeoutMs: config.probeTimeoutMs,
          now: deps.now,
          refresh: deps.refresh,
          counted: (upstream, event) => deps.metrics.countWatchEvent(upstream, event),
        })
      : undefined;

  return {
    start(config) {
      statusWatch = watchStatus(config);
      connectionWatch = watchConnections(config);
    },
    reconfigure(before, config) {
      // Only a started sidecar watches; a watch opened again starts with a fresh memory.
      if (statusWatch === undefined) return;
      if (changedBetween(before, config, STATUS_SETTINGS)) {
        statusWatch.close();
        statusWatch = watchStatus(config);
      }
      if (changedBetween(before, config, CONNECTION_SETTINGS)) {
        connectionWatch?.close();
        connectionWatch = watchConnections(config);
      }
    },
    answered(source) {
      connectionWatch?.answered(source);
    },
    close() {
      connectionWatch?.close();
      statusWatch?.close();
    },
  };
}
