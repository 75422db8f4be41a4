import { REPLIES } from '../../src/demo/fake-signal-node';
import { sleep } from '../../test/helpers/daemon';
import type { Fault, Timing } from './fault';
import { fleetFaults } from './fleet-faults';
import type { FaultKind } from './ledger';
import type { FleetShard } from './shard';

/**
 * The chaos schedule: every fault the issue names, one at a time, each on its
 * own shard (round robin), each healed and given time to recover before the
 * next. Durations follow the sidecars' settings, so the same schedule works
 * with the defaults (full run) and with short intervals (BENCH_QUICK=1).
 */

export type { Fault, Timing } from './fault';

type Act = (shard: FleetShard) => unknown;

/** A fault that is injected, held, and undone. */
function held(name: string, kind: FaultKind, expect: Fault['expect'], detectionBoundMs: number | null, inject: Act, undo: Act, holdMs: number): Fault {
  return {
    name,
    kind,
    expect,
    onShard: true,
    detectionBoundMs,
    async run({ shard }, heal) {
      await inject(shard);
      await sleep(holdMs);
      await undo(shard);
      heal();
    },
  };
}

export function schedule(timing: Timing): Fault[] {
  const { pollMs, graceMs, probeTimeoutMs, holdMs } = timing;
  const nothing: Act = () => undefined;
  return [
    // The status file is watched: the change reaches the agent at once.
    held('operator drain, then ready', 'drain', 'DRAIN', 100, (shard) => shard.setStatus('drain'), (shard) => shard.setStatus('ready'), holdMs),
    held(
      'jicofo answers 500',
      'unhealthy',
      'DOWN',
      pollMs,
      (shard) => shard.jicofo.set('jicofoHealth', REPLIES.jicofoHardDown()),
      (shard) => shard.jicofo.set('jicofoHealth', REPLIES.jicofoHealthy()),
      holdMs,
    ),
    // Refused connections at the next poll.
    held('jicofo killed (kill -9), restarted', 'dead', 'DOWN', pollMs, (shard) => shard.jicofo.kill('SIGKILL'), (shard) => shard.jicofo.restart(), holdMs),
    // A timeout is a soft failure: drain for the grace interval, then down.
    held(
      'prosody hung (SIGSTOP), then SIGCONT',
      'dead',
      'DOWN',
      pollMs + probeTimeoutMs + graceMs,
      (shard) => shard.prosody.signal('SIGSTOP'),
      (shard) => shard.prosody.signal('SIGCONT'),
      pollMs + probeTimeoutMs + graceMs + holdMs,
    ),
    held(
      'participants above PARTICIPANT_MAX',
      'drain',
      'DRAIN',
      pollMs,
      (shard) => shard.reportParticipants(shard.participantMax + 200),
      (shard) => shard.reportParticipants(null),
      holdMs,
    ),
    // Only the sidecar goes away and comes back; HAProxy should see nothing.
    held('sidecar restarted (SIGTERM)', 'sidecar', null, null, (shard) => shard.sidecar.restart(), nothing, holdMs),
    held('sidecar killed (kill -9), restarted by systemd', 'sidecar', null, null, (shard) => shard.sidecar.crash(), nothing, holdMs),
    {
      name: 'jicofo flaps (500, then 200 / 500 every 1.5 s)',
      kind: 'unhealthy',
      onShard: true,
      expect: 'DOWN',
      // The first 500 lasts a poll, so it is seen within one interval; the
      // flapping after it is what dampening must hold down.
      detectionBoundMs: pollMs,
      async run({ shard }, heal) {
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
    ...fleetFaults(timing),
  ];
}
