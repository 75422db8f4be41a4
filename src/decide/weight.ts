import type { Status } from './observe';

export interface WeightSettings {
  readonly participantMax: number;
  readonly weightParticipants: boolean;
}

const STEP = 5;

/**
 * The agent's weight in percent. With WEIGHT_PARTICIPANTS it is the remaining
 * capacity rounded to a multiple of 5, never below 1 (0 would take the node
 * out as surely as a drain, which is the status file's job).
 *
 * `held` is the weight reported by participants before, if any: it stays
 * until the remaining capacity is a whole step away from it. A count
 * hovering at a rounding boundary would otherwise flip the weight at every
 * poll, and each flip changes the hash ring of every HAProxy at its own next
 * agent check, so that for a moment they place new rooms apart
 * (docs/failover.md has the figures).
 */
export function weightPercent(status: Status, participants: number | null, settings: WeightSettings, held: number | null = null): number {
  if (status === 'drain' || status === 'maint') return 0;
  if (!settings.weightParticipants) return 100;
  if (participants === null) return 0;
  const remaining = ((settings.participantMax - participants) * 100) / settings.participantMax;
  if (held !== null && Math.abs(remaining - held) < STEP) return held;
  const stepped = Math.round(remaining / STEP) * STEP;
  return Math.min(100, Math.max(1, stepped));
}

/** What the next weight holds to: only a weight that came from the participants. */
export function heldWeight(weight: number, settings: WeightSettings): number | null {
  return settings.weightParticipants && weight > 0 ? weight : null;
}

/** The word HAProxy gets: anything but ready, drain or maint is sent as drain. */
function agentStatus(status: Status): 'ready' | 'drain' | 'maint' {
  return status === 'unknown' ? 'drain' : status;
}

/** `<up|down> <ready|drain|maint> <weight>%`, without the newline. */
export function agentMessage(healthy: boolean, status: Status, weight: number): string {
  return `${healthy ? 'up' : 'down'} ${agentStatus(status)} ${weight}%`;
}

/** HAProxy shows at most this much of a description; longer reasons are cut. */
const DESCRIPTION_LIMIT = 120;

/**
 * The line sent to HAProxy. On `down` lines the first reason follows ` # `,
 * which HAProxy 2.6 shows as the agent's description (in `show stat` and its
 * state-change log). Control characters are removed: a stray newline would
 * end the line early, and status-file junk may reach a reason.
 */
export function agentLine(message: string, reason: string | undefined): string {
  if (reason === undefined) return `${message}\n`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  const description = reason.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, DESCRIPTION_LIMIT);
  return description === '' ? `${message}\n` : `${message} # ${description}\n`;
}
