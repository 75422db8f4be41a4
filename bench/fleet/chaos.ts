import { REPLIES } from '../../src/demo/fake-signal-node';
import { sleep } from '../../test/helpers/daemon';
import type { FaultKind } from './ledger';
import type { FleetShard } from './shard';

/**
 * The chaos schedule: every fault the issue names, one at a time, each on its
 * own shard (round robin), each healed and given time to recover before the
 * next. Durations follow the sidecars' settings, so the same schedule works
 * with the defaults (full run) and with short intervals (BENCH_QUICK=1).
 */

export interface Timing {
  /** The sidecars' POLLING_INTERVAL, HEALTH_DAMPENING_INTERVAL, DRAIN_GRACE_INTERVAL and PROBE_TIMEOUT, in ms. */
  readonly pollMs: number;
  readonly dampeningMs: number;
  readonly graceMs: number;
  readonly probeTimeoutMs: number;
  /** How long a plain fault is held. */
  readonly holdMs: number;
}

export interface Fault {
  readonly name: string;
  readonly kind: FaultKind;
  /** What HAProxy should show for the shard while the fault lasts (null: no change). */
  readonly expect: 'DRAIN' | 'DOWN' | null;
  /**
   * The longest a correct sidecar may take to make that verdict visible in its
   * agent line (HAProxy's agent-inter comes on top); null when nothing should change.
   */
  readonly detectionBoundMs: number | null;
  /** Injects the fault, keeps it for its duration, and heals it. `heal` is the moment it ends. */
  run(shard: FleetShard, heal: () => void): Promise<void>;
}

export function schedule(timing: Timing): Fault[] {
  const { pollMs, graceMs, probeTimeoutMs, holdMs } = timing;
  /** Only the sidecar goes away and comes back; HAProxy should see nothing. */
  const sidecarFault = (name: string, act: (shard: FleetShard) => Promise<unknown>): Fault => ({
    name,
    kind: 'sidecar',
    expect: null,
    detectionBoundMs: null,
    async run(shard, heal) {
      await act(shard);
      await sleep(holdMs);
      heal();
    },
  });
  return [
    {
      name: 'operator drain, then ready',
      kind: 'drain',
      expect: 'DRAIN',
      // The status file is watched: the change reaches the agent at once.
      detectionBoundMs: 100,
      async run(shard, heal) {
        shard.setStatus('drain');
        await sleep(holdMs);
        shard.setStatus('ready');
        heal();
      },
    },
    {
      name: 'jicofo answers 500',
      kind: 'unhealthy',
      expect: 'DOWN',
      detectionBoundMs: pollMs,
      async run(shard, heal) {
        await shard.jicofo.set('jicofoHealth', REPLIES.jicofoHardDown());
        await sleep(holdMs);
        await shard.jicofo.set('jicofoHealth', REPLIES.jicofoHealthy());
        heal();
      },
    },
    {
      name: 'jicofo killed (kill -9), restarted',
      kind: 'dead',
      expect: 'DOWN',
      // Refused connections at the next poll.
      detectionBoundMs: pollMs,
      async run(shard, heal) {
        await shard.jicofo.kill('SIGKILL');
        await sleep(holdMs);
        await shard.jicofo.restart();
        heal();
      },
    },
    {
      name: 'prosody hung (SIGSTOP), then SIGCONT',
      kind: 'dead',
      expect: 'DOWN',
      // A timeout is a soft failure: drain for the grace interval, then down.
      detectionBoundMs: pollMs + probeTimeoutMs + graceMs,
      async run(shard, heal) {
        shard.prosody.signal('SIGSTOP');
        await sleep(pollMs + probeTimeoutMs + graceMs + holdMs);
        shard.prosody.signal('SIGCONT');
        heal();
      },
    },
    {
      name: 'participants above PARTICIPANT_MAX',
      kind: 'drain',
      expect: 'DRAIN',
      detectionBoundMs: pollMs,
      async run(shard, heal) {
        await shard.jicofo.set('jicofoStats', REPLIES.statsWith(5200));
        await sleep(holdMs);
        await shard.jicofo.set('jicofoStats', REPLIES.stats());
        heal();
      },
    },
    sidecarFault('sidecar restarted (SIGTERM)', (shard) => shard.sidecar.restart()),
    sidecarFault('sidecar killed (kill -9), restarted by systemd', (shard) => shard.sidecar.crash()),
    {
      name: 'jicofo flaps (500, then 200 / 500 every 1.5 s)',
      kind: 'unhealthy',
      expect: 'DOWN',
      // The first 500 lasts a poll, so it is seen within one interval; the
      // flapping after it is what dampening must hold down.
      detectionBoundMs: pollMs,
      async run(shard, heal) {
        await shard.jicofo.set('jicofoHealth', REPLIES.jicofoHardDown());
        await sleep(pollMs + 500);
        const until = Date.now() + Math.max(holdMs, 4 * pollMs);
        let broken = true;
        while (Date.now() < until) {
          broken = !broken;
          await shard.jicofo.set('jicofoHealth', broken ? REPLIES.jicofoHardDown() : REPLIES.jicofoHealthy());
          await sleep(1500);
        }
        await shard.jicofo.set('jicofoHealth', REPLIES.jicofoHealthy());
        heal();
      },
    },
  ];
}
