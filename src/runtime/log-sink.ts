import { Writable } from 'node:stream';

/**
 * Where the log lines go, built so that a log reader can never stop the
 * daemon or change an answer:
 *
 * - A closed stdout (the reader went away: EPIPE) raised an 'error' event
 *   nobody handled, and the daemon exited 1 at its next log line. Now the
 *   error is taken, and the lines go to the next sink (stderr), or are
 *   dropped when that one is closed too.
 * - A pipe nobody reads does not block the daemon (node writes pipes
 *   asynchronously on Linux), but node keeps every line it could not write
 *   in memory, without a bound. Now a line is dropped while more than
 *   `queueLimitBytes` wait.
 *
 * Dropped lines are counted by reason (signal_log_lines_dropped_total).
 */

export type DropReason = 'closed' | 'full';

export interface LogSink {
  /** What the logger writes to; it never pushes back, so winston never buffers either. */
  readonly stream: Writable;
  /** Lines dropped so far, by reason. */
  readonly dropped: () => Readonly<Record<DropReason, number>>;
}

/** The part of a standard stream the sink uses. */
export interface Destination {
  readonly writableLength: number;
  write(chunk: string): boolean;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Lines waiting for a slow reader, beyond what the pipe itself holds (64 KiB on Linux). */
export const QUEUE_LIMIT_BYTES = 256 * 1024;

/**
 * Writes to the first destination that still works, in order (stdout,
 * then stderr). A destination that failed once is not written again: after
 * EPIPE the reader is gone for good.
 */
export function createLogSink(destinations: readonly Destination[], queueLimitBytes = QUEUE_LIMIT_BYTES): LogSink {
  const counts: Record<DropReason, number> = { closed: 0, full: 0 };
  const broken = new Set<Destination>();
  let current = 0;
  for (const destination of destinations) {
    destination.on('error', (error) => {
      broken.add(destination);
      const before = current;
      while (current < destinations.length && broken.has(destinations[current])) current += 1;
      const next = destinations[current];
      // The first line in the new place says why the lines moved there.
      if (current !== before && next !== undefined) {
        next.write(
          `${JSON.stringify({ level: 'warn', message: 'log sink failed; logging here from now on', error: error.message, timestamp: new Date().toISOString() })}\n`,
        );
      }
    });
  }
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      const destination = destinations[current];
      if (destination === undefined) counts.closed += 1;
      else if (destination.writableLength > queueLimitBytes) counts.full += 1;
      else destination.write(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      done();
    },
  });
  return { stream, dropped: () => ({ ...counts }) };
}
