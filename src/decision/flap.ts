import type { DecisionSettings, Observation, Status } from './observe';

/** A run of unhealthy polls, from the healthy→unhealthy transition to the next healthy poll. */
export interface Episode {
  readonly startedAt: number;
  /** Began soft after the node had been healthy, and stayed soft: grace may apply. */
  readonly graceable: boolean;
  /** Time of the first healthy poll after it; null while it lasts. */
  readonly endedAt: number | null;
}

/** The transition times the flap rules need, carried from poll to poll. */
export interface FlapMemory {
  readonly lastHealthyAt: number | null;
  readonly lastUnhealthyAt: number | null;
  readonly episode: Episode | null;
}

/** At start the node was never healthy (no grace) and never unhealthy (no dampening). */
export const FRESH_MEMORY: FlapMemory = { lastHealthyAt: null, lastUnhealthyAt: null, episode: null };

/** Folds one poll's observation into the memory. Pure. */
export function remember(memory: FlapMemory, observation: Observation, now: number): FlapMemory {
  const { episode } = memory;
  if (observation.healthy) {
    const ended = episode !== null && episode.endedAt === null ? { ...episode, endedAt: now } : episode;
    return { ...memory, lastHealthyAt: now, episode: ended };
  }
  const ongoing = episode !== null && episode.endedAt === null;
  const next: Episode = ongoing
    ? { ...episode, graceable: episode.graceable && observation.softFailure }
    : { startedAt: now, graceable: memory.lastHealthyAt !== null && observation.softFailure, endedAt: null };
  return { ...memory, lastUnhealthyAt: now, episode: next };
}

/** What is reported after flap mitigation. */
export interface Judgement {
  readonly healthy: boolean;
  readonly healthDamped: boolean;
  readonly status: Status;
  /** Why the mitigation applies, if it does. */
  readonly mitigation: string | null;
  /** When the judgement changes by time alone (grace or dampening ends); null if never. */
  readonly reconsiderAt: number | null;
}

const iso = (time: number): string => new Date(time).toISOString();

/**
 * Applies drain grace and health dampening. Pure: `now` is given, and the
 * answer is valid until `reconsiderAt`.
 */
export function judge(
  observation: Observation,
  memory: FlapMemory,
  now: number,
  settings: DecisionSettings,
): Judgement {
  const { episode } = memory;
  const grace = settings.drainGraceMs;

  if (!observation.healthy) {
    if (grace > 0 && episode !== null && episode.endedAt === null && episode.graceable && observation.softFailure) {
      const graceEnds = episode.startedAt + grace;
      if (now < graceEnds) {
        return {
          healthy: true,
          healthDamped: false,
          status: 'drain',
          mitigation: `drain grace until ${iso(graceEnds)}`,
          reconsiderAt: graceEnds,
        };
      }
    }
    return { healthy: false, healthDamped: false, status: observation.status, mitigation: null, reconsiderAt: null };
  }

  // A soft episode that healed within its grace was only ever reported as
  // drain: dampening it would turn a brief drain into a down.
  const onlyDrained =
    grace > 0 && episode !== null && episode.graceable && episode.endedAt !== null && episode.endedAt - episode.startedAt < grace;
  if (settings.healthDampeningMs > 0 && memory.lastUnhealthyAt !== null && !onlyDrained) {
    const dampingEnds = memory.lastUnhealthyAt + settings.healthDampeningMs;
    if (now < dampingEnds) {
      return {
        healthy: false,
        healthDamped: true,
        status: observation.status,
        mitigation: `dampening until ${iso(dampingEnds)}`,
        reconsiderAt: dampingEnds,
      };
    }
  }
  return { healthy: true, healthDamped: false, status: observation.status, mitigation: null, reconsiderAt: null };
}
