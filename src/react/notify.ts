import type { Report } from '../decide/report';
import type { StateEvent } from './history';
import type { Logger } from '../runtime/logger';

export type NotifyOutcome = 'delivered' | 'failed' | 'dropped';

/** Sends one POST; resolves with the HTTP status, rejects on no answer. */
export type Post = (url: string, body: string, timeoutMs: number) => Promise<number>;

export interface NotifierOptions {
  readonly urls: readonly string[];
  readonly nodeName: string;
  readonly timeoutMs: number;
  readonly logger: Logger;
  readonly counted: (outcome: NotifyOutcome) => void;
  readonly post?: Post;
  /** First retry delay; each later one doubles. */
  readonly backoffMs?: number;
  /** Attempts per notification, the first included. */
  readonly attempts?: number;
  /** Notifications waiting per receiver before the oldest is dropped. */
  readonly queueLimit?: number;
}

export interface Notifier {
  send(event: StateEvent, report: Report): void;
  close(): void;
}

const axiosPost: Post = async (url, body, timeoutMs) => {
  // Loaded on the first notification: most nodes set no NOTIFY_URL, and
  // axios alone adds about 19 MiB of RSS and 140 ms to every start.
  const { default: axios } = await import('axios');
  const response = await axios.post(url, body, {
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'signal-sidecar' },
    signal: AbortSignal.timeout(timeoutMs),
    maxRedirects: 0,
    validateStatus: () => true,
    responseType: 'text',
    maxContentLength: 64 * 1024,
  });
  return response.status;
};

/** Keeps a URL's credentials (user:password, query tokens) out of the logs. */
function redact(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/**
 * POSTs every state change to each NOTIFY_URL, in order per receiver, with a
 * deadline and a few retries with back-off. It runs beside the poll loop:
 * a slow or failing receiver never delays a poll or an answer.
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const post = options.post ?? axiosPost;
  const attempts = options.attempts ?? 4;
  const backoffMs = options.backoffMs ?? 500;
  const queueLimit = options.queueLimit ?? 100;
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      timers.add(timer);
    });

  const receivers = options.urls.map((url) => ({ url, label: redact(url), queue: [] as string[], busy: false }));
  type Receiver = (typeof receivers)[number];

  const deliver = async (receiver: Receiver, body: string): Promise<void> => {
    let problem = '';
    for (let attempt = 1; attempt <= attempts && !closed; attempt += 1) {
      try {
        const status = await post(receiver.url, body, options.timeoutMs);
        if (status >= 200 && status < 300) {
          options.counted('delivered');
          return;
        }
        problem = `HTTP ${status}`;
        // A receiver that rejects the request will reject it again.
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) break;
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      if (attempt < attempts) await pause(backoffMs * 2 ** (attempt - 1));
    }
    options.counted('failed');
    options.logger.warn('notification failed', { url: receiver.label, error: problem });
  };

  const drain = async (receiver: Receiver): Promise<void> => {
    receiver.busy = true;
    for (let body = receiver.queue.shift(); body !== undefined && !closed; body = receiver.queue.shift()) {
      await deliver(receiver, body);
    }
    receiver.busy = false;
  };

  return {
    send(event, report) {
      if (closed) return;
      const body = JSON.stringify({ ...event, node: options.nodeName, report });
      for (const receiver of receivers) {
        receiver.queue.push(body);
        if (receiver.queue.length > queueLimit) {
          receiver.queue.shift();
          options.counted('dropped');
          options.logger.warn('notification dropped: receiver too far behind', { url: receiver.label });
        }
        if (!receiver.busy) void drain(receiver);
      }
    },
    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
