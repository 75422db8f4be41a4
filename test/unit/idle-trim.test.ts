import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TRIM_SETTINGS, settleStep, shouldTrim } from '../../src/runtime/idle-trim';
import { ROOT, shippedLaunch } from '../helpers/daemon';

const MiB = 1024 * 1024;

void describe('heap trim after a busy spell', () => {
  const floor = 12 * MiB;
  const slack = TRIM_SETTINGS.slackBytes;

  void it('collects on a quiet second once the heap has grown past the slack', () => {
    assert.equal(shouldTrim({ committedBytes: floor + slack + 1, utilization: 0.01 }, floor), true);
    assert.equal(shouldTrim({ committedBytes: 40 * MiB, utilization: 0 }, floor), true);
  });

  void it('counts a loop kept busy by polling every 0.1 s (12 to 26 % measured) as quiet', () => {
    assert.equal(shouldTrim({ committedBytes: 40 * MiB, utilization: 0.2 }, floor), true);
  });

  void it('never collects while the loop is busy, however large the heap', () => {
    assert.equal(shouldTrim({ committedBytes: 200 * MiB, utilization: TRIM_SETTINGS.quietUtilization }, floor), false);
    assert.equal(shouldTrim({ committedBytes: 200 * MiB, utilization: 0.9 }, floor), false);
  });

  void it('leaves a heap within the slack of its floor alone', () => {
    assert.equal(shouldTrim({ committedBytes: floor + slack, utilization: 0 }, floor), false);
    assert.equal(shouldTrim({ committedBytes: floor, utilization: 0 }, floor), false);
    assert.equal(shouldTrim({ committedBytes: floor - MiB, utilization: 0 }, floor), false);
  });

  void it('collects once more after settleSeconds quiet seconds in a row after a busy second or a trim, and only then', () => {
    const settings = { ...TRIM_SETTINGS, settleSeconds: 3 };
    assert.deepEqual(settleStep(null, true, settings), { remaining: null, collect: false }, 'quiet all along: nothing to settle');
    assert.deepEqual(settleStep(null, false, settings), { remaining: 3, collect: false }, 'a busy second arms it');
    let remaining: number | null = settings.settleSeconds;
    const seen: boolean[] = [];
    for (const quiet of [true, true, false, true, true, true, true]) {
      const step = settleStep(remaining, quiet, settings);
      remaining = step.remaining;
      seen.push(step.collect);
    }
    assert.deepEqual(seen, [false, false, false, false, false, true, false], 'a busy second starts the count again');
  });

  void it('follows the settings it is given', () => {
    const settings = { ...TRIM_SETTINGS, slackBytes: MiB, quietUtilization: 0.5 };
    assert.equal(shouldTrim({ committedBytes: floor + 2 * MiB, utilization: 0.4 }, floor, settings), true);
    assert.equal(shouldTrim({ committedBytes: floor + 2 * MiB, utilization: 0.6 }, floor, settings), false);
  });
});

void describe('the shipped launch', () => {
  void it('reads node flags and environment from the systemd unit', () => {
    const launch = shippedLaunch();
    assert.deepEqual(launch.nodeFlags, ['--max-semi-space-size=2', '--expose-gc']);
    assert.deepEqual(launch.env, { MALLOC_ARENA_MAX: '1' });
  });

  void it('is the same in npm start', () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const launch = shippedLaunch();
    const environment = Object.entries(launch.env).map(([name, value]) => `${name}=${value}`);
    assert.equal(scripts.start, [...environment, 'node', ...launch.nodeFlags, 'dist/app.js'].join(' '));
  });
});
