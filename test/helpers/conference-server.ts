import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { BoshSessions } from './bosh-sessions';

/**
 * A shard's conferences as participants reach them through HAProxy: the stand-in
 * for the shard's nginx and prosody's /xmpp-websocket. It runs inside the
 * simulated prosody process (test/helpers/upstream-child.ts), so SIGSTOP freezes
 * it as it freezes prosody, and jicofo's process holds a connection to its
 * component port, as jicofo holds its XMPP connection to prosody: when that
 * connection drops (jicofo killed), focus has left every room, the shard's
 * conferences are over and their sessions are closed; while no jicofo is
 * connected, a participant that joins is told so and closed.
 *
 * Wire protocol, after a real HTTP/1.1 Upgrade (`GET /xmpp-websocket?room=R`,
 * answered `101 Switching Protocols` with a valid Sec-WebSocket-Accept): lines
 * instead of websocket frames, since HAProxy only tunnels the bytes after 101.
 * The server sends `joined <shard>` or `no-focus <shard>`, answers `ping` with
 * `pong`, closes after `bye`, and sends `ended <shard>` before it closes a
 * session whose conference is over. BOSH participants POST `/http-bind?room=`
 * (test/helpers/bosh-sessions.ts has that protocol). Any other request is
 * answered `200 <shard>` with the shard's name in `x-jitsi-shard`, as a shard's
 * nginx sets it and jitsi-meet's websocket keep-alive reads it (after `hold` ms
 * when the query asks, like a held BOSH request); `GET /rooms` lists the
 * sessions per room, websocket and BOSH.
 */

export interface ConferenceSettings {
  readonly shard: string;
  /** Where HAProxy sends participants (the shard's nginx address). */
  readonly port: number;
  /** Where jicofo connects. */
  readonly componentPort: number;
}

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function queryOf(url: string | undefined): URLSearchParams {
  return new URLSearchParams((url ?? '').split('?')[1] ?? '');
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

export interface ConferenceServer {
  close(): Promise<void>;
}

export async function serveConferences(settings: ConferenceSettings): Promise<ConferenceServer> {
  const sessions = new Map<net.Socket, string>();
  let focus = 0;
  const bosh = new BoshSessions(settings.shard, () => focus > 0);

  const end = (socket: net.Socket, line: string): void => {
    sessions.delete(socket);
    socket.end(`${line} ${settings.shard}\n`);
  };

  const component = net.createServer((link) => {
    focus += 1;
    link.on('error', () => undefined);
    link.resume();
    link.once('close', () => {
      focus -= 1;
      if (focus > 0) return;
      for (const socket of [...sessions.keys()]) end(socket, 'ended');
      bosh.endAll();
    });
  });

  const web = http.createServer((req, res) => {
    if ((req.url ?? '').startsWith('/rooms')) {
      const rooms: Record<string, number> = {};
      for (const room of sessions.values()) rooms[room] = (rooms[room] ?? 0) + 1;
      bosh.count(rooms);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ shard: settings.shard, focus: focus > 0, rooms }));
      return;
    }
    const query = queryOf(req.url);
    if (req.method === 'POST' && (req.url ?? '').startsWith('/http-bind')) {
      req.resume();
      bosh.handle(query, res);
      return;
    }
    // `hold=ms`: answered that much later, as prosody holds a BOSH request until it has something to send.
    const hold = Math.min(Number(query.get('hold') ?? 0) || 0, 60_000);
    const answer = (): void => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'x-jitsi-shard': settings.shard }).end(settings.shard);
    };
    if (hold > 0) setTimeout(answer, hold).unref();
    else answer();
  });
  web.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const key = req.headers['sec-websocket-key'];
    const room = queryOf(req.url).get('room');
    if (typeof key !== 'string' || room === null || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${key}${WEBSOCKET_GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    if (focus === 0) {
      socket.end(`no-focus ${settings.shard}\n`);
      return;
    }
    sessions.set(socket, room);
    socket.write(`joined ${settings.shard}\n`);
    // Node does not let a server socket change its encoding: lines are decoded here.
    let pending = '';
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line === 'ping') socket.write('pong\n');
        else if (line === 'bye') end(socket, 'bye');
        newline = pending.indexOf('\n');
      }
      // A peer that sends a line without end is not a participant.
      if (pending.length > 1024) socket.destroy();
    };
    socket.on('data', onData);
    if (head.length > 0) onData(head);
    // A participant that hangs up is gone: close our side too (HAProxy holds the tunnel until both are closed).
    socket.once('end', () => socket.end());
    socket.once('close', () => sessions.delete(socket));
  });
  await Promise.all([listen(component, settings.componentPort), listen(web, settings.port)]);
  return {
    async close() {
      for (const socket of sessions.keys()) socket.destroy();
      bosh.close();
      web.closeAllConnections();
      await Promise.all([component, web].map((server) => new Promise((done) => server.close(done))));
    },
  };
}

/**
 * jicofo's side: keeps one connection to prosody's component port, opening it
 * again 100 ms after it fails or closes, for as long as the process lives.
 */
export function holdComponentLink(port: number): () => void {
  let link: net.Socket | undefined;
  let held = true;
  const connect = (): void => {
    if (!held) return;
    link = net.connect(port, '127.0.0.1');
    link.on('error', () => undefined);
    link.once('close', () => setTimeout(connect, 100).unref());
    link.resume();
  };
  connect();
  return () => {
    held = false;
    link?.destroy();
  };
}

/** The participant's side: the Upgrade request jitsi-meet's websocket makes for `room`. */
export function upgradeRequest(room: string): string {
  return (
    `GET /xmpp-websocket?room=${encodeURIComponent(room)} HTTP/1.1\r\nHost: meet.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`
  );
}

export interface Session {
  /** The shard that took the participant. */
  readonly shard: string;
  /** Resolves when the connection closes, from either side. */
  readonly closed: Promise<void>;
  close(): void;
}

/** One participant joining `room` through `port` (HAProxy's frontend); rejects unless a shard says `joined`. */
export function openSession(port: number, room: string, timeoutMs = 5000): Promise<Session> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(upgradeRequest(room)));
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer joining ${room}: ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      text += chunk;
      const line = /\r\n\r\n(\S+) (\S+)\n/.exec(text);
      if (line === null) return;
      clearTimeout(timer);
      if (line[1] === 'joined') resolve({ shard: line[2] ?? '', closed, close: () => socket.end('bye\n') });
      else reject(new Error(`joining ${room}: ${line[1]} from ${line[2]}`));
    });
    void closed.then(() => {
      clearTimeout(timer);
      reject(new Error(`closed joining ${room}: ${JSON.stringify(text)}`));
    });
  });
}
