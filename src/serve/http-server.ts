import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type createExpress from 'express';
import type { Express } from 'express';
import type { SidecarMetrics } from './metrics/metrics';
import type { SignalState } from '../decide/state';

export interface HttpDeps {
  readonly state: SignalState;
  readonly metrics: SidecarMetrics;
  readonly serveMetrics: boolean;
  readonly serveCensus: boolean;
  /** The pre-rendered /signal/events body. */
  readonly events: () => string;
  readonly onError: (error: unknown) => void;
  /**
   * Serve the hot health routes before Express (the default). False sends
   * every request through Express; the tests use it to prove both answer alike.
   */
  readonly fastPath?: boolean;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY_CENSUS = Buffer.from('{"room_census":[]}');

function send(res: http.ServerResponse, code: number, type: string, body: string | Buffer): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

/** Label for the `uri` metric: known routes by name, every other path shares one value. */
const OTHER_ROUTE = 'other';

/** Status line for a request the parser refused: a timeout or oversized headers are not a malformed request. */
function refusal(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return '408 Request Timeout';
    case 'HPE_HEADER_OVERFLOW':
      return '431 Request Header Fields Too Large';
    default:
      return '400 Bad Request';
  }
}

/**
 * A path folded the way Express might match it to a route: decoded, lower
 * case, without trailing slashes. Looser than Express, so a path whose
 * folding matches no route can match none in Express either.
 */
function looseSpelling(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape: Express compares the raw path then, and so do we.
  }
  return decoded.toLowerCase().replace(/\/+$/, '');
}

/** The routes that settings turn on and off. */
export interface OptionalRoutes {
  readonly serveMetrics: boolean;
  readonly serveCensus: boolean;
}

export interface SidecarHttpServer {
  readonly server: http.Server;
  listen(port: number, host: string | undefined): Promise<AddressInfo>;
  /** Turns /metrics and /signal/census on or off (a reload of METRICS or CENSUS_POLL). */
  serve(routes: OptionalRoutes): void;
  close(): Promise<void>;
}

/** Every route the daemon has, by exact path; /metrics and /signal/census come and go with the settings. */
interface RouteTable {
  readonly routes: Map<string, Handler>;
  readonly notFound: Handler;
  /** Puts the optional routes in or out; returns the routes' loose spellings (see looseSpelling). */
  serve(optional: OptionalRoutes): Set<string>;
}

/**
 * The handlers. They only copy what the state rendered at the last decision;
 * nothing waits on a poll, except before the very first one, when a health
 * check is held until there is a verdict to give.
 */
function routeTable(deps: HttpDeps): RouteTable {
  const { state, metrics } = deps;

  const healthCheck = (render: (res: http.ServerResponse, healthy: boolean) => void): Handler => {
    const answer = (res: http.ServerResponse): void => {
      const current = state.current;
      if (current === null) {
        send(res, 503, TEXT, 'NOT_OK');
        return;
      }
      metrics.healthChecks.inc();
      if (!current.healthy) metrics.unhealthyChecks.inc();
      render(res, current.healthy);
    };
    return (_req, res) => {
      if (state.current !== null) {
        answer(res);
        return;
      }
      void state.firstDecision().then(() => {
        if (!res.writableEnded) answer(res);
      });
    };
  };

  const routes = new Map<string, Handler>();
  routes.set('/health', (_req, res) => send(res, 200, TEXT, 'OK'));
  const signalHealth = healthCheck((res, healthy) => send(res, healthy ? 200 : 503, TEXT, healthy ? 'OK' : 'NOT_OK'));
  routes.set('/signal/health', signalHealth);
  routes.set('/about/health', signalHealth);
  routes.set(
    '/signal/report',
    healthCheck((res, healthy) => send(res, healthy ? 200 : 503, JSON_TYPE, state.current?.reportBody ?? '{}')),
  );
  routes.set('/signal/events', (_req, res) => send(res, 200, JSON_TYPE, deps.events()));
  const census: Handler = (_req, res) => send(res, 200, JSON_TYPE, state.current?.censusBody ?? EMPTY_CENSUS);
  const metricsPage: Handler = (_req, res) => {
    metrics.render().then(
      (text) => send(res, 200, metrics.registry.contentType, text),
      (error: unknown) => {
        deps.onError(error);
        send(res, 500, TEXT, 'metrics unavailable');
      },
    );
  };

  return {
    routes,
    notFound: (_req, res) => send(res, 404, TEXT, 'Not Found'),
    serve(optional) {
      for (const [path, handler, on] of [
        ['/signal/census', census, optional.serveCensus],
        ['/metrics', metricsPage, optional.serveMetrics],
      ] as const) {
        if (on) routes.set(path, handler);
        else routes.delete(path);
      }
      return new Set([...routes.keys()].map(looseSpelling));
    },
  };
}

