import type { Census } from '../collect/census';
import { answeredOk, type ProbeResult } from '../collect/http-probe';
import type { Samples } from './samples';
import { statusWordInForce, type StatusWord } from './status-word';

export type Status = 'ready' | 'drain' | 'maint' | 'unknown';

/** How one component answered: fine, alive but struggling, or broken. */
export type ComponentState = 'healthy' | 'soft' | 'down';

export interface DecisionSettings {
  readonly participantMax: number;
  readonly weightParticipants: boolean;
  readonly censusPoll: boolean;
  readonly healthDampeningMs: number;
  readonly drainGraceMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

/** What one poll saw, before any flap mitigation. */
export interface Observation {
  readonly jicofo: ComponentState;
  readonly prosody: ComponentState;
  readonly jicofoHealthy: boolean;
  readonly jicofoSoftDown: boolean;
  readonly prosodyHealthy: boolean;
  readonly prosodySoftDown: boolean;
  readonly statsValid: boolean;
  /** The status word in force was read (from the file, or from Consul). */
  readonly statusFileOk: boolean;
  /** That word as a status-file sample, and where it came from. */
  readonly statusWord: StatusWord;
  /** Status from the file and the participant count. */
  readonly status: Status;
  /** Null whenever jicofo is not healthy: a broken jicofo may report stale stats. */
  readonly participants: number | null;
  readonly conferences: number | null;
  readonly census: Census | null;
  /** Raw health: every condition of the contract holds. */
  readonly healthy: boolean;
  /** Not healthy, and every failing condition is a soft one (overload, not breakage). */
  readonly softFailure: boolean;
  /** Short phrases for everything that is not fine, empty when healthy and ready. */
  readonly reasons: readonly string[];
  /** The reasons that make raw health false (the rest only explain the status). */
  readonly healthReasons: readonly string[];
}

const KNOWN_WORDS = new Set(['ready', 'drain', 'maint']);

function probeProblem(what: string, result: ProbeResult | null): string | null {
  if (result === null) return `${what} not polled yet`;
  if (answeredOk(result)) return null;
  // The probe's own error text is stable from poll to poll (no measured times),
  // so a steady failure keeps one reason and logs once.
  if (result.timedOut) return `${what} ${result.error ?? 'timeout'}`;
  if (!result.reachable) return `${what} unreachable: ${result.error ?? 'no answer'}`;
  if (result.error !== null) return `${what} ${result.statusCode}: ${result.error}`;
  return `${what} ${result.statusCode}`;
}

function jicofoState(health: ProbeResult | null, statsOk: boolean): ComponentState {
  if (health !== null && answeredOk(health) && statsOk) return 'healthy';
  if (health !== null && health.statusCode === 503 && !health.timedOut) return 'soft';
  return 'down';
}

function prosodyState(result: ProbeResult | null): ComponentState {
  if (result === null) return 'down';
  if (answeredOk(result)) return 'healthy';
  return result.timedOut ? 'soft' : 'down';
}

/** Derives the contract's values from the latest samples. Pure. */
export function observe(samples: Samples, settings: DecisionSettings): Observation {
  const healthReasons: string[] = [];
  const statusReasons: string[] = [];
  const note = (reason: string | null): void => {
    if (reason !== null) healthReasons.push(reason);
  };

  const statsSample = samples.jicofoStats;
  const statsAnswered = statsSample !== null && answeredOk(statsSample.probe);
  const jicofo = jicofoState(samples.jicofoHealth, statsAnswered);
  note(probeProblem('jicofo health', samples.jicofoHealth));
  note(probeProblem('jicofo stats', statsSample?.probe ?? null));

  const parse = statsSample?.parse ?? null;
  const statsValid = parse !== null && parse.ok;
  if (parse !== null && !parse.ok) note(`jicofo ${parse.problem}`);
  const jicofoHealthy = jicofo === 'healthy';
  const stats = jicofoHealthy && parse !== null && parse.ok ? parse.value : null;

  const prosody = prosodyState(samples.prosody);
  note(probeProblem('prosody', samples.prosody));

  const inForce = statusWordInForce(samples.statusFile, samples.consulStatus);
  const { sample: file, origin } = inForce;
  const statusFileOk = file !== null && file.found;
  const word = statusFileOk ? file.contents : '';
  if (file === null) note('status file not read yet');
  else if (!file.found) note(file.error ?? 'status file missing');
  else if (word === 'unhealthy') note(`${origin} says unhealthy`);
  else if (!KNOWN_WORDS.has(word)) statusReasons.push(`${origin} word ${JSON.stringify(word)} is not ready, drain or maint`);
  else if (word !== 'ready') statusReasons.push(`${origin} says ${word}`);

  let status: Status = KNOWN_WORDS.has(word) ? (word as Status) : word === 'unhealthy' ? 'drain' : 'unknown';
  const participants = stats?.participants ?? null;
  if (participants !== null && participants > settings.participantMax && status === 'ready') {
    status = 'drain';
    statusReasons.push(`participants ${participants} > ${settings.participantMax}`);
  }

  const healthy = jicofoHealthy && prosody === 'healthy' && statusFileOk && statsValid && word !== 'unhealthy';
  // Soft means overloaded but alive: jicofo 503 and/or a prosody timeout, with
  // nothing else wrong. A hard failure anywhere makes the whole failure hard.
  const componentsSoft =
    (jicofo === 'soft' && prosody !== 'down') || (jicofo === 'healthy' && statsValid && prosody === 'soft');
  const softFailure = !healthy && componentsSoft && statusFileOk && word !== 'unhealthy';

  const censusParse = samples.census?.parse ?? null;
  const census = settings.censusPoll && censusParse !== null && censusParse.ok ? censusParse.value : null;

  return {
    jicofo,
    prosody,
    jicofoHealthy,
    jicofoSoftDown: jicofo === 'soft',
    prosodyHealthy: prosody === 'healthy',
    prosodySoftDown: prosody === 'soft',
    statsValid,
    statusFileOk,
    statusWord: inForce,
    status,
    participants,
    conferences: stats?.conferences ?? null,
    census,
    healthy,
    softFailure,
    reasons: [...healthReasons, ...statusReasons],
    healthReasons,
  };
}
