// Ready / Reconciling / Stalled (kstatus conventions) derived from the phase and the decision.
import type { Decision, Phase } from '../decide/types.ts';
import type { Condition, ConditionType } from '../model.ts';

const settled: readonly Phase[] = ['Stable', 'RolledBack', 'Suspended', 'Failed'];
const serving: readonly Phase[] = ['Running', 'Stable', 'Suspended'];

function condition(
  type: ConditionType,
  status: boolean,
  reason: string,
  message: string,
  generation: number,
): Omit<Condition, 'lastTransitionTime'> {
  return {
    type,
    status: status ? 'True' : 'False',
    reason,
    message: message.slice(0, 32_000),
    observedGeneration: generation,
  };
}

/** The three conditions; lastTransitionTime moves only when a condition's status changes. */
export function conditionsFor(
  phase: Phase,
  decision: Decision,
  generation: number,
  previous: readonly Condition[] | undefined,
  nowIso: string,
): Condition[] {
  const stalled = decision.stalled;
  const wanted = [
    condition(
      'Ready',
      serving.includes(phase) && stalled === undefined,
      serving.includes(phase) ? phase : decision.reason,
      decision.message,
      generation,
    ),
    condition(
      'Reconciling',
      !settled.includes(phase) && stalled === undefined,
      decision.reason,
      decision.message,
      generation,
    ),
    condition('Stalled', stalled !== undefined, stalled?.reason ?? 'NotStalled', stalled?.message ?? '', generation),
  ];
  return wanted.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: before?.status === c.status ? before.lastTransitionTime : nowIso };
  });
}
