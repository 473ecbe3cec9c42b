import {
  applyAction,
  backoffMs,
  currentOperation,
  enter,
  pastDeadline,
  phaseStartedMs,
  stay,
  type Ctx,
} from '../decide/context.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { deployedSpec } from './steady.ts';

/** Consecutive recoveries that did not bring the job back before the current one. */
function failedRecoveries(ctx: Ctx): number {
  let n = 0;
  const ops = ctx.status.operations ?? [];
  for (let i = 1; i < ops.length; i++) {
    const op = ops[i];
    if (op?.type !== 'recover' || op.outcome !== 'Failed') break;
    n++;
  }
  return n;
}

/** The job failed: remove it, wait out the backoff, then redeploy from the latest checkpoint. */
export function restarting(ctx: Ctx): Decision {
  const w = ctx.observed.workloads;
  if (w.present)
    return stay(ctx, 'StoppingFailedJob', 'removing the failed job', { actions: [{ kind: 'deleteWorkloads' }] });
  if (w.podsRemaining > 0) {
    return stay(ctx, 'WaitingForOldVersion', `waiting for ${w.podsRemaining} pod(s) to stop`, {
      ...(pastDeadline(ctx)
        ? {
            stalled: {
              reason: 'OldVersionStillRunning',
              message: `${w.podsRemaining} pod(s) of the failed job do not terminate. Way out: find why (kubectl describe pod); force-delete them only if their node is gone`,
            },
          }
        : {}),
    });
  }
  const attempts = failedRecoveries(ctx);
  const waitMs = attempts === 0 ? 0 : phaseStartedMs(ctx) + backoffMs(ctx.tuning, attempts) - ctx.now;
  if (waitMs > 0) {
    return stay(ctx, 'RecoveryBackoff', `redeploying in ${Math.ceil(waitMs / 1000)}s (attempt ${attempts + 1})`, {
      requeueAfterMs: waitMs,
    });
  }
  const snapshot = currentOperation(ctx.status)?.snapshot;
  return enter(ctx, Phase.Deploying, 'Recovering', `redeploying from ${snapshot ?? 'empty state'}`, {
    deadlineSeconds: ctx.spec.upgrade.deployTimeoutSeconds,
    actions: [applyAction(deployedSpec(ctx.status) ?? ctx.spec, snapshot)],
  });
}
