/** The timers one client object has running, so that stopping it stops them all. */
export class Timers {
  private readonly running = new Set<NodeJS.Timeout>();

  after(ms: number, action: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.running.delete(timer);
      action();
    }, ms);
    this.running.add(timer);
    return timer;
  }

  cancel(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.running.delete(timer);
  }

  clear(): void {
    for (const timer of this.running) clearTimeout(timer);
    this.running.clear();
  }
}

/** A random whole number of ms in [min, max]. */
export const between = (min: number, max: number): number => Math.round(min + Math.random() * (max - min));
