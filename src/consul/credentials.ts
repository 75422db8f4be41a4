import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { usesConsul, type Config } from '../config/config';
import type { ConsulEndpoint } from './client';

/**
 * What the Consul client is given from files: the ACL token (CONSUL_HTTP_TOKEN
 * or the file CONSUL_HTTP_TOKEN_FILE names) and the CAs for https. The token
 * itself is never part of a message: problems name the file, not its text.
 */

/** Debian's bundle of the CAs the system trusts (update-ca-certificates writes it). */
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface EndpointResult {
  /** Host, port, scheme, CAs and token to build a client on; undefined when a file cannot be used. */
  readonly endpoint: ConsulEndpoint | undefined;
  /** One line each, naming the variable and the file: the token file or the CA cannot be used. */
  readonly problems: readonly string[];
}

export type ReadText = (path: string) => string;
const readText: ReadText = (path) => readFileSync(path, 'utf8');

function why(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return error instanceof Error ? error.message : String(error);
}

/** The token in a file, as Consul's tools read it: trimmed; an empty file is a problem. */
function readToken(path: string, read: ReadText): { token?: string; problem?: string } {
  try {
    const token = read(path).trim();
    return token === '' ? { problem: `CONSUL_HTTP_TOKEN_FILE=${JSON.stringify(path)}: the file is empty` } : { token };
  } catch (error) {
    return { problem: `CONSUL_HTTP_TOKEN_FILE=${JSON.stringify(path)}: cannot read it (${why(error)})` };
  }
}

function readCas(config: Config, read: ReadText): { ca?: string[]; problem?: string } {
  if (config.consulCaCert !== undefined) {
    try {
      const pem = read(config.consulCaCert);
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        return { problem: `CONSUL_CACERT=${JSON.stringify(config.consulCaCert)}: expected a PEM file with at least one certificate` };
      }
      return { ca: [pem] };
    } catch (error) {
      return { problem: `CONSUL_CACERT=${JSON.stringify(config.consulCaCert)}: cannot read it (${why(error)})` };
    }
  }
  // Node's own list alone would miss a company CA installed into the system
  // store, which is where operators put the CA of their Consul cluster.
  try {
    return { ca: [...rootCertificates, read(SYSTEM_BUNDLE)] };
  } catch {
    return {};
  }
}

/**
 * Reads the token file and the CA once (at start and on every reload); a
 * token file is read again when Consul answers 403, so a rotated token is
 * picked up without a reload. A problem leaves no endpoint.
 */
export function readConsulEndpoint(config: Config, read: ReadText = readText, warn: (message: string) => void = () => undefined): EndpointResult {
  const problems: string[] = [];
  let token = config.consulToken;
  if (config.consulTokenFile !== undefined) {
    const fromFile = readToken(config.consulTokenFile, read);
    if (fromFile.problem !== undefined) problems.push(fromFile.problem);
    else token = fromFile.token;
  }
  const cas = config.consulSecure ? readCas(config, read) : {};
  if (cas.problem !== undefined) problems.push(cas.problem);
  if (problems.length > 0) return { endpoint: undefined, problems };

  const tokenFile = config.consulTokenFile;
  let reported = false;
  const endpoint: ConsulEndpoint = {
    host: config.consulHost,
    port: config.consulPort,
    secure: config.consulSecure,
    ca: cas.ca,
    token: () => token,
    forbidden: () => {
      if (tokenFile === undefined) return;
      const again = readToken(tokenFile, read);
      if (again.token !== undefined) {
        token = again.token;
        reported = false;
      } else if (!reported) {
        reported = true;
        warn(`${again.problem ?? 'token file unusable'}; the token read before stays in use`);
      }
    },
  };
  return { endpoint, problems };
}

/** At start and in --check-config: the files a Consul setting names must be usable, or nothing starts. */
export function consulFileProblems(config: Config, read: ReadText = readText): readonly string[] {
  return usesConsul(config) ? readConsulEndpoint(config, read).problems : [];
}

/**
 * An endpoint whose token, CAs and address are read again on every reload:
 * clients ask it at every request, so a rotated token file or a new CA needs
 * no reconnect. `read` returns the problems; on any, the last good reading stays.
 */
export function rereadableEndpoint(warn: (message: string) => void): { readonly endpoint: ConsulEndpoint; readonly read: (config: Config) => readonly string[] } {
  let current: ConsulEndpoint | undefined;
  const endpoint: ConsulEndpoint = {
    get host() {
      return current?.host ?? '';
    },
    get port() {
      return current?.port ?? 0;
    },
    get secure() {
      return current?.secure ?? false;
    },
    get ca() {
      return current?.ca;
    },
    token: () => current?.token(),
    forbidden: () => current?.forbidden?.(),
  };
  return {
    endpoint,
    read: (config) => {
      const { endpoint: read, problems } = readConsulEndpoint(config, readText, warn);
      if (read !== undefined) current = read;
      return problems;
    },
  };
}
