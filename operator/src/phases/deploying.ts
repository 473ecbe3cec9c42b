import {
  applyAction,
  closeOperation,
  currentOperation,
  enter,
  jobFailed,
  pastDeadline,
  runtimeStatus,
  startOperation,
  stay,
  type Ctx,
} from '../decide/context.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { deployedSpec, enterRestarting, enterRollingBack, rollbackEligible, specChanged } from './steady.ts';

/**
 * Waits until the deployed version's job runs. Shared by Deploying (first deploy, resume, recovery)
 * and Upgrading (a new spec restoring the upgrade snapshot).
 */
export function awaitJob(ctx: Ctx, onTimeoutOrFailure: (why: string) => Decision): Decision {
  const deployed = deployedSpec(ctx.status) ?? ctx.spec;
  const op = currentOperation(ctx.status);
  const w = ctx.observed.workloads;
  if (!w.present || w.specHash !== ctx.status.deployedSpecHash) {
    return stay(ctx, 'Applying', 'applying the workloads', {
      actions: [applyAction(deployed, op?.snapshot)],
      patch: runtimeStatus(ctx),
    });
  }
  const job = ctx.observed.runtime?.job;
  if (job?.state === 'RUNNING') {
    return enter(
      ctx,
      Phase.Running,
      'JobRunning',
      `job running${op?.snapshot === undefined ? '' : `, restored from ${op.snapshot}`}`,
      {
        deadlineSeconds: ctx.spec.rollback.readinessTimeoutSeconds,
        patch: { ...runtimeStatus(ctx), operations: closeOperation(ctx, ctx.status.operations ?? [], 'Succeeded') },
      },
    );
  }
  if (jobFailed(ctx)) return onTimeoutOrFailure(`job failed: ${job?.failure ?? 'unknown cause'}`);
  if (pastDeadline(ctx)) return onTimeoutOrFailure(`job not running within ${ctx.spec.upgrade.deployTimeoutSeconds}s`);
  return stay(ctx, 'WaitingForJob', `waiting for the job to run (now ${job?.state ?? 'unreachable'})`, {
    patch: runtimeStatus(ctx),
  });
}

export function enterFailed(ctx: Ctx, why: string): Decision {
  return enter(ctx, Phase.Failed, 'Failed', why, {
    patch: { ...runtimeStatus(ctx), operations: closeOperation(ctx, ctx.status.operations ?? [], 'Failed', why) },
    warning: true,
  });
}

export function deploying(ctx: Ctx): Decision {
  // A spec fixed while the job never came up: replace the version that is not running.
  if (specChanged(ctx) && ctx.observed.runtime?.job.state !== 'RUNNING') {
    const snapshot = currentOperation(ctx.status)?.snapshot;
    return enter(ctx, Phase.Cancelling, 'SpecChanged', 'spec changed before the job ran: replacing it', {
      deadlineSeconds: ctx.spec.upgrade.cancelTimeoutSeconds,
      actions: [{ kind: 'deleteWorkloads' }],
      patch: { operations: startOperation(ctx, 'upgrade', 'spec change', snapshot) },
    });
  }
  return awaitJob(ctx, (why) => {
    const op = currentOperation(ctx.status);
    // A first deploy that never ran has nothing to recover to; a recovery or resume retries with backoff.
    if (op?.type === 'deploy' || ctx.observed.runtime?.job.state !== 'FAILED') return enterFailed(ctx, why);
    return enterRestarting(ctx, why);
  });
}

export function upgrading(ctx: Ctx): Decision {
  return awaitJob(ctx, (why) => (rollbackEligible(ctx) ? enterRollingBack(ctx, why) : enterFailed(ctx, why)));
}
