import http from 'node:http';
import https from 'node:https';
import { describeError, readCapped } from '../collect/http-probe';

/**
 * The three Consul KV calls the sidecar makes: read one key (a blocking query
 * when given an index), write one key, read every key under a prefix. Our own
 * client on node:http rather than the `consul` package: that package's HTTP
 * layer (papi) is unmaintained, it has no per-request deadline for a write,
 * and it hides the index and the status code that the watch's rules are made
 * of (an index that goes back, a 403, a 413 with Consul's size limit).
 *
 * Every call resolves with plain data and never rejects: a failure is a
 * value with the problem in a short phrase, as the collectors report theirs.
 */

export interface ConsulEndpoint {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** Certificates that may sign Consul's (https); undefined = Node's own list. */
  readonly ca?: readonly (string | Buffer)[] | undefined;
  /** The ACL token to send, asked at every request (a token file may be rotated). */
  readonly token: () => string | undefined;
  /** Consul refused the token (403): the holder may read its file again. */
  readonly forbidden?: () => void;
}

export interface KvFailure {
  readonly kind: 'failed';
  /** A short phrase fit for one log line; never holds the token. */
  readonly problem: string;
  /** 0 when Consul gave no HTTP answer. */
  readonly status: number;
}

export type KeyRead =
  | { readonly kind: 'value'; readonly value: string; readonly index: number }
  /** No such key (404); the index is Consul's, for the next blocking query. */
  | { readonly kind: 'absent'; readonly index: number }
  | KvFailure;

export type KeyWrite =
  | { readonly kind: 'written' }
  /** 413: the value is over Consul's limit, which the answer names. */
  | { readonly kind: 'too-large'; readonly problem: string; readonly maxBytes: number | null }
  | KvFailure;

export interface KvEntry {
  readonly key: string;
  readonly value: string;
}

export type TreeRead = { readonly kind: 'entries'; readonly entries: readonly KvEntry[] } | KvFailure;

export interface KeyReadOptions {
  /** 0 answers at once; a later index blocks until the key changes or `waitSeconds` pass. */
  readonly index: number;
  readonly waitSeconds: number;
  /** Bytes of the value that are read; the rest is cut off. */
  readonly limitBytes: number;
}

export interface ConsulClient {
  readKey(key: string, options: KeyReadOptions): Promise<KeyRead>;
  writeKey(key: string, value: string, timeoutMs: number): Promise<KeyWrite>;
  readTree(prefix: string, timeoutMs: number, limitBytes: number): Promise<TreeRead>;
  /** Ends every request in flight (a blocking query may be held for a minute). */
  close(): void;
}

/** Consul adds up to wait/16 to a blocking query; past that and this margin, it is not answering. */
const BLOCKING_MARGIN_MS = 5000;
/** How long a write waits for `100 Continue` before it sends its body anyway. */
const CONTINUE_WAIT_MS = 1000;
/** Error bodies are a line of text; more is not read. */
const ERROR_BODY_LIMIT = 1024;

interface Answer {
  readonly status: number;
  readonly index: number | null;
  readonly body: string;
  readonly truncated: boolean;
}

interface Call {
  readonly method: 'GET' | 'PUT';
  readonly path: string;
  readonly body?: string;
  readonly timeoutMs: number;
  readonly limitBytes: number;
}

/** `a/b c` → `/v1/kv/a/b%20c`: each segment escaped, the slashes kept. */
export const kvPath = (key: string): string => `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`;

/** Consul's error bodies are one line of text, e.g. `Permission denied` or `No cluster leader`. */
function failure(answer: Answer): KvFailure {
  const line = answer.body.trim().split('\n')[0]?.slice(0, 200) ?? '';
  return { kind: 'failed', problem: line === '' ? `HTTP ${answer.status}` : `HTTP ${answer.status}: ${line}`, status: answer.status };
}

const MAX_SIZE = /max size:\s*(\d+)/i;

