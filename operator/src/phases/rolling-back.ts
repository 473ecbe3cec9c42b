import {
  applyAction,
  closeOperation,
  currentOperation,
  enter,
  parseSpec,
  pastDeadline,
  runtimeStatus,
  stay,
  type Ctx,
} from '../decide/context.ts';
import { deploymentHash } from '../decide/spec-diff.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { enterFailed } from './deploying.ts';

/** Removes the bad version, then redeploys lastStableSpec from the exact pre-upgrade snapshot. */
export function rollingBack(ctx: Ctx): Decision {
  const stable = parseSpec(ctx.status.lastStableSpec);
  if (stable === undefined) return enterFailed(ctx, 'rollback without a last stable spec');
  const stableHash = deploymentHash(stable);
  const snapshot = currentOperation(ctx.status)?.snapshot;
  const w = ctx.observed.workloads;
  if (w.present && w.specHash !== stableHash) {
    return stay(ctx, 'StoppingBadVersion', 'stopping the failed version', { actions: [{ kind: 'deleteWorkloads' }] });
  }
  if (!w.present) {
    if (w.podsRemaining > 0) {
      return stay(ctx, 'WaitingForOldVersion', `waiting for ${w.podsRemaining} pod(s) of the failed version to stop`);
    }
    return stay(ctx, 'RedeployingStable', `redeploying the last stable spec from ${snapshot ?? 'empty state'}`, {
      actions: [applyAction(stable, snapshot)],
      patch: { deployedSpecHash: stableHash, job: undefined },
    });
  }
  if (ctx.observed.runtime?.job.state === 'RUNNING') {
    return enter(
      ctx,
      Phase.RolledBack,
      'RolledBack',
      `rolled back to the last stable spec from ${snapshot ?? 'empty state'}; change the spec to try again`,
      {
        patch: { ...runtimeStatus(ctx), operations: closeOperation(ctx, ctx.status.operations ?? [], 'Succeeded') },
        warning: true,
      },
    );
  }
  if (pastDeadline(ctx)) return enterFailed(ctx, 'rollback did not bring the last stable spec back to running');
  return stay(ctx, 'WaitingForJob', 'waiting for the rolled-back job to run', { patch: runtimeStatus(ctx) });
}
