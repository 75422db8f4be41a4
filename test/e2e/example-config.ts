import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon';

/**
 * examples/haproxy-shards.cfg as shipped, with only what a deployment fills in
 * changed: the admin socket and server-state paths, the frontend address, the
 * peers (the HAProxies sharing the stick table) and the server lines (their
 * number, order, addresses, ids and agent ports). The end-to-end suite and
 * `npm run bench:fleet` both run HAProxy from this.
 */

export const EXAMPLE = join(ROOT, 'examples', 'haproxy-shards.cfg');
/** The example's backend. */
export const BACKEND = 'shards';

export interface ExampleServer {
  readonly name: string;
  /** The shard's own port (its nginx), on 127.0.0.1. */
  readonly port: number;
  /**
   * The sidecar's TCP_PORT. The agent normally runs on the shard's own
   * address at the example's agent port; here every shard shares 127.0.0.1,
   * so each server line names its sidecar's port.
   */
  readonly agentPort: number;
  /** The shard's id, the same on every HAProxy; used where the example forces ids. */
  readonly id: number;
}

/** One HAProxy of the peers section: its name (`-L`), and the port the one being filled in reaches it on. */
export interface ExamplePeer {
  readonly name: string;
  readonly port: number;
}

function replaceOnce(text: string, pattern: RegExp, replacement: string): string {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`)) ?? [];
  if (matches.length !== 1) throw new Error(`${EXAMPLE} must contain exactly one match for ${pattern}, found ${matches.length}`);
  return text.replace(pattern, replacement);
}

/** One line per server, written like the example's first one. */
function fillServers(text: string, servers: readonly ExampleServer[]): string {
  const lines = text.split('\n');
  const first = lines.findIndex((line) => /^\s*server \S+ \S+/.test(line));
  if (first === -1) throw new Error(`${EXAMPLE} has no server line`);
  const template = /^(\s*server )\S+ \S+(.*)$/.exec(lines[first] ?? '');
  if (template === null) throw new Error(`cannot read the server line ${lines[first]}`);
  const written = servers.map((server) => `${template[1]}${server.name} 127.0.0.1:${server.port} agent-port ${server.agentPort}${(template[2] ?? '').replace(/\bid \d+/, `id ${server.id}`)}`);
  const rest = lines.filter((line, index) => index < first || !/^\s*server \S+ \S+/.test(line));
  rest.splice(first, 0, ...written);
  return rest.join('\n');
}

/**
 * The peers section with one line per HAProxy. An example without one gets
 * one, named in its stick table, as an operator adding a second HAProxy would.
 */
function fillPeers(text: string, peers: readonly ExamplePeer[]): string {
  const written = peers.map((peer) => `    peer ${peer.name} 127.0.0.1:${peer.port}`);
  const section = /^peers (\S+)\s*$/m.exec(text);
  if (section === null) {
    const named = replaceOnce(text, /^(\s*stick-table .*)$/m, '$1 peers fleet');
    return replaceOnce(named, /^(backend )/m, `peers fleet\n${written.join('\n')}\n\n$1`);
  }
  const lines = text.split('\n');
  const first = lines.findIndex((line) => /^\s*peer \S+ \S+/.test(line));
  if (first === -1) throw new Error(`${EXAMPLE}: the peers section ${section[1]} has no peer line`);
  const rest = lines.filter((line, index) => index < first || !/^\s*peer \S+ \S+/.test(line));
  rest.splice(first, 0, ...written);
  return rest.join('\n');
}

/**
 * The filled-in copy: `${SOCKET}` stands for the admin socket and `${DIR}` for
 * HAProxy's own directory (test/e2e/components.ts Haproxy.start puts the
 * paths in), the frontend binds to 127.0.0.1:`frontend`, and the servers and
 * (when given) the peers are this deployment's.
 */
export function fillExample(frontend: number, servers: readonly ExampleServer[], text = readFileSync(EXAMPLE, 'utf8'), peers?: readonly ExamplePeer[]): string {
  let filled = replaceOnce(text, /^(\s*stats socket )\S+/m, '$1${SOCKET}');
  if (/^\s*server-state-file /m.test(filled)) filled = replaceOnce(filled, /^(\s*server-state-file )\S+/m, '$1${DIR}/server-state');
  filled = replaceOnce(filled, /^(\s*)bind :80\b/m, `$1bind 127.0.0.1:${frontend}`);
  filled = fillServers(filled, servers);
  return peers === undefined ? filled : fillPeers(filled, peers);
}
