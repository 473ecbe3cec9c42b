import { cancelling } from '../phases/cancelling.ts';
import { deploying, upgrading } from '../phases/deploying.ts';
import { deleting, enterDeleting } from '../phases/deleting.ts';
import { failed } from '../phases/failed.ts';
import { pending } from '../phases/pending.ts';
import { rollingBack } from '../phases/rolling-back.ts';
import { restarting } from '../phases/restarting.ts';
import { rolledBack, running, stable } from '../phases/running.ts';
import { savepointing } from '../phases/savepointing.ts';
import { compatibilityCheckMode, type CompatibilityCheckMode } from '../phases/steady.ts';
import { suspended } from '../phases/suspended.ts';
import { makeCtx, type Ctx } from './context.ts';
import { assertTransition } from './transitions.ts';
import { isPhase, Phase, type Decision, type DecideInput } from './types.ts';

const byPhase: Readonly<Record<Phase, (ctx: Ctx) => Decision>> = {
  Pending: pending,
  Deploying: deploying,
  Running: running,
  Stable: stable,
  Savepointing: savepointing,
  Suspending: savepointing,
  Cancelling: cancelling,
  Upgrading: upgrading,
  RollingBack: rollingBack,
  RolledBack: rolledBack,
  Suspended: suspended,
  Restarting: restarting,
  Failed: failed,
  Deleting: deleting,
};

export function currentPhase(phase: string | undefined): Phase {
  return isPhase(phase) ? phase : Phase.Pending;
}

/**
 * The operator's whole judgement: given the spec, the stored status and what was observed,
 * the next phase, the actions to take and the status to record. Pure; at most one phase change.
 */
export function decide(input: DecideInput): Decision {
  const from = currentPhase(input.status.phase);
  const decision = decideUnchecked(input, from);
  assertTransition(from, decision.phase);
  return decision;
}

function decideUnchecked(input: DecideInput, from: Phase): Decision {
  const { spec } = input;
  if (spec === undefined) {
    // An invalid spec deploys nothing and tears nothing down; deletion still completes.
    if (input.deleting) {
      const present = input.observed.workloads.present;
      return {
        phase: from === Phase.Deleting ? from : Phase.Deleting,
        reason: 'Deleting',
        message: 'deleting (invalid spec: no final savepoint)',
        actions: present ? [{ kind: 'deleteWorkloads' }] : [{ kind: 'removeFinalizer' }],
        patch: {},
        requeueAfterMs: input.tuning.pollMs,
      };
    }
    const errors = input.validationErrors.map((e) => `${e.path}: ${e.message}`).join('; ');
    return {
      phase: from,
      reason: 'InvalidSpec',
      message: errors,
      actions: [],
      patch: {},
      stalled: {
        reason: 'InvalidSpec',
        message: `the spec is invalid: ${errors}. Nothing was deployed or torn down; fix the spec`,
      },
      warning: true,
    };
  }
  const ctx = makeCtx({ ...input, spec }, from);
  if (input.deleting && from !== Phase.Deleting) return enterDeleting(ctx);
  return byPhase[from](ctx);
}

/**
 * Whether observe must find out if the desired spec can restore the current state, and how: by
 * asking the running runtime, or from a check Job running the new image.
 */
export function compatibilityCheckNeeded(input: DecideInput): CompatibilityCheckMode {
  if (input.spec === undefined || input.deleting) return 'none';
  return compatibilityCheckMode(makeCtx({ ...input, spec: input.spec }, currentPhase(input.status.phase)));
}
