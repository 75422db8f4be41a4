import { answeredOk, type HttpProbe, type ProbeRequest, type ProbeResult } from './http-probe';

/** A parser's verdict on a body: the value, or what is wrong with it. */
export type Parse<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

/** A probe whose body is parsed when it answered 200 completely. */
export interface ParsedSample<T> {
  readonly probe: ProbeResult;
  /** Null when there was no complete 200 answer to parse. */
  readonly parse: Parse<T> | null;
}

/**
 * Probes, then parses a complete 200 body; a body cut at the limit is
 * reported, not parsed, naming the variable that sets the limit.
 */
export async function probeAndParse<T>(
  probe: HttpProbe,
  request: ProbeRequest,
  what: string,
  parse: (body: string) => Parse<T>,
  limitName: string,
): Promise<ParsedSample<T>> {
  const result = await probe(request);
  if (!answeredOk(result)) return { probe: result, parse: null };
  if (result.truncated) {
    return { probe: result, parse: { ok: false, problem: `${what} longer than ${request.bodyLimit} bytes (${limitName})` } };
  }
  return { probe: result, parse: parse(result.body) };
}
