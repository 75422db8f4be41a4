import type { HttpProbe, ProbeResult } from './http-probe';
import type { UpstreamSettings } from './jicofo-health';

/**
 * GET {PROSODY_ORIG}/http-bind: 200 healthy; a timeout is soft down (prosody
 * is alive but busy), anything else is down. A stock jitsi-meet prosody serves
 * BOSH only for its VirtualHost, hence the optional Host header. Only the
 * answer counts, so none of the body is kept.
 */
export function collectProsody(
  probe: HttpProbe,
  prosodyOrigin: string,
  prosodyHost: string | undefined,
  settings: UpstreamSettings,
): Promise<ProbeResult> {
  return probe({ url: `${prosodyOrigin}/http-bind`, host: prosodyHost, ...settings, keepBytes: 0 });
}
