import type { ConsulStatusSample } from '../collect/consul-status';
import type { StatusFileSample } from '../collect/status-file';

/**
 * Where the status word in force comes from when CONSUL_STATUS is on: the
 * latest write wins, wherever it was made, as with the original (whose watch
 * wrote each Consul value into the file, and the file was the truth).
 *
 * A Consul value counts from the moment the watch read it; the file counts
 * from its modification time. The watch keeps each value in the file with
 * that same time, so its own copy, even one that lands late, is never newer
 * than the value in force. A file that is newer and says something else was
 * written by someone else (an operator's `signal-sidecar drain`, a ConfigMap
 * update) and wins until the next write in Consul. At start, and when a
 * reload names another key, Consul's current value is a new read, so it wins,
 * as the original's first watch event did.
 */

export type StatusSource = 'file' | 'consul';

export function statusSourceOf(file: StatusFileSample | null, consul: ConsulStatusSample | null): StatusSource {
  if (consul === null || consul.word === null || consul.appliedAt === null) return 'file';
  const writtenSince = file !== null && file.found && file.modifiedAt !== null && file.modifiedAt > consul.appliedAt;
  return writtenSince && file.contents !== consul.word ? 'file' : 'consul';
}

/** The word in force as a status-file sample, where it came from, and what a reason calls that. */
export interface StatusWord {
  readonly sample: StatusFileSample | null;
  readonly source: StatusSource;
  /** `status file` or `Consul key <key>`. */
  readonly origin: string;
}

export function statusWordInForce(file: StatusFileSample | null, consul: ConsulStatusSample | null): StatusWord {
  if (statusSourceOf(file, consul) === 'consul' && consul !== null && consul.word !== null) {
    return { sample: { found: true, contents: consul.word, error: null, modifiedAt: consul.appliedAt }, source: 'consul', origin: `Consul key ${consul.key}` };
  }
  return { sample: file, source: 'file', origin: 'status file' };
}
