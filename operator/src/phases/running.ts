import {
  closeOperation,
  enter,
  pastDeadline,
  phaseStartedMs,
  runtimeStatus,
  stay,
  type Ctx,
} from '../decide/context.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { deployedSpec, enterRestarting, enterRollingBack, rollbackEligible, steadyPass } from './steady.ts';

/** Which parts of the stability gate do not hold yet; empty = stable. */
export function stabilityGaps(ctx: Ctx): string[] {
  const gate = ctx.spec.rollback.stability;
  const rt = ctx.observed.runtime;
  if (rt?.job.state !== 'RUNNING') return [`job is ${rt?.job.state ?? 'unreachable'}`];
  const started = Math.max(phaseStartedMs(ctx), rt.job.startTime === undefined ? 0 : Date.parse(rt.job.startTime));
  const gaps: string[] = [];
  if (rt.checkpoints.completedSinceStart < gate.completedCheckpoints) {
    gaps.push(`${rt.checkpoints.completedSinceStart}/${gate.completedCheckpoints} checkpoints completed`);
  }
  const advancedAt = rt.eventTime.watermarkAdvancedAt;
  if (gate.requireWatermarkProgress && (advancedAt === undefined || Date.parse(advancedAt) < started)) {
    gaps.push('watermark has not advanced');
  }
  if (rt.job.restarts > gate.maxRestarts) gaps.push(`${rt.job.restarts} restarts (max ${gate.maxRestarts})`);
  // A fixed time, not a count of seconds: a message that changed every pass would be a status write every pass.
  const stableFrom = started + gate.minStableSeconds * 1000;
  if (ctx.now < stableFrom) {
    gaps.push(`running less than ${gate.minStableSeconds}s (until ${new Date(stableFrom).toISOString()})`);
  }
  return gaps;
}

export function running(ctx: Ctx): Decision {
  const rt = ctx.observed.runtime;
  const podRestarts = ctx.observed.workloads.podRestarts ?? 0;
  if (!ctx.observed.workloads.present) return enterRestarting(ctx, 'workloads disappeared');
  if (rt !== undefined && rt.job.restarts >= ctx.tuning.crashLoopRestarts && rollbackEligible(ctx)) {
    return enterRollingBack(ctx, `crash-looping: ${rt.job.restarts} restarts`);
  }
  // The runtime does not answer and its pods keep restarting: the version crash-loops.
  if (rt === undefined && podRestarts >= ctx.tuning.crashLoopRestarts && rollbackEligible(ctx)) {
    return enterRollingBack(
      ctx,
      `crash-looping: its pods restarted ${podRestarts} times and the runtime does not answer`,
    );
  }
  return steadyPass(ctx, () => {
    const gaps = stabilityGaps(ctx);
    if (gaps.length === 0) {
      return enter(ctx, Phase.Stable, 'Stable', 'stability gate holds', {
        patch: {
          ...runtimeStatus(ctx),
          lastStableSpec: JSON.stringify(deployedSpec(ctx.status) ?? ctx.spec),
          operations: closeOperation(ctx, ctx.status.operations ?? [], 'Succeeded'),
        },
      });
    }
    if (pastDeadline(ctx) && rt === undefined) {
      // Not answering is not failing: a slow or failing control API never rolls back a job that may be healthy.
      const why = `the runtime's control API does not answer (its pods are not restarting: ${podRestarts} restarts)`;
      return stay(ctx, 'RuntimeUnreachable', why, {
        patch: runtimeStatus(ctx),
        stalled: {
          reason: 'RuntimeUnreachable',
          message: `${why}. Nothing is rolled back or stopped while it cannot be asked; check the coordinator pod`,
        },
      });
    }
    if (pastDeadline(ctx)) {
      const why = `not stable within ${ctx.spec.rollback.readinessTimeoutSeconds}s: ${gaps.join(', ')}`;
      if (rollbackEligible(ctx)) return enterRollingBack(ctx, why);
      return stay(ctx, 'NotStable', why, {
        patch: runtimeStatus(ctx),
        stalled: {
          reason: 'NotStable',
          message: `${why}. Way out: fix the job or its spec; the operator keeps it running`,
        },
      });
    }
    return stay(ctx, 'AwaitingStability', gaps.join(', '), { patch: runtimeStatus(ctx) });
  });
}

export function stable(ctx: Ctx): Decision {
  if (!ctx.observed.workloads.present) return enterRestarting(ctx, 'workloads disappeared');
  return steadyPass(ctx, () =>
    stay(ctx, 'Stable', 'running and stable', {
      patch: runtimeStatus(ctx),
      requeueAfterMs: ctx.tuning.settledResyncMs,
    }),
  );
}

export function rolledBack(ctx: Ctx): Decision {
  if (!ctx.observed.workloads.present) return enterRestarting(ctx, 'workloads disappeared');
  return steadyPass(ctx, () =>
    stay(ctx, 'RolledBack', 'running the last stable spec; change the spec to try again', {
      patch: runtimeStatus(ctx),
      requeueAfterMs: ctx.tuning.settledResyncMs,
    }),
  );
}
