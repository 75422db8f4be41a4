import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullCollection } from '../../src/runtime/idle-trim';
import { YOUNG_GENERATION_BYTES, growthFactor, sizedOnCommandLine } from '../../src/runtime/young-generation';
import { shippedLaunch } from '../helpers/daemon';

const MiB = 1024 * 1024;

void describe('memory without the unit flags', () => {
  void it('lets the young generation double until it reaches the size --max-semi-space-size=2 gives, then holds it', () => {
    assert.equal(YOUNG_GENERATION_BYTES, 4 * MiB);
    assert.equal(growthFactor(1 * MiB), 2);
    assert.equal(growthFactor(2 * MiB), 2);
    assert.equal(growthFactor(4 * MiB), 1);
    assert.equal(growthFactor(32 * MiB), 1);
    assert.equal(growthFactor(8 * MiB, 16 * MiB), 2);
  });

  void it("leaves a young generation sized on node's command line (the unit's, or an operator's) alone", () => {
    assert.equal(sizedOnCommandLine(shippedLaunch().nodeFlags, undefined), true);
    assert.equal(sizedOnCommandLine([], '--max-old-space-size=64 --max-semi-space-size=8'), true);
    assert.equal(sizedOnCommandLine(['--max_semi_space_size=8'], undefined), true);
    assert.equal(sizedOnCommandLine([], undefined), false);
    assert.equal(sizedOnCommandLine(['--expose-gc'], '--max-old-space-size=64'), false);
  });

  void it('finds a full collection without --expose-gc, and leaves the global as it was', () => {
    const global: { gc?: NodeJS.GCFunction } = {};
    const gc = fullCollection(global);
    assert.equal(typeof gc, 'function');
    assert.equal(global.gc, undefined);
    gc();
    const own = (): void => undefined;
    assert.equal(fullCollection({ gc: own as NodeJS.GCFunction }), own);
  });
});
