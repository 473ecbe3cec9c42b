import {
  applyAction,
  closeOperation,
  currentOperation,
  enter,
  pastDeadline,
  stay,
  type Ctx,
} from '../decide/context.ts';
import { deploymentHash } from '../decide/spec-diff.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { reconciledJson } from './steady.ts';

/** Removes the old version and waits until its last pod is gone, so two versions never write at once. */
export function cancelling(ctx: Ctx): Decision {
  const w = ctx.observed.workloads;
  if (w.present || w.podsRemaining > 0) {
    const stalled = pastDeadline(ctx)
      ? {
          reason: 'OldVersionStillRunning',
          message: `${w.podsRemaining} pod(s) of the old version still exist after ${ctx.spec.upgrade.cancelTimeoutSeconds}s. Way out: find why they do not terminate (kubectl describe pod); force-delete them only if their node is gone`,
        }
      : undefined;
    return stay(ctx, 'WaitingForOldVersion', `waiting for the old version to stop (${w.podsRemaining} pod(s) left)`, {
      actions: w.present ? [{ kind: 'deleteWorkloads' }] : [],
      ...(stalled === undefined ? {} : { stalled }),
    });
  }
  const op = currentOperation(ctx.status);
  if (op?.type === 'suspend') {
    return enter(
      ctx,
      Phase.Suspended,
      'Suspended',
      `suspended; state kept in ${op.snapshot ?? ctx.status.savepoints?.last?.path ?? 'no snapshot'}`,
      {
        patch: { job: undefined, operations: closeOperation(ctx, ctx.status.operations ?? [], 'Succeeded') },
      },
    );
  }
  return enter(
    ctx,
    Phase.Upgrading,
    'Upgrading',
    `deploying the new spec${op?.snapshot === undefined ? ' from empty state' : ` from ${op.snapshot}`}`,
    {
      deadlineSeconds: ctx.spec.upgrade.deployTimeoutSeconds,
      actions: [applyAction(ctx.spec, op?.snapshot)],
      patch: { lastReconciledSpec: reconciledJson(ctx), deployedSpecHash: deploymentHash(ctx.spec), job: undefined },
    },
  );
}
