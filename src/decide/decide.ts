import { observe, type DecisionSettings, type Observation } from './observe';
import { judge, remember, type FlapMemory } from './flap';
import { buildReport, type Report, type ReportSettings } from './report';
import type { Samples } from './samples';
import { agentLine, agentMessage, heldWeight, weightPercent } from './weight';

/** Everything the servers render, computed once per poll (or when grace or dampening ends). */
export interface Decision {
  readonly report: Report;
  /** The agent's answer, newline included: HAProxy ignores a line without it. */
  readonly agentLine: string;
  readonly observation: Observation;
  /** Raw reasons plus the flap mitigation in force, if any. */
  readonly reasons: readonly string[];
  readonly memory: FlapMemory;
  /** When this decision goes stale by time alone; null if it does not. */
  readonly reconsiderAt: number | null;
}

function conclude(
  samples: Samples,
  observation: Observation,
  memory: FlapMemory,
  now: number,
  settings: DecisionSettings & ReportSettings,
): Decision {
  const judgement = judge(observation, memory, now, settings);
  const weight = weightPercent(judgement.status, observation.participants, settings, memory.weight);
  const agentmessage = agentMessage(judgement.healthy, judgement.status, weight);
  const reasons = judgement.mitigation === null ? observation.reasons : [...observation.reasons, judgement.mitigation];
  const report = buildReport(samples, observation, { judgement, weight, agentmessage, reasons }, now, settings);
  return {
    report,
    agentLine: agentLine(agentmessage, judgement.healthy ? undefined : (observation.healthReasons[0] ?? judgement.mitigation ?? undefined)),
    observation,
    reasons,
    memory: { ...memory, weight: heldWeight(weight, settings) },
    reconsiderAt: judgement.reconsiderAt,
  };
}

/** After a poll: remember what it saw, then decide. Pure. */
export function decideAfterPoll(samples: Samples, memory: FlapMemory, now: number, settings: DecisionSettings & ReportSettings): Decision {
  const observation = observe(samples, settings);
  return conclude(samples, observation, remember(memory, observation, now, settings), now, settings);
}

/**
 * Without a new poll (grace or dampening runs out, a Consul write's outcome
 * arrives): decide again on the same memory. Pure.
 */
export function decideAgain(samples: Samples, memory: FlapMemory, now: number, settings: DecisionSettings & ReportSettings): Decision {
  return conclude(samples, observe(samples, settings), memory, now, settings);
}
