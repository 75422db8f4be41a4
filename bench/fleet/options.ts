import { resolve } from 'node:path';
import { EXAMPLE } from '../../test/e2e/example-config';
import type { ClientModel } from './crowd';
import { defaultSidecarCommand, parseSidecarCommand, type SidecarCommand } from './sidecar-process';

/**
 * `npm run bench:fleet` options. --shards N (6), --participants N (1000),
 * --haproxies N (2, sharing the stick table through a peers section),
 * --mixed-versions (HAProxy 1 is Debian 13's 3.0, the others Debian 12's 2.6),
 * --clients websocket|bosh|mixed (mixed), --weight-participants (the sidecars
 * weight by participants, PARTICIPANT_MAX twice a shard's share of them),
 * --sidecar-cmd "command" (any sidecar that reads the original's environment
 * variables), --sidecar-env NAME=value (repeatable), --haproxy-cfg FILE
 * (another HAProxy configuration to fill in the same way, e.g. an older
 * example), --consul (one real Consul for the fleet: the operator drains
 * through it, the sidecars publish their census, and the split check of
 * `signal-sidecar fleet` is scored against the bench's ledger), --out FILE (bench/results/fleet.json), --seed N.
 * BENCH_QUICK=1: short sidecar intervals and fault durations, every fault.
 */

export interface Options {
  readonly shards: number;
  readonly participants: number;
  readonly haproxies: number;
  readonly mixedVersions: boolean;
  readonly consul: boolean;
  readonly clients: ClientModel;
  readonly launch: SidecarCommand;
  readonly sidecarCommand: string;
  readonly sidecarEnv: Record<string, string>;
  readonly haproxyConfig: string;
  readonly out: string;
  readonly seed: number;
  readonly quick: boolean;
}

const CLIENTS: readonly ClientModel[] = ['websocket', 'bosh', 'mixed'];

function number(name: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} ${String(text)}: expected a whole number from ${min} to ${max}`);
  return value;
}

export function options(argv: readonly string[], defaultOut: string): Options {
  const quick = process.env.BENCH_QUICK === '1';
  const settings = { shards: 6, participants: 1000, haproxies: 2, mixedVersions: false, consul: false, clients: 'mixed' as ClientModel, seed: 7, weightParticipants: false };
  let sidecarCommand = '';
  let haproxyConfig = EXAMPLE;
  let out = defaultOut;
  // The contract's defaults for a full run; short intervals for a quick one.
  const sidecarEnv: Record<string, string> = quick
    ? { POLLING_INTERVAL: '1', HEALTH_DAMPENING_INTERVAL: '5', DRAIN_GRACE_INTERVAL: '10' }
    : { POLLING_INTERVAL: '5', HEALTH_DAMPENING_INTERVAL: '30', DRAIN_GRACE_INTERVAL: '120' };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag === '--mixed-versions') settings.mixedVersions = true;
    else if (flag === '--weight-participants') settings.weightParticipants = true;
    else if (flag === '--consul') settings.consul = true;
    else {
      const value = argv[i + 1];
      i += 1;
      if (flag === '--shards') settings.shards = number(flag, value, 2, 20);
      else if (flag === '--participants') settings.participants = number(flag, value, 10, 5000);
      else if (flag === '--haproxies') settings.haproxies = number(flag, value, 1, 4);
      else if (flag === '--seed') settings.seed = number(flag, value, 0, 2 ** 31);
      else if (flag === '--clients' && CLIENTS.includes(value as ClientModel)) settings.clients = value as ClientModel;
      else if (flag === '--sidecar-cmd' && value !== undefined) sidecarCommand = value;
      else if (flag === '--haproxy-cfg' && value !== undefined) haproxyConfig = resolve(value);
      else if (flag === '--out' && value !== undefined) out = resolve(value);
      else if (flag === '--sidecar-env' && value !== undefined && value.includes('=')) {
        sidecarEnv[value.slice(0, value.indexOf('='))] = value.slice(value.indexOf('=') + 1);
      } else throw new Error(`unknown or incomplete option ${String(flag)}; see the comment at the top of bench/fleet/options.ts`);
    }
  }
  if (settings.mixedVersions && settings.haproxies < 2) throw new Error('--mixed-versions needs --haproxies 2 or more');
  if (settings.weightParticipants) {
    sidecarEnv.WEIGHT_PARTICIPANTS = 'true';
    // Shards about half full, so that the weight moves in 5 % steps as participants come and go.
    sidecarEnv.PARTICIPANT_MAX ??= String(Math.round((2 * settings.participants) / settings.shards));
  }
  return {
    ...settings,
    launch: sidecarCommand === '' ? defaultSidecarCommand() : parseSidecarCommand(sidecarCommand),
    sidecarCommand: sidecarCommand === '' ? 'dist/app.js as the systemd unit starts it' : sidecarCommand,
    sidecarEnv,
    haproxyConfig,
    out,
    quick,
  };
}
