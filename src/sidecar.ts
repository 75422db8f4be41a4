import type { AddressInfo } from 'node:net';
import { Agent } from './serve/agent';
import { createHttpProbe, type HttpProbe } from './collect/http-probe';
import { readStatusFile, type StatusFileSample } from './collect/status-file';
import { changedBetween, type Config } from './config/config';
import { createDumpRunner, type Spawn } from './react/dump';
import { createHttpServer } from './serve/http-server';
import type { Logger } from './runtime/logger';
import { createMetrics, type SidecarMetrics } from './serve/metrics/metrics';
import type { Post } from './react/notify';
import { feedStateEvents } from './react/state-events';
import { Poller } from './collect/poller';
import { buildSources } from './collect/sources';
import { SignalState } from './decide/state';
import { createWatches } from './react/watches';
import { linkConsul } from './react/consul';
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

/** Settings the sources are built from: when one changes on a reload, they are built again. */
const SOURCE_SETTINGS: readonly (keyof Config)[] = ['jicofoOrigin', 'prosodyOrigin', 'prosodyHost', 'statusFile', 'probeTimeoutMs', 'probeBodyLimit', 'censusBodyLimit', 'censusPoll', 'censusHost'];

/**
 * Builds a sidecar; nothing listens or polls until start(). The flow, in
 * order: the poller (and the Consul status watch) collect into the state,
 * which decides; the agent and the HTTP server render it; transitions, state
 * events, the watches and the Consul report publisher react.
 */
export function createSidecar(initial: Config, deps: SidecarDeps): Sidecar {
  const { logger } = deps;
  let config = initial;
  const now = deps.now ?? monotonicWallClock;
  const metrics = createMetrics({
    report: () => state.current?.decision.report ?? null,
    ...(deps.droppedLogLines === undefined ? {} : { droppedLogLines: deps.droppedLogLines }),
  });
  const state = new SignalState(config, now);

  const sourceDeps = { probe: deps.probe ?? createHttpProbe(), readStatusFile: deps.readStatusFile ?? readStatusFile };
  const poller = new Poller(buildSources(config, sourceDeps), config.pollingIntervalMs, {
    now,
    record: (update) => state.record(update),
    probed: (source, success, seconds) => {
      metrics.recordProbe(source, success, seconds);
      if (success) watches.answered(source);
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
  state.onDecision(watchTransitions(() => config, logger, metrics, createDumpRunner(logger, deps.spawn)));
  const events = feedStateEvents(state, config, { logger, metrics, post: deps.post });
  const http = createHttpServer({
    state,
    metrics,
    serveMetrics: config.metrics,
    serveCensus: config.censusPoll,
    events: () => events.history.body,
    onError: (error) => logger.error('metrics rendering failed', { error: String(error) }),
  });
  const watches = createWatches({ refresh: (names) => poller.refresh(names), now, logger, metrics });
  const consul = linkConsul({ state, config: () => config, logger, metrics });

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
      if (changedBetween(before, config, SOURCE_SETTINGS)) poller.setSources(buildSources(config, sourceDeps));
      if (before.pollingIntervalMs !== config.pollingIntervalMs) poller.setInterval(config.pollingIntervalMs);
      watches.reconfigure(before, config);
      if (changedBetween(before, config, ['metrics', 'censusPoll'])) http.serve({ serveMetrics: config.metrics, serveCensus: config.censusPoll });
      events.reconfigure(before, config);
      state.reconfigure(config);
      consul.reconfigure(before, config);
      poller.refresh(['statusFile']);
    },
    async start() {
      const [httpAddress, agentAddress] = await Promise.all([
        http.listen(config.httpPort, config.httpHost),
        agent.listen(config.tcpPort, config.tcpHost),
      ]);
      poller.start();
      watches.start(config);
      consul.start();
      logger.info('signal-sidecar listening', {
        http: `${httpAddress.address}:${httpAddress.port}`,
        agent: `${agentAddress.address}:${agentAddress.port}`,
      });
      return { http: httpAddress, agent: agentAddress };
    },
    async stop() {
      consul.close();
      watches.close();
      poller.stop();
      state.close();
      events.close();
      await Promise.all([agent.close(), http.close()]);
    },
  };
}
