/**
 * One account of whether Consul answers, for both of its users: the status
 * watch and the report writes. An outage (no answer, or a 5xx such as `No
 * cluster leader`) is one log line when it begins and one when every user
 * that saw it is served again, however many requests fail meanwhile. (Without
 * a leader, stale reads go on while writes fail: the watch's answers do not
 * end the report writes' outage.) A refusal (4xx: a token without the right)
 * is the user's own: one line for it, one when that user is served again.
 */

export type ConsulUser = 'status watch' | 'report writes';

export interface ConsulOutage {
  failed(user: ConsulUser, problem: string, status: number): void;
  answered(user: ConsulUser): void;
  /** `user` is in an outage and retrying: the other need not knock too (it hears of the end through `recovered`). */
  retrying(user: ConsulUser): boolean;
}

export interface OutageOptions {
  /** What waits for Consul now (a reload may change it), to say so in the line. */
  readonly users: () => readonly ConsulUser[];
  readonly log: (level: 'info' | 'warn', message: string, fields: Readonly<Record<string, unknown>>) => void;
  readonly now: () => number;
  /** A user that saw the outage is served again (the others may still wait). */
  readonly recovered?: (user: ConsulUser) => void;
}

/** No answer at all, or Consul answering that it cannot serve (no leader, an RPC error). */
export const isOutage = (status: number): boolean => status === 0 || status >= 500;

function waiting(users: readonly ConsulUser[]): string {
  const status = users.includes('status watch');
  const reports = users.includes('report writes');
  if (status && reports) return 'the status word in force stays and reports wait until it answers';
  return status ? 'the status word in force stays until it answers' : 'reports wait until it answers';
}

export function trackConsulOutage(options: OutageOptions): ConsulOutage {
  const down = new Set<ConsulUser>();
  let downSince = 0;
  let failedRequests = 0;
  const refused = new Set<ConsulUser>();
  return {
    failed(user, problem, status) {
      if (isOutage(status)) {
        failedRequests += 1;
        if (down.size === 0) {
          downSince = options.now();
          options.log('warn', `Consul unreachable; ${waiting(options.users())}`, { problem, seenBy: user });
        }
        down.add(user);
        return;
      }
      if (refused.has(user)) return;
      refused.add(user);
      const meanwhile = user === 'status watch' ? 'the status word in force stays' : 'no report is written';
      options.log('warn', `Consul refuses the ${user}; ${meanwhile} until it accepts them`, { problem });
    },
    answered(user) {
      if (down.delete(user)) {
        if (down.size === 0) {
          options.log('info', 'Consul reachable again', { afterSeconds: Math.round((options.now() - downSince) / 100) / 10, failedRequests });
          failedRequests = 0;
        }
        options.recovered?.(user);
      }
      if (refused.delete(user)) options.log('info', `Consul accepts the ${user} again`, {});
    },
    retrying: (user) => down.has(user),
  };
}
