import { REPLIES, type FakeSignalNode } from '../../src/demo/fake-signal-node';
import type { ConsulAgent } from '../../test/helpers/consul';
import { sleep } from '../../test/helpers/daemon';
import { randomPhases } from '../scenarios';
import { POLL_MS, agentUntil, type UnderTest } from './sidecars';

/**
 * jicofo fails (500) at a random phase of the poll loop: how long until the
 * report in Consul says `"healthy":false`, from the fault and from the
 * moment the sidecar's own verdict changed (its agent line says down).
 */

export interface ReportTrial {
  /** The fault until the report in Consul said unhealthy (ms; Infinity: not within the limit). */
  readonly faultToReportMs: number;
  /** The agent line saying down until the report in Consul said so. */
  readonly verdictToReportMs: number;
}

/** Blocking queries fit the test helper's 5 s deadline with Consul's jitter (wait/16) to spare. */
const WAIT = '4s';

/**
 * performance.now() when the value of `key` is a report whose `healthy` is
 * `healthy`, read with blocking queries so a write shows at once; Infinity
 * after `limitMs` from `since`.
 */
async function reportUntil(consul: ConsulAgent, key: string, healthy: boolean, since: number, limitMs: number): Promise<number> {
  let index = 0;
  while (performance.now() - since < limitMs) {
    const query = index > 0 ? `?raw&index=${index}&wait=${WAIT}` : '?raw';
    const answer = await consul.request('GET', `/v1/kv/${key}${query}`).catch(() => undefined);
    if (answer === undefined) {
      await sleep(100);
      continue;
    }
    if (answer.status === 200) {
      try {
        if ((JSON.parse(answer.body) as { healthy?: unknown }).healthy === healthy) return performance.now();
      } catch {
        // Not a report (yet): wait for the next write.
      }
    }
    // An index that goes back is a Consul that started again: read from the start.
    index = answer.index >= index ? answer.index : 0;
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * `trials` faults, each at a random phase of the poll interval after the
 * sidecar was seen healthy on its agent line and in Consul. `limitMs`
 * bounds each wait (a sidecar that publishes only every minute needs more).
 */
export async function failureToReport(consul: ConsulAgent, node: FakeSignalNode, sidecar: UnderTest, trials: number, limitMs: number, log: (line: string) => void): Promise<ReportTrial[]> {
  const results: ReportTrial[] = [];
  try {
    for (const offset of randomPhases(trials, POLL_MS)) {
      const settled = performance.now();
      await agentUntil(sidecar, (line) => line.startsWith('up '), settled, limitMs);
      await reportUntil(consul, sidecar.reportKey, true, settled, limitMs);
      await sleep(offset);
      node.set('jicofoHealth', REPLIES.jicofoHardDown());
      const faultAt = performance.now();
      const [downAt, reportedAt] = await Promise.all([
        agentUntil(sidecar, (line) => line.startsWith('down '), faultAt, limitMs),
        reportUntil(consul, sidecar.reportKey, false, faultAt, limitMs),
      ]);
      node.set('jicofoHealth', REPLIES.jicofoHealthy());
      results.push({ faultToReportMs: reportedAt - faultAt, verdictToReportMs: reportedAt - downAt });
      log(`  ${sidecar.side}: jicofo 500 ${results.length}: agent down after ${(downAt - faultAt).toFixed(0)} ms, report in Consul after ${(reportedAt - faultAt).toFixed(0)} ms`);
    }
  } finally {
    node.set('jicofoHealth', REPLIES.jicofoHealthy());
  }
  return results;
}
