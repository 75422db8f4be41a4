import { stat } from 'node:fs/promises';
import { censusRooms, type Census, type CensusRoom } from '../collect/census';
import { watchConsulStatus, type ConsulStatusWatch } from '../collect/consul-status';
import { writeStatusFile } from '../collect/status-file';
import { changedBetween, usesConsul, type Config } from '../config/config';
import { createConsulClient } from '../consul/client';
import { rereadableEndpoint } from '../consul/credentials';
import { trackConsulOutage, type ConsulUser } from '../consul/outage';
import type { SignalState } from '../decide/state';
import type { Logger } from '../runtime/logger';
import type { SidecarMetrics } from '../serve/metrics/metrics';
import { publishConsulReports, type ConsulReports } from './consul-reports';

/**
 * The sidecar's link to Consul: the status watch (a source of the status
 * word, in collect/) and the report publisher, each on a client of its own
 * to the same agent, both rebuilt when a reload changes what they use.
 */
export interface ConsulLink {
  start(): void;
  /** A reload: rebuilt on the new settings, and the token file and CA read again. */
  reconfigure(before: Config, config: Config): void;
  close(): void;
}

export interface ConsulLinkDeps {
  readonly state: SignalState;
  readonly config: () => Config;
  readonly logger: Logger;
  readonly metrics: SidecarMetrics;
}

/**
 * Writes of STATUS_PATH, one at a time, only the latest word: two quick
 * Consul writes never land in the wrong order. A file written by someone
 * else since the value was read (an operator's `signal-sidecar drain` a
 * moment later) is newer than it and is left alone: that write is the one
 * in force.
 */
function statusFilePersister(path: () => string, logger: Logger): (word: string, appliedAt: number) => void {
  let latest: { word: string; appliedAt: number } | undefined;
  let busy = false;
  let failing = false;
  const drain = async (): Promise<void> => {
    busy = true;
    for (let next = latest; next !== undefined; next = latest) {
      latest = undefined;
      try {
        const modified = (await stat(path()).catch(() => undefined))?.mtimeMs ?? -Infinity;
        if (modified > next.appliedAt) continue;
        await writeStatusFile(path(), next.word, next.appliedAt);
        if (failing) logger.info('status file written again', { path: path() });
        failing = false;
      } catch (error) {
        // A read-only mount (a ConfigMap), or a unit without write access: the word still applies.
        if (!failing) {
          logger.warn('cannot write the Consul status word to STATUS_PATH; it applies, but will not outlive a restart while Consul is away', {
            path: path(),
            error: error instanceof Error ? error.message : String(error),
          });
        }
        failing = true;
      }
    }
    busy = false;
  };
  return (word, appliedAt) => {
    latest = { word, appliedAt };
    if (!busy) void drain();
  };
}

/** The census rooms of a report, parsed once per census sample (a busy node's is megabytes). */
function censusReader(): (census: Census | null) => readonly CensusRoom[] | null {
  let parsedFrom: Census | null = null;
  let rooms: readonly CensusRoom[] | null = null;
  return (census) => {
    if (census === null) return null;
    if (census !== parsedFrom) {
      rooms = censusRooms(census);
      parsedFrom = census;
    }
    return rooms;
  };
}

/** Settings whose change opens the watch again (Consul's current value then wins, as at start). */
const WATCH_SETTINGS: readonly (keyof Config)[] = ['consulStatus', 'consulStatusKey', 'consulHost', 'consulPort', 'consulSecure'];
const REPORT_SETTINGS: readonly (keyof Config)[] = ['consulReports', 'consulReportKey', 'consulReportsIntervalMs', 'consulHost', 'consulPort', 'consulSecure'];

export function linkConsul(deps: ConsulLinkDeps): ConsulLink {
  const { state, logger, metrics } = deps;
  let watch: ConsulStatusWatch | undefined;
  let reports: ConsulReports | undefined;
  let started = false;
  const persist = statusFilePersister(() => deps.config().statusFile, logger);
  const roomsOf = censusReader();
  const log = (level: 'info' | 'warn', message: string, fields: Readonly<Record<string, unknown>>): void => {
    logger.log(level, message, fields);
  };

  const { endpoint, read } = rereadableEndpoint((message) => logger.warn(message));
  let credentialsRead = false;
  /** Reads the token file and CA (again); false when they cannot be used. */
  const readCredentials = (config: Config): boolean => {
    const problems = read(config);
    for (const problem of problems) logger.error(`Consul: ${problem}`);
    credentialsRead ||= problems.length === 0;
    return problems.length === 0;
  };

  // One line when Consul goes away, one when it is back, whichever user sees it;
  // a report follows at once when it is back, not at the next interval.
  const outage = trackConsulOutage({
    users: () => {
      const config = deps.config();
      const users: ConsulUser[] = [];
      if (config.consulStatus) users.push('status watch');
      if (config.consulReports) users.push('report writes');
      return users;
    },
    log,
    now: () => performance.now(),
    recovered: () => reports?.changed(),
  });

  // The time of the last unhealthy decision, for readers of the census (see reportValue).
  let lastUnhealthy: string | null = null;
  state.onDecision((previous, next) => {
    const before = previous?.decision.report;
    const after = next.decision.report;
    // Stamped while unhealthy and once more at the first healthy decision: the moment it recovered.
    if (!after.healthy || before?.healthy === false) lastUnhealthy = after.time;
    if (before !== undefined && (before.healthy !== after.healthy || before.status !== after.status || before.weight !== after.weight)) reports?.changed();
  });

  const openWatch = (config: Config): void => {
    watch?.close();
    watch = undefined;
    if (!config.consulStatus) return;
    watch = watchConsulStatus({
      client: createConsulClient(endpoint),
      key: config.consulStatusKey,
      record: (sample) => state.record({ consulStatus: sample }),
      persist,
      log,
      outage,
    });
  };

  const openReports = (config: Config): void => {
    reports?.close();
    reports = undefined;
    if (!config.consulReports) return;
    reports = publishConsulReports({
      client: createConsulClient(endpoint),
      key: config.consulReportKey,
      intervalMs: config.consulReportsIntervalMs,
      report: () => {
        const current = state.current;
        if (current === null) return null;
        const { report, observation } = current.decision;
        return { report, census: deps.config().censusReports ? roomsOf(observation.census) : null, lastUnhealthy };
      },
      record: (sample) => state.note({ consulReports: sample }),
      counted: (outcome, bytes, truncated) => metrics.consul.countReportWrite(outcome, bytes, truncated),
      outage,
    });
  };

  return {
    start() {
      started = true;
      const config = deps.config();
      if (!usesConsul(config) || !readCredentials(config)) return;
      openWatch(config);
      openReports(config);
    },
    reconfigure(before, config) {
      if (!started || (!usesConsul(before) && !usesConsul(config))) return;
      // Read again even when no setting changed: a reload is how a rotated token file or CA is taken up.
      if (usesConsul(config) && !readCredentials(config)) {
        if (!credentialsRead) return;
        logger.error('Consul: the reload keeps the token and CA in use before it');
      }
      if (changedBetween(before, config, WATCH_SETTINGS)) {
        // The word of another key, or of none, is not the one in force any more.
        state.record({ consulStatus: null });
        openWatch(config);
      }
      if (changedBetween(before, config, REPORT_SETTINGS)) {
        if (!config.consulReports) state.note({ consulReports: null });
        openReports(config);
      }
    },
    close() {
      started = false;
      watch?.close();
      reports?.close();
      watch = undefined;
      reports = undefined;
    },
  };
}
