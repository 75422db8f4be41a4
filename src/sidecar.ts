import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Agent } from './serve/agent';
import { createHttpProbe, type HttpProbe } from './collect/http-probe';
import { readStatusFile, type StatusFileSample } from './collect/status-file';
import type { Config } from './config/config';
import { createDumpRunner, type Spawn } from './react/dump';
import { History, stateEvent } from './react/history';
import { createHttpServer } from './serve/http-server';
import type { Logger } from './runtime/logger';
import { createMetrics, type SidecarMetrics } from './serve/metrics/metrics';
import { createNotifier, type Post } from './react/notify';
import { Poller } from './collect/poller';
import { buildSources, upstreamsOf } from './collect/sources';
import { SignalState } from './decide/state';
import { watchUpstreams, type UpstreamsWatch } from './react/connection-watch';
import { watchStatusFile, type StatusWatch } from './react/status-watch';
import { watchTransitions } from './react/transitions';

export interface SidecarDeps {
  readonly logger: Logger;
  /** Milliseconds on a clock that never jumps back; defaults to a monotonic wall clock. */
  readonly now?: () => number;
  readonly probe?: HttpProbe;
  readonly readStatusFile?: (path: string) => Promise<StatusFileSample>;
  readonly spawn?: Spawn;
  readonly post?: Post;
  /** Log lines the log sink dropped, by reason, for /metrics. */
  readonly droppedLogLines?: () => Readonly<Record<string, number>>;
}

export interface Sidecar {
  readonly state: SignalState;
  readonly metrics: SidecarMetrics;
  /** The configuration in force. */
  readonly config: Config;
  /**
   * Runs on a new configuration from now on (a reload): every setting but
   * the listeners' addresses, which only a restart changes. The flap memory
   * stays; the status file is read again.
   */
  reconfigure(next: Config): void;
  /** Binds both listeners and starts polling; resolves with the bound addresses. */
  start(): Promise<{ http: AddressInfo; agent: AddressInfo }>;
  /** Stops polling, stops answering the agent, lets in-flight HTTP requests finish. */
  stop(): Promise<void>;
}

/** Wall-clock aligned at start, then monotonic: an NTP step cannot stretch a grace interval. */
const monotonicWallClock = (): number => performance.timeOrigin + performance.now();

/** Settings each part is built from: when one changes on a reload, that part is built again. */
const SOURCE_SETTINGS: readonly (keyof Config)[] = ['jicofoOrigin', 'prosodyOrigin', 'prosodyHost', 'statusFile', 'probeTimeoutMs', 'probeBodyLimit', 'censusBodyLimit', 'censusPoll', 'censusHost'];
const WATCH_SETTINGS: readonly (keyof Config)[] = ['connectionWatch', 'jicofoOrigin', 'prosodyOrigin', 'censusPoll', 'pollingIntervalMs', 'probeTimeoutMs'];
const NOTIFY_SETTINGS: readonly (keyof Config)[] = ['notifyUrls', 'notifyTimeoutMs', 'nodeName'];

