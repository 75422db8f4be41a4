import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Poller } from '../../src/collect/poller';
import type { Source } from '../../src/collect/sources';
import type { SourceName } from '../../src/decide/samples';

/** A source that answers at once and notes when it was asked. */
function source(name: SourceName, asked: number[], now: () => number): Source {
  return {
    name,
    collect: () => {
      asked.push(now());
      return Promise.resolve({ found: true, contents: 'ready', error: null, modifiedAt: 0 });
    },
    succeeded: () => true,
  };
}

/** The poller on mocked timers and a clock moved with them, 100 ms at a time. */
void describe('poller on a reload', () => {
  let clock = 0;
  const now = (): number => clock;
  /** Lets a finished round be recorded (promises), as the event loop would between timers. */
  const settle = (): Promise<void> => new Promise((done) => setImmediate(done));
  const advance = async (ms: number): Promise<void> => {
    for (let step = 0; step < ms; step += 100) {
      clock += 100;
      mock.timers.tick(100);
      await settle();
    }
  };
  beforeEach(() => {
    clock = 0;
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  const start = (asked: number[], intervalMs: number) => {
    const poller = new Poller([source('statusFile', asked, now)], intervalMs, {
      now,
      record: () => undefined,
      probed: () => undefined,
      failed: () => undefined,
    });
    poller.start();
    return poller;
  };

  void it('a shorter interval takes effect from the round that last started', async () => {
    const asked: number[] = [];
    const poller = start(asked, 60_000);
    await advance(30_000);
    poller.setInterval(1000);
    mock.timers.tick(0);
    await advance(2000);
    // 0, then on the new schedule from 0: the first moment not past is 30 s, then every second.
    assert.deepEqual(asked, [0, 30_000, 31_000, 32_000]);
    poller.stop();
  });

  void it('a longer interval pushes the next round out to one new interval after the last', async () => {
    const asked: number[] = [];
    const poller = start(asked, 1000);
    await advance(2500);
    poller.setInterval(10_000);
    await advance(9000);
    assert.deepEqual(asked, [0, 1000, 2000]);
    await advance(1000);
    assert.deepEqual(asked, [0, 1000, 2000, 12_000]);
    poller.stop();
  });

  void it('new sources are polled from the next round on', async () => {
    const old: number[] = [];
    const added: number[] = [];
    const poller = start(old, 1000);
    poller.setSources([source('jicofoHealth', added, now)]);
    await advance(1000);
    assert.deepEqual(old, [0]);
    assert.deepEqual(added, [1000]);
    poller.stop();
  });
});
