import { hostname } from 'node:os';
import { changedBetween, type Config } from '../config/config';
import type { SignalState } from '../decide/state';
import type { Logger } from '../runtime/logger';
import type { SidecarMetrics } from '../serve/metrics/metrics';
import { History, stateEvent } from './history';
import { createNotifier, type Post } from './notify';

/**
 * Each change of the reported state, kept for /signal/events and sent to
 * the NOTIFY_URL receivers.
 */
export interface StateEvents {
  readonly history: History;
  reconfigure(before: Config, config: Config): void;
  close(): void;
}

export interface StateEventsDeps {
  readonly logger: Logger;
  readonly metrics: SidecarMetrics;
  readonly post?: Post | undefined;
}

const NOTIFY_SETTINGS: readonly (keyof Config)[] = ['notifyUrls', 'notifyTimeoutMs', 'nodeName'];

export function feedStateEvents(state: SignalState, initial: Config, deps: StateEventsDeps): StateEvents {
  const notifierFor = (config: Config) =>
    createNotifier({
      urls: config.notifyUrls,
      nodeName: config.nodeName ?? hostname(),
      timeoutMs: config.notifyTimeoutMs,
      logger: deps.logger,
      counted: (outcome) => deps.metrics.countNotification(outcome),
      ...(deps.post === undefined ? {} : { post: deps.post }),
    });
  const history = new History(initial.historySize);
  let notifier = notifierFor(initial);
  state.onDecision((previous, next) => {
    const event = stateEvent(previous?.decision.report ?? null, next.decision.report);
    if (event === null) return;
    history.record(event);
    notifier.send(event, next.decision.report);
  });
  return {
    history,
    reconfigure(before, config) {
      if (before.historySize !== config.historySize) history.resize(config.historySize);
      if (changedBetween(before, config, NOTIFY_SETTINGS)) {
        notifier.close();
        notifier = notifierFor(config);
      }
    },
    close() {
      notifier.close();
    },
  };
}
