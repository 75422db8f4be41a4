import type { Status } from './observe';

export interface WeightSettings {
  readonly participantMax: number;
  readonly weightParticipants: boolean;
}

/**
 * The agent's weight in percent. With WEIGHT_PARTICIPANTS it is the remaining
 * capacity rounded to a multiple of 5, never below 1 (0 would take the node
 * out as surely as a drain, which is the status file's job).
 */
export function weightPercent(status: Status, participants: number | null, settings: WeightSettings): number {
  if (status === 'drain' || status === 'maint') return 0;
  if (!settings.weightParticipants) return 100;
  if (participants === null) return 0;
  const remaining = ((settings.participantMax - participants) * 100) / settings.participantMax;
  const stepped = Math.round(remaining / 5) * 5;
  return Math.min(100, Math.max(1, stepped));
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
