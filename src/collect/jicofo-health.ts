import type { HttpProbe, ProbeResult } from './http-probe';

export interface UpstreamSettings {
  readonly timeoutMs: number;
  readonly bodyLimit: number;
}

/**
 * Of the health body only an excerpt is shown (in the report); kept with
 * room for multi-byte characters and leading blank lines.
 */
const HEALTH_BODY_KEPT = 4096;

/** GET {JICOFO_ORIG}/about/health: 200 healthy, 503 soft down, anything else down. */
export function collectJicofoHealth(
  probe: HttpProbe,
  jicofoOrigin: string,
  settings: UpstreamSettings,
): Promise<ProbeResult> {
  return probe({ url: `${jicofoOrigin}/about/health`, ...settings, keepBytes: HEALTH_BODY_KEPT });
}

/** jicofo answers 404 here when `jicofo.health.enabled` is not true. */
export const HEALTH_404_HINT =
  'jicofo answered 404 on /about/health: set jicofo.health.enabled=true in jicofo.conf to enable its health checks';