/** Builds a sidecar; nothing listens or polls until start(). */
export function createSidecar(initial: Config, deps: SidecarDeps): Sidecar {
  const { logger } = deps;
  let config = initial;
  const now = deps.now ?? monotonicWallClock;
  const metrics = createMetrics(deps.droppedLogLines === undefined ? {} : { droppedLogLines: deps.droppedLogLines });
  const state = new SignalState(config, now);
  state.onDecision(watchTransitions(() => config, logger, metrics, createDumpRunner(logger, deps.spawn)));

  const history = new History(config.historySize);
  const notifierFor = (settings: Config) =>
    createNotifier({
      urls: settings.notifyUrls,
      nodeName: settings.nodeName ?? hostname(),
      timeoutMs: settings.notifyTimeoutMs,
      logger,
      counted: (outcome) => metrics.countNotification(outcome),
      ...(deps.post === undefined ? {} : { post: deps.post }),
    });
  let notifier = notifierFor(config);
  state.onDecision((previous, next) => {
    const event = stateEvent(previous?.decision.report ?? null, next.decision.report);
    if (event === null) return;
    history.record(event);
    notifier.send(event, next.decision.report);
  });

  const sourceDeps = {
    probe: deps.probe ?? createHttpProbe(),
    readStatusFile: deps.readStatusFile ?? readStatusFile,
  };
  let connectionWatch: UpstreamsWatch | undefined;
  const poller = new Poller(buildSources(config, sourceDeps), config.pollingIntervalMs, {
    now,
    record: (update) => state.record(update),
    probed: (source, success, seconds) => {
      metrics.recordProbe(source, success, seconds);
      if (success) connectionWatch?.answered(source);
    },
    failed: (source, error) => logger.error('collector failed unexpectedly', { source, error: String(error) }),
  });

  const agent = new Agent({
    state,
    answered: (healthy) => {
      metrics.healthChecks.inc();
      if (!healthy) metrics.unhealthyChecks.inc();
    },
  });
  const http = createHttpServer({
    state,
    metrics,
    serveMetrics: config.metrics,
    serveCensus: config.censusPoll,
    events: () => history.body,
    onError: (error) => logger.error('metrics rendering failed', { error: String(error) }),
  });
  const watchConnections = (): UpstreamsWatch | undefined =>
    config.connectionWatch
      ? watchUpstreams(upstreamsOf(config), {
          pollingIntervalMs: config.pollingIntervalMs,
          connectTimeoutMs: config.probeTimeoutMs,
          now,
          refresh: (names) => poller.refresh(names),
          counted: (upstream, event) => metrics.countWatchEvent(upstream, event),
        })
      : undefined;
  let statusWatch: StatusWatch | undefined;
  const watchStatus = (): StatusWatch =>
    watchStatusFile(
      config.statusFile,
      () => poller.refresh(['statusFile']),
      (message) => logger.warn(message),
      Math.max(config.pollingIntervalMs, 1000),
    );

  return {
    state,
    metrics,
    get config() {
      return config;
    },
    reconfigure(next) {
      const before = config;
      // The listeners stay bound where they are: a reload keeps their addresses.
      config = Object.freeze({ ...next, httpPort: before.httpPort, httpHost: before.httpHost, tcpPort: before.tcpPort, tcpHost: before.tcpHost });
      const changed = (keys: readonly (keyof Config)[]): boolean => keys.some((key) => JSON.stringify(before[key]) !== JSON.stringify(config[key]));
      if (changed(SOURCE_SETTINGS)) poller.setSources(buildSources(config, sourceDeps));
      if (changed(['pollingIntervalMs'])) poller.setInterval(config.pollingIntervalMs);
      if (changed(['statusFile']) && statusWatch !== undefined) {
        statusWatch.close();
        statusWatch = watchStatus();
      }
      // Only a started sidecar watches; a new watch starts with a fresh memory.
      if (changed(WATCH_SETTINGS) && statusWatch !== undefined) {
        connectionWatch?.close();
        connectionWatch = watchConnections();
      }
      if (changed(['metrics', 'censusPoll'])) http.serve({ serveMetrics: config.metrics, serveCensus: config.censusPoll });
      if (changed(['historySize'])) history.resize(config.historySize);
      if (changed(NOTIFY_SETTINGS)) {
        notifier.close();
        notifier = notifierFor(config);
      }
      state.reconfigure(config);
      poller.refresh(['statusFile']);
    },
    async start() {
      const [httpAddress, agentAddress] = await Promise.all([
        http.listen(config.httpPort, config.httpHost),
        agent.listen(config.tcpPort, config.tcpHost),
      ]);
      statusWatch = watchStatus();
      poller.start();
      connectionWatch = watchConnections();
      logger.info('signal-sidecar listening', {
        http: `${httpAddress.address}:${httpAddress.port}`,
        agent: `${agentAddress.address}:${agentAddress.port}`,
      });
      return { http: httpAddress, agent: agentAddress };
    },
    async stop() {
      connectionWatch?.close();
      poller.stop();
      statusWatch?.close();
      state.close();
      notifier.close();
      await Promise.all([agent.close(), http.close()]);
    },
  };
}
