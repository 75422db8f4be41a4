import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config';
import { decideAfterPoll } from '../../src/decide/decide';
import { FRESH_MEMORY, type FlapMemory } from '../../src/decide/flap';
import { createLogger } from '../../src/runtime/logger';
import { createMetrics } from '../../src/serve/metrics/metrics';
import type { Rendered } from '../../src/decide/state';
import { watchTransitions } from '../../src/react/transitions';
import { samples, statsWith, type Node } from '../helpers/samples';

/** Feeds polls through the real decision core into the listener and returns the log lines it wrote. */
function logLines(env: Record<string, string>, polls: Node[]): Record<string, unknown>[] {
  const { config } = loadConfig({ HEALTH_DAMPENING_INTERVAL: '0', DRAIN_GRACE_INTERVAL: '0', ...env });
  assert.ok(config);
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const listener = watchTransitions(() => config, createLogger('info', stream), createMetrics(), () => undefined);
  let memory: FlapMemory = FRESH_MEMORY;
  let previous: Rendered | null = null;
  polls.forEach((node, i) => {
    const polled = samples(node);
    const decision = decideAfterPoll(polled, memory, Date.UTC(2026, 0, 1) + i * 5000, config);
    memory = decision.memory;
    const rendered: Rendered = { decision, healthy: decision.report.healthy, reportBody: '', agentLine: Buffer.from(decision.agentLine), censusBody: Buffer.alloc(0) };
    listener(previous, rendered, polled);
    previous = rendered;
  });
  return lines;
}

describe('transition log lines', () => {
  it('a steady failure logs once', () => {
    const lines = logLines({}, [{}, { jicofo: 500 }, { jicofo: 500 }, { jicofo: 500 }]);
    assert.deepEqual(lines.map((line) => line.message), ['first poll complete', 'signal node state changed']);
  });

  it('a new status code while down is news, logged once', () => {
    const lines = logLines({}, [{}, { jicofo: 500 }, { jicofo: 502 }, { jicofo: 502 }]);
    assert.deepEqual(lines.map((line) => line.message), ['first poll complete', 'signal node state changed', 'signal node reasons changed']);
    assert.deepEqual(lines[2]?.reasons, ['jicofo health 502']);
  });

  it('a participant count moving above the maximum is not news', () => {
    const lines = logLines({ PARTICIPANT_MAX: '10' }, [{}, { statsBody: statsWith(21) }, { statsBody: statsWith(22) }, { statsBody: statsWith(25) }]);
    assert.deepEqual(lines.map((line) => line.message), ['first poll complete']);
  });
});
