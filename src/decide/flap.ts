import type { DecisionSettings, Observation, Status } from './observe';

/** A run of unhealthy polls, from the healthy→unhealthy transition to the next healthy poll. */
export interface Episode {
  readonly startedAt: number;
  /** Began soft after the node had been healthy, and stayed soft: grace may apply. */
  readonly graceable: boolean;
  /** Time of the first healthy poll after it; null while it lasts. */
  readonly endedAt: number | null;
}

/** Consecutive polls that agreed on raw health. */
export interface Streak {
  readonly healthy: boolean;
  readonly polls: number;
}

/** The transition times the flap rules need, carried from poll to poll. */
export interface FlapMemory {
  readonly lastHealthyAt: number | null;
  readonly lastUnhealthyAt: number | null;
  readonly episode: Episode | null;
  readonly streak: Streak | null;
  /**
   * Health once UNHEALTHY_THRESHOLD / HEALTHY_THRESHOLD are applied: a change
   * of raw health counts only after that many polls in a row. Null before the
   * first poll.
   */
  readonly confirmedHealthy: boolean | null;
  /** The weight last reported by participants (WEIGHT_PARTICIPANTS), which the next one holds to (weight.ts). */
  readonly weight: number | null;
}

/** At start the node was never healthy (no grace) and never unhealthy (no dampening). */
export const FRESH_MEMORY: FlapMemory = {
  lastHealthyAt: null,
  lastUnhealthyAt: null,
  episode: null,
  streak: null,
  confirmedHealthy: null,
  weight: null,
};

export type Thresholds = Pick<DecisionSettings, 'unhealthyThreshold' | 'healthyThreshold'>;

function confirm(previous: boolean | null, streak: Streak, thresholds: Thresholds): boolean {
  // The first poll has no verdict to hold on to.
  if (previous === null || previous === streak.healthy) return streak.healthy;
  const needed = streak.healthy ? thresholds.healthyThreshold : thresholds.unhealthyThreshold;
  return streak.polls >= needed ? streak.healthy : previous;
}

/** Folds one poll's observation into the memory. Pure. */
export function remember(memory: FlapMemory, observation: Observation, now: number, thresholds: Thresholds): FlapMemory {
  const streak: Streak =
    memory.streak !== null && memory.streak.healthy === observation.healthy
      ? { healthy: observation.healthy, polls: memory.streak.polls + 1 }
      : { healthy: observation.healthy, polls: 1 };
  const confirmedHealthy = confirm(memory.confirmedHealthy, streak, thresholds);
  const { episode } = memory;

  if (confirmedHealthy) {
    const ended = episode !== null && episode.endedAt === null ? { ...episode, endedAt: now } : episode;
    return { ...memory, streak, confirmedHealthy, lastHealthyAt: now, episode: ended };
  }
  // A healthy poll inside an unconfirmed recovery keeps the episode as it was.
  const stillSoft = observation.healthy || observation.softFailure;
  const ongoing = episode !== null && episode.endedAt === null;
  const next: Episode = ongoing
    ? { ...episode, graceable: episode.graceable && stillSoft }
    : { startedAt: now, graceable: memory.lastHealthyAt !== null && observation.softFailure, endedAt: null };
  return { ...memory, streak, confirmedHealthy, lastUnhealthyAt: now, episode: next };
}

/** What is reported after flap mitigation. */
export interface Judgement {
  readonly healthy: boolean;
  readonly healthDamped: boolean;
  readonly status: Status;
  /** Why the reported health differs from the raw one, if it does. */
  readonly mitigation: string | null;
  /** When the judgement changes by time alone (grace or dampening ends); null if never. */
  readonly reconsiderAt: number | null;
}

const iso = (time: number): string => new Date(time).toISOString();

/**
 * Applies the thresholds, drain grace and health dampening. Pure: `now` is
 * given, and the answer is valid until `reconsiderAt`.
 */
export function judge(observation: Observation, memory: FlapMemory, now: number, settings: DecisionSettings): Judgement {
  const { episode, streak } = memory;
  const grace = settings.drainGraceMs;
  const confirmed = memory.confirmedHealthy ?? observation.healthy;
  const polls = streak?.polls ?? 0;

  if (!confirmed) {
    const pendingRecovery = observation.healthy
      ? `recovering: ${polls} of ${settings.healthyThreshold} healthy polls`
      : null;
    const stillSoft = observation.healthy || observation.softFailure;
    if (grace > 0 && episode !== null && episode.endedAt === null && episode.graceable && stillSoft) {
      const graceEnds = episode.startedAt + grace;
      if (now < graceEnds) {
        const reason = `drain grace until ${iso(graceEnds)}`;
        return {
          healthy: true,
          healthDamped: false,
          status: 'drain',
          mitigation: pendingRecovery === null ? reason : `${pendingRecovery}; ${reason}`,
          reconsiderAt: graceEnds,
        };
      }
    }
    return { healthy: false, healthDamped: false, status: observation.status, mitigation: pendingRecovery, reconsiderAt: null };
  }

  const pendingFailure = observation.healthy
    ? null
    : `failure not confirmed: ${polls} of ${settings.unhealthyThreshold} unhealthy polls`;
  // A soft episode that healed within its grace was only ever reported as
  // drain: dampening it would turn a brief drain into a down.
  const onlyDrained =
    grace > 0 && episode !== null && episode.graceable && episode.endedAt !== null && episode.endedAt - episode.startedAt < grace;
  if (settings.healthDampeningMs > 0 && memory.lastUnhealthyAt !== null && !onlyDrained) {
    const dampingEnds = memory.lastUnhealthyAt + settings.healthDampeningMs;
    if (now < dampingEnds) {
      const reason = `dampening until ${iso(dampingEnds)}`;
      return {
        healthy: false,
        healthDamped: true,
        status: observation.status,
        mitigation: pendingFailure === null ? reason : `${pendingFailure}; ${reason}`,
        reconsiderAt: dampingEnds,
      };
    }
  }
  return { healthy: true, healthDamped: false, status: observation.status, mitigation: pendingFailure, reconsiderAt: null };
}