export function createConsulClient(endpoint: ConsulEndpoint): ConsulClient {
  const transport = endpoint.secure ? https : http;
  const inFlight = new Set<AbortController>();
  const origin = `${endpoint.secure ? 'https' : 'http'}://${endpoint.host.includes(':') && !endpoint.host.startsWith('[') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;

  const call = (request: Call): Promise<Answer | KvFailure> => {
    const abort = new AbortController();
    inFlight.add(abort);
    const timer = setTimeout(() => abort.abort(), request.timeoutMs);
    const token = endpoint.token();
    const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'signal-sidecar', Accept: 'application/json, text/plain' };
    if (token !== undefined) headers['X-Consul-Token'] = token;
    if (request.body !== undefined) {
      headers['Content-Length'] = Buffer.byteLength(request.body);
      // Consul refuses a value over its limit from the length alone, and
      // closes the connection while a large body is still being sent: the
      // client then sees a reset, not the 413 that names the limit. Asked to
      // wait, Consul answers 413 before a byte of the body is sent.
      headers.Expect = '100-continue';
    }
    const settle = (): void => {
      clearTimeout(timer);
      inFlight.delete(abort);
    };
    return new Promise<Answer | KvFailure>((resolve) => {
      // A fresh connection per call: a held-open socket that Consul closed
      // while idle would turn the next write into a false failure.
      const req = transport.request(
        new URL(request.path, origin),
        { method: request.method, headers, agent: false, signal: abort.signal, ...(endpoint.ca === undefined ? {} : { ca: [...endpoint.ca] }) },
        (response) => {
          response.on('error', () => undefined);
          const status = response.statusCode ?? 0;
          const limit = status === 200 ? request.limitBytes : ERROR_BODY_LIMIT;
          void readCapped(response, limit, limit, abort.signal).then((read) => {
            settle();
            // Done with it: a write refused before its body was sent is still open.
            req.destroy();
            if (read.error !== null) {
              resolve({ kind: 'failed', problem: abort.signal.aborted ? `no complete answer within ${request.timeoutMs} ms` : read.error, status });
              return;
            }
            const index = Number(response.headers['x-consul-index']);
            resolve({ status, index: Number.isFinite(index) ? index : null, body: read.text, truncated: read.truncated });
          });
        },
      );
      req.on('error', (error) => {
        settle();
        resolve({ kind: 'failed', problem: abort.signal.aborted ? `no answer within ${request.timeoutMs} ms` : describeError(error), status: 0 });
      });
      if (request.body === undefined) {
        req.end();
        return;
      }
      const body = request.body;
      // A server that ignores Expect (a proxy in between) gets the body after a pause.
      const impatient = setTimeout(() => req.end(body), CONTINUE_WAIT_MS);
      req.once('continue', () => {
        clearTimeout(impatient);
        req.end(body);
      });
      req.once('response', () => clearTimeout(impatient));
      req.once('close', () => clearTimeout(impatient));
    });
  };

  const answered = (result: Answer | KvFailure): result is Answer => !('kind' in result);
  const noteForbidden = (answer: Answer): void => {
    if (answer.status === 403) endpoint.forbidden?.();
  };

  return {
    async readKey(key, options) {
      const query = new URLSearchParams({ raw: '', stale: '' });
      if (options.index > 0) {
        query.set('index', String(options.index));
        query.set('wait', `${options.waitSeconds}s`);
      }
      const timeoutMs = options.index > 0 ? options.waitSeconds * 1000 * (17 / 16) + BLOCKING_MARGIN_MS : BLOCKING_MARGIN_MS;
      const result = await call({ method: 'GET', path: `${kvPath(key)}?${query.toString().replace(/=(&|$)/g, '$1')}`, timeoutMs, limitBytes: options.limitBytes });
      if (!answered(result)) return result;
      noteForbidden(result);
      if (result.status !== 200 && result.status !== 404) return failure(result);
      if (result.index === null) return { kind: 'failed', problem: `HTTP ${result.status} without an X-Consul-Index header: not a Consul agent?`, status: result.status };
      return result.status === 404 ? { kind: 'absent', index: result.index } : { kind: 'value', value: result.body, index: result.index };
    },

    async writeKey(key, value, timeoutMs) {
      const result = await call({ method: 'PUT', path: kvPath(key), body: value, timeoutMs, limitBytes: ERROR_BODY_LIMIT });
      if (!answered(result)) return result;
      noteForbidden(result);
      if (result.status === 413) {
        const max = MAX_SIZE.exec(result.body)?.[1];
        return { kind: 'too-large', problem: failure(result).problem, maxBytes: max === undefined ? null : Number(max) };
      }
      if (result.status !== 200) return failure(result);
      // `false` is a failed check-and-set; without `cas` Consul always says true.
      return result.body.trim() === 'true' ? { kind: 'written' } : { kind: 'failed', problem: `HTTP 200 but the write was not applied (${result.body.trim().slice(0, 40)})`, status: 200 };
    },

    async readTree(prefix, timeoutMs, limitBytes) {
      const result = await call({ method: 'GET', path: `${kvPath(prefix)}?recurse&stale`, timeoutMs, limitBytes });
      if (!answered(result)) return result;
      noteForbidden(result);
      if (result.status === 404) return { kind: 'entries', entries: [] };
      if (result.status !== 200) return failure(result);
      if (result.truncated) return { kind: 'failed', problem: `the answer is over ${limitBytes} bytes`, status: 200 };
      return parseTree(result.body);
    },

    close() {
      for (const abort of inFlight) abort.abort();
      inFlight.clear();
    },
  };
}

/** A recursive read: `[{"Key": …, "Value": base64 or null, …}, …]`. */
export function parseTree(body: string): TreeRead {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'failed', problem: 'the answer is not JSON', status: 200 };
  }
  if (!Array.isArray(parsed)) return { kind: 'failed', problem: 'the answer is not a list of keys', status: 200 };
  const entries: KvEntry[] = [];
  for (const item of parsed as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { Key: key, Value: value } = item as { Key?: unknown; Value?: unknown };
    if (typeof key !== 'string') continue;
    entries.push({ key, value: typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : '' });
  }
  return { kind: 'entries', entries };
}