/**
 * Express, for everything off the fast path. It is loaded at the first such
 * request, not at start: load balancers and the agent never need it, and
 * loading it took a third of the start-up time and several MiB. `forget()`
 * makes the next request build it again (Express keeps the routes it was
 * built with).
 */
function expressFallback(table: RouteTable, metrics: SidecarMetrics, onError: (error: unknown) => void): { handle: Handler; forget(): void } {
  const build = (express: typeof createExpress): Express => {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.use((req, res, next) => {
      const started = performance.now();
      metrics.requestStarted();
      res.once('close', () => {
        metrics.requestFinished();
        const path = req.path;
        const uri = table.routes.has(path) ? path : OTHER_ROUTE;
        metrics.observeRequest(req.method, uri, res.statusCode, (performance.now() - started) / 1000);
      });
      next();
    });
    for (const [path, handler] of table.routes) app.get(path, handler);
    app.use(table.notFound);
    return app;
  };
  let app: Promise<Express> | undefined;
  return {
    handle(req, res) {
      app ??= import('express').then((loaded) => build(loaded.default));
      app.then(
        (ready) => {
          ready(req, res);
        },
        (error: unknown) => {
          onError(error);
          send(res, 500, TEXT, 'Internal Server Error');
        },
      );
    },
    forget() {
      app = undefined;
    },
  };
}

/** Same metrics as the Express middleware; a request answered at once is recorded at once. */
function serveHot(metrics: SidecarMetrics, req: http.IncomingMessage, res: http.ServerResponse, uri: string, handler: Handler): void {
  const started = performance.now();
  metrics.requestStarted();
  const finish = (): void => {
    metrics.requestFinished();
    metrics.observeRequest(req.method ?? '', uri, res.statusCode, (performance.now() - started) / 1000);
  };
  handler(req, res);
  if (res.writableEnded) finish();
  else res.once('close', finish);
}

/** The REST server: the route table, answered before Express whenever it can be. */
export function createHttpServer(deps: HttpDeps): SidecarHttpServer {
  const { metrics } = deps;
  const table = routeTable(deps);
  const fallback = expressFallback(table, metrics, deps.onError);
  let looseRoutes = table.serve(deps);
  const serve = (optional: OptionalRoutes): void => {
    looseRoutes = table.serve(optional);
    fallback.forget();
  };

  // Every route, by its exact path, is answered before Express: its router
  // and middleware cost several times what the answer itself does, and a
  // Prometheus scrape should not be what loads it (about 11 MiB). Any other
  // spelling of a route (trailing slash, other case, encoded characters)
  // still goes to Express, which keeps its matching rules for it. A path
  // that cannot be a spelling of any route gets Express's 404 here, so a
  // scanner's stream of made-up URLs neither loads Express nor pays for it.
  const fastPath = deps.fastPath !== false;
  const hot = fastPath ? table.routes : new Map<string, Handler>();
  const surelyNotFound = (path: string): boolean =>
    fastPath && path.startsWith('/') && !path.includes('#') && !looseRoutes.has(looseSpelling(path));

  const server = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') {
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const path = query === -1 ? url : url.slice(0, query);
      const handler = hot.get(path);
      if (handler !== undefined) {
        serveHot(metrics, req, res, path, handler);
        return;
      }
      if (surelyNotFound(path)) {
        serveHot(metrics, req, res, OTHER_ROUTE, table.notFound);
        return;
      }
    }
    fallback.handle(req, res);
  });
  // Explicit limits: a slow or idle client cannot hold a socket forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable) socket.end(`HTTP/1.1 ${refusal(error)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    else socket.destroy();
  });

  return {
    server,
    serve,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host }, () => {
          server.removeListener('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        // In-flight requests finish; idle keep-alive sockets would only delay exit.
        server.closeIdleConnections();
      });
    },
  };
}
