import { censusProblem } from '../collect/census';
import { HEALTH_404_HINT } from '../collect/jicofo-health';
import type { Config } from '../config/config';
import type { Component } from './dump';
import type { Logger } from '../runtime/logger';
import type { SidecarMetrics } from '../serve/metrics/metrics';
import type { DecisionListener } from '../decide/state';

/**
 * The participant count in `participants 5200 > 5000` moves every poll without
 * news; every other number in a reason (a status code, a deadline) is news.
 */
const reasonKey = (reason: string): string => reason.replace(/^participants \d+ >/, 'participants >');
const sameReasons = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((reason, i) => reasonKey(reason) === reasonKey(b[i] ?? ''));

/**
 * Reacts to each decision: metrics, one log line per change (never one per
 * poll of a steady state), the jicofo 404 hint, and the dump scripts.
 * `settings` gives the configuration in force (a reload may change it).
 */
export function watchTransitions(
  settings: () => Config,
  logger: Logger,
  metrics: SidecarMetrics,
  runDump: (component: Component, script: string) => void,
): DecisionListener {
  // The census does not decide health, so it has no reason in the report: a
  // census that stops working (a busy node's census outgrowing its limit) is
  // logged here, once per change of its problem.
  let censusLogged: string | null = null;
  return (previous, next, samples) => {
    const config = settings();
    const { report, observation, reasons } = next.decision;
    metrics.participantMax.set(config.participantMax);
    metrics.health.set(report.healthy ? 1 : 0);
    metrics.participants.set(observation.participants ?? Number.NaN);
    if (config.censusPoll) {
      metrics.census.set(samples.census?.parse?.ok === true ? 1 : 0);
      if (observation.census !== null) metrics.sumSquared.set(observation.census.sumSquaredParticipants);
      const problem = samples.census === null ? null : censusProblem(samples.census);
      if (problem !== censusLogged) {
        if (problem !== null) logger.warn('census unavailable', { problem });
        else if (censusLogged !== null) logger.info('census available again', { rooms: observation.census?.rooms ?? 0 });
        censusLogged = problem;
      }
    }

    const before = previous?.decision;
    const summary = { agentmessage: report.agentmessage, healthy: report.healthy, status: report.status, reasons };
    if (before === undefined) {
      logger.info('first poll complete', summary);
    } else if (before.report.agentmessage !== report.agentmessage || before.report.healthdamped !== report.healthdamped) {
      if (before.report.healthy && !report.healthy) metrics.unhealthyTransitions.inc();
      const line = { ...summary, previous: before.report.agentmessage, previousReasons: before.reasons };
      if (report.healthy) logger.info('signal node state changed', line);
      else logger.warn('signal node state changed', line);
    } else if (!sameReasons(before.reasons, reasons)) {
      logger.info('signal node reasons changed', summary);
    }

    const healthCode = samples.jicofoHealth?.statusCode;
    if (healthCode === 404 && before?.report.services.jicofoStatusCode !== 404) logger.warn(HEALTH_404_HINT);

    // A dump captures a component that just broke, not one that was never up.
    if (before !== undefined) {
      if (before.observation.jicofoHealthy && !observation.jicofoHealthy && config.jicofoDump !== undefined) {
        runDump('jicofo', config.jicofoDump);
      }
      if (before.observation.prosodyHealthy && !observation.prosodyHealthy && config.prosodyDump !== undefined) {
        runDump('prosody', config.prosodyDump);
      }
    }
  };
}
