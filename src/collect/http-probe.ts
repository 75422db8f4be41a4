import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

/** What one GET to an upstream told us, as plain data. */
export interface ProbeResult {
  /** An HTTP answer (status line and headers) arrived. */
  readonly reachable: boolean;
  /** 0 when there was no HTTP answer. */
  readonly statusCode: number;
  /** The body as text, at most the configured limit (or the bytes kept, if fewer). */
  readonly body: string;
  /** The body was longer than the limit and was cut. */
  readonly truncated: boolean;
  readonly durationMs: number;
  /** The deadline passed before the answer (headers or body) was complete. */
  readonly timedOut: boolean;
  /** Why the probe failed, in a short phrase; null when the answer was complete. */
  readonly error: string | null;
}

export interface ProbeRequest {
  readonly url: string;
  /** Overrides the Host header (prosody virtual hosts). */
  readonly host?: string | undefined;
  readonly timeoutMs: number;
  readonly bodyLimit: number;
  /**
   * Bytes of the body kept as text; the rest is still read, to the limit, but
   * dropped as it arrives. Default: the limit. A body that only needs an
   * excerpt then leaves no large string behind at every poll.
   */
  readonly keepBytes?: number;
}

export type HttpProbe = (request: ProbeRequest) => Promise<ProbeResult>;

/** A completed 200 answer: the only kind of answer that counts as healthy. */
export function answeredOk(result: ProbeResult): boolean {
  return result.statusCode === 200 && !result.timedOut && result.error === null;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

export interface BodyRead {
  readonly text: string;
  readonly truncated: boolean;
  readonly error: string | null;
}

/**
 * Reads at most `limit` bytes, then stops reading: a huge body is never
 * buffered whole. Only the first `keep` bytes are kept.
 */
export function readCapped(stream: Readable, limit: number, keep: number, signal: AbortSignal): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let kept = 0;
    const hold = (chunk: Buffer): void => {
      if (kept >= keep) return;
      const piece = chunk.length <= keep - kept ? chunk : chunk.subarray(0, keep - kept);
      chunks.push(piece);
      kept += piece.length;
    };
    let settled = false;
    const finish = (truncated: boolean, error: string | null): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      if (truncated || error !== null) stream.destroy();
      resolve({ text: Buffer.concat(chunks).toString('utf8'), truncated, error });
    };
    const onData = (chunk: Buffer): void => {
      const room = limit - size;
      // Only a byte beyond the cap proves the body is longer than the cap: a
      // chunk that merely fills it (64 KiB writes against a 64 KiB cap) must
      // not end the read as complete while the upstream goes on sending.
      if (chunk.length > room) {
        hold(chunk.subarray(0, room));
        size = limit;
        finish(true, null);
        return;
      }
      hold(chunk);
      size += chunk.length;
    };
    const onEnd = (): void => finish(false, null);
    const onError = (error: unknown): void => finish(false, describeError(error));
    const onAbort = (): void => finish(false, 'body incomplete at the deadline');
    signal.addEventListener('abort', onAbort);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/** Sent with every probe; upstreams get a plain identity-encoded GET. */
const PROBE_HEADERS: Readonly<Record<string, string>> = {
  Accept: 'application/json, text/plain, */*',
  'Accept-Encoding': 'identity',
  'User-Agent': 'signal-sidecar',
};

/** Resolves at the status line and headers; rejects on a connection error or when `signal` aborts first. */
function getResponse(url: URL, headers: http.OutgoingHttpHeaders, signal: AbortSignal): Promise<http.IncomingMessage> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    // agent: false — a fresh connection per probe and no pooled socket left
    // behind: an idle keep-alive socket closed by the upstream at the wrong
    // moment would turn into a false failure. Redirects are not followed, the
    // body is not decoded and no proxy is used: the probe reports what the
    // upstream itself answered.
    const req = transport.get(url, { agent: false, headers, signal }, (response) => {
      // readCapped reports errors while it reads; one arriving after (the
      // deadline destroying the request) must not become an uncaught exception.
      response.on('error', () => undefined);
      resolve(response);
    });
    req.on('error', reject);
  });
}

/**
 * Builds the probe used by every HTTP collector. One request per call, no
 * retries: a probe's verdict is known within its deadline (the original's
 * retries with back-off needed 12-16 s to notice a hung jicofo). Plain
 * node:http: an HTTP client library cost the daemon megabytes of memory and
 * tens of milliseconds of start-up for one GET.
 */
export function createHttpProbe(now: () => number = () => performance.now()): HttpProbe {
  return async (request) => {
    const started = now();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), request.timeoutMs);
    const elapsed = (): number => Math.round((now() - started) * 10) / 10;
    const headers = request.host === undefined ? PROBE_HEADERS : { ...PROBE_HEADERS, Host: request.host };
    try {
      const response = await getResponse(new URL(request.url), headers, deadline.signal);
      const body = await readCapped(response, request.bodyLimit, request.keepBytes ?? request.bodyLimit, deadline.signal);
      const timedOut = deadline.signal.aborted && body.error !== null;
      return {
        reachable: true,
        statusCode: response.statusCode ?? 0,
        body: body.text,
        truncated: body.truncated,
        durationMs: elapsed(),
        timedOut,
        error: timedOut ? `body incomplete after ${request.timeoutMs} ms` : body.error,
      };
    } catch (error) {
      const timedOut = deadline.signal.aborted;
      return {
        reachable: false,
        statusCode: 0,
        body: '',
        truncated: false,
        durationMs: elapsed(),
        timedOut,
        error: timedOut ? `timeout after ${request.timeoutMs} ms` : describeError(error),
      };
    } finally {
      clearTimeout(timer);
    }
  };
}
