import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon';

/**
 * examples/haproxy-shards.cfg as shipped, with only what a deployment fills in
 * changed: the admin socket path, the frontend address, and the server lines
 * (their number, addresses and agent ports). The end-to-end suite and
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
}

function replaceOnce(text: string, pattern: RegExp, replacement: string): string {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`)) ?? [];
  if (matches.length !== 1) throw new Error(`${EXAMPLE} must contain exactly one match for ${pattern}, found ${matches.length}`);
  return text.replace(pattern, replacement);
}

/**
 * The filled-in copy: `${SOCKET}` stands for the admin socket (test/e2e/
 * components.ts Haproxy.start puts the path in), the frontend binds to
 * 127.0.0.1:`frontend`, and the example's server lines are replaced by one
 * line per server, written like the example's first one.
 */
export function fillExample(frontend: number, servers: readonly ExampleServer[], text = readFileSync(EXAMPLE, 'utf8')): string {
  let filled = replaceOnce(text, /^(\s*stats socket )\S+/m, '$1${SOCKET}');
  filled = replaceOnce(filled, /^(\s*)bind :80\b/m, `$1bind 127.0.0.1:${frontend}`);
  const lines = filled.split('\n');
  const first = lines.findIndex((line) => /^\s*server \S+ \S+/.test(line));
  if (first === -1) throw new Error(`${EXAMPLE} has no server line`);
  const template = /^(\s*server )\S+ \S+(.*)$/.exec(lines[first] ?? '');
  if (template === null) throw new Error(`cannot read the server line ${lines[first]}`);
  const written = servers.map((server) => `${template[1]}${server.name} 127.0.0.1:${server.port} agent-port ${server.agentPort}${template[2]}`);
  const rest = lines.filter((line, index) => index < first || !/^\s*server \S+ \S+/.test(line));
  rest.splice(first, 0, ...written);
  return rest.join('\n');
}
