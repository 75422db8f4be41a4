import { agentAnswer, get, sleep, waitFor, type Daemon } from './daemon';
import { metricValue } from './load';

/** One counter of the daemon's /metrics, 0 while it has no such series. */
async function counter(daemon: Daemon, series: string): Promise<number> {
  const value = metricValue((await get(daemon.httpPort, '/metrics')).body, series);
  return Number.isNaN(value) ? 0 : value;
}

/** Probes of `source` (jicofo_health, jicofo_stats, prosody, census) since the daemon started. */
export const probes = (daemon: Daemon, source: string): Promise<number> => counter(daemon, `signal_probe_round_trip_seconds_count{source="${source}"}`);

/** What the connection watch on `upstream` did: connected, closed or failed, counted. */
export const watchEvents = (daemon: Daemon, upstream: 'jicofo' | 'prosody', event: 'connected' | 'closed' | 'failed'): Promise<number> =>
  counter(daemon, `signal_connection_watch_events_total{upstream="${upstream}",event="${event}"}`);

/** Resolves once the watch on `upstream` has connected at least `times` times. */
export const watching = (daemon: Daemon, upstream: 'jicofo' | 'prosody', times = 1): Promise<true> =>
  waitFor(`the watch on ${upstream}`, async () => ((await watchEvents(daemon, upstream, 'connected')) >= times ? true : undefined));

/** Every distinct agent line over `samples` answers, one every `everyMs`: one line means no flap. */
export async function agentLines(daemon: Daemon, samples: number, everyMs = 50): Promise<string[]> {
  const lines = new Set<string>();
  for (let i = 0; i < samples; i += 1) {
    lines.add(await agentAnswer(daemon.agentPort));
    await sleep(everyMs);
  }
  return [...lines];
}
