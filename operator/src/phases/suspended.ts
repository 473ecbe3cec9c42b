import { applyAction, enter, startOperation, stay, type Ctx } from '../decide/context.ts';
import { deploymentHash } from '../decide/spec-diff.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { reconciledJson } from './steady.ts';

/** Nothing runs; status keeps the savepoint a resume restores. */
export function suspended(ctx: Ctx): Decision {
  if (ctx.observed.workloads.present) {
    return stay(ctx, 'RemovingWorkloads', 'suspended: removing leftover workloads', {
      actions: [{ kind: 'deleteWorkloads' }],
    });
  }
  if (ctx.spec.state === 'running') {
    const snapshot = ctx.status.savepoints?.last?.path ?? ctx.spec.initialSavepoint;
    return enter(ctx, Phase.Deploying, 'Resuming', `resuming from ${snapshot ?? 'empty state'}`, {
      deadlineSeconds: ctx.spec.upgrade.deployTimeoutSeconds,
      actions: [applyAction(ctx.spec, snapshot)],
      patch: {
        lastReconciledSpec: reconciledJson(ctx),
        deployedSpecHash: deploymentHash(ctx.spec),
        operations: startOperation(ctx, 'resume', 'spec.state=running', snapshot),
      },
    });
  }
  return stay(ctx, 'Suspended', 'suspended', { requeueAfterMs: ctx.tuning.settledResyncMs });
}
