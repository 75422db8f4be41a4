import { collectCensus } from './census';
import { answeredOk, type HttpProbe } from './http-probe';
import { collectJicofoHealth } from './jicofo-health';
import { collectJicofoStats } from './jicofo-stats';
import { collectProsody } from './prosody-bosh';
import type { StatusFileSample } from './status-file';
import type { Config } from '../config/config';
import type { Samples, SourceName } from '../decide/samples';

/** One polled source: how to collect it, and what counts as a successful probe. */
export interface Source<K extends SourceName = SourceName> {
  readonly name: K;
  collect(): Promise<NonNullable<Samples[K]>>;
  succeeded(sample: NonNullable<Samples[K]>): boolean;
}

export interface SourceDeps {
  readonly probe: HttpProbe;
  readonly readStatusFile: (path: string) => Promise<StatusFileSample>;
}

export function buildSources(config: Config, deps: SourceDeps): Source[] {
  const settings = { timeoutMs: config.probeTimeoutMs, bodyLimit: config.probeBodyLimit };
  const sources: Source[] = [
    source('jicofoHealth', () => collectJicofoHealth(deps.probe, config.jicofoOrigin, settings), answeredOk),
    source(
      'jicofoStats',
      () => collectJicofoStats(deps.probe, config.jicofoOrigin, settings),
      (sample) => sample.parse?.ok === true,
    ),
    source('prosody', () => collectProsody(deps.probe, config.prosodyOrigin, config.prosodyHost, settings), answeredOk),
    source('statusFile', () => deps.readStatusFile(config.statusFile), (sample) => sample.found),
  ];
  if (config.censusPoll) {
    sources.push(
      source(
        'census',
        () => collectCensus(deps.probe, config.prosodyOrigin, config.censusHost, { ...settings, bodyLimit: config.censusBodyLimit }),
        (sample) => sample.parse?.ok === true,
      ),
    );
  }
  return sources;
}

/** An upstream process and the sources that ask it: what a crash of that process takes down. */
export interface Upstream {
  readonly name: 'jicofo' | 'prosody';
  readonly origin: string;
  readonly sources: readonly SourceName[];
}

export function upstreamsOf(config: Config): Upstream[] {
  return [
    { name: 'jicofo', origin: config.jicofoOrigin, sources: ['jicofoHealth', 'jicofoStats'] },
    { name: 'prosody', origin: config.prosodyOrigin, sources: config.censusPoll ? ['prosody', 'census'] : ['prosody'] },
  ];
}

function source<K extends SourceName>(
  name: K,
  collect: () => Promise<NonNullable<Samples[K]>>,
  succeeded: (sample: NonNullable<Samples[K]>) => boolean,
): Source {
  return { name, collect, succeeded };
}
