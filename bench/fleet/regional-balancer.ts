/**
 * The regional load balancer in front of the HAProxies, as meet.jit.si runs
 * one per region: every new connection goes to any HAProxy in rotation, with
 * no stickiness, so two participants of one room (or two connections of one
 * participant) may reach different HAProxies. An HAProxy taken out of
 * rotation (killed, or restarted and not yet ready) gets no new connections;
 * the ones it holds are its own business.
 */
export class RegionalBalancer {
  private readonly out = new Set<number>();

  constructor(
    /** Each HAProxy's frontend port on 127.0.0.1, by HAProxy index. */
    readonly frontends: readonly number[],
    private readonly random: () => number = Math.random,
  ) {}

  /** The index of the HAProxy a new connection goes to; `pinned` when that one is in rotation. */
  pick(pinned?: number): number {
    if (pinned !== undefined && !this.out.has(pinned)) return pinned;
    const candidates = this.frontends.map((_, index) => index).filter((index) => !this.out.has(index));
    // None in rotation: the connection goes somewhere and fails, as it would.
    const pool = candidates.length === 0 ? this.frontends.map((_, index) => index) : candidates;
    return pool[Math.floor(this.random() * pool.length)] ?? 0;
  }

  port(index: number): number {
    return this.frontends[index] ?? 0;
  }

  takeOut(index: number): void {
    this.out.add(index);
  }

  putBack(index: number): void {
    this.out.delete(index);
  }
}
