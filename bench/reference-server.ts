import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

/**
 * The bare reference the daemon is measured against: the smallest Node
 * servers that do the same job, an HTTP server answering `OK` and a TCP
 * server writing one agent line and closing. Run as its own process, compiled
 * to plain JavaScript first, so no loader or extra module skews its figures.
 *
 * Usage: node reference-server.js <httpPort> <tcpPort> [bodyFile]; prints
 * `ready` when both listen. With a body file, `GET /signal/census` answers its
 * bytes, read once at start (the bare way to serve a large census).
 */
const [httpPort, tcpPort] = process.argv.slice(2, 4).map(Number);
const bodyFile = process.argv[4];
const census = bodyFile === undefined ? undefined : readFileSync(bodyFile);
const line = Buffer.from('up ready 100%\n');

const web = http.createServer((req, res) => res.end(census !== undefined && req.url === '/signal/census' ? census : 'OK'));
const agent = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.end(line);
});

let listening = 0;
const ready = (): void => {
  listening += 1;
  if (listening === 2) process.stdout.write('ready\n');
};
web.listen(httpPort, '127.0.0.1', ready);
agent.listen(tcpPort, '127.0.0.1', ready);
