import {
  backoffMs,
  closeOperation,
  currentOperation,
  enter,
  latestSnapshot,
  parseSpec,
  recordSavepoint,
  runtimeStatus,
  savepointAttemptId,
  savepointsSincePhaseStart,
  stay,
  updateOperation,
  type Ctx,
} from '../decide/context.ts';
import { deploymentHash } from '../decide/spec-diff.ts';
import { Phase, type Decision } from '../decide/types.ts';
import type { SavepointTrigger } from '../model.ts';
import { pendingSavepointOutcome } from './savepoint-timeout.ts';
import { specChanged } from './steady.ts';

/**
 * Stop-with-savepoint for an upgrade, rescale or restart (Savepointing) or a suspend (Suspending).
 * A failed attempt leaves the old version running; attempts are retried with backoff and, after
 * a few, the app reports Stalled with the way out.
 */
export function savepointing(ctx: Ctx): Decision {
  const suspend = ctx.phase === Phase.Suspending;
  const op = currentOperation(ctx.status);
  const trigger: SavepointTrigger = suspend ? 'suspend' : op?.type === 'rescale' ? 'rescale' : 'upgrade';
  const pending = ctx.status.pendingSavepoint;
  const failures = savepointsSincePhaseStart(ctx, trigger).filter((r) => r.result === 'Failed');
  const stalledAfter = ctx.tuning.stallAfterFailures;
  const wayOut = suspend
    ? 'Way out: fix the job so it can take a savepoint, or set spec.state=running to cancel the suspend'
    : 'Way out: fix the job so it can take a savepoint, revert the spec, or set spec.upgrade.mode=last-state to upgrade from the latest checkpoint';

  if (pending === undefined) {
    const withdrawn = suspend ? ctx.spec.state === 'running' : !specChanged(ctx);
    if (withdrawn) {
      const stableSpec = parseSpec(ctx.status.lastStableSpec);
      const backTo =
        stableSpec !== undefined && deploymentHash(stableSpec) === ctx.status.deployedSpecHash
          ? Phase.Stable
          : Phase.Running;
      return enter(
        ctx,
        backTo,
        'Withdrawn',
        `${suspend ? 'suspend' : 'spec change'} withdrawn; the running version stays`,
        {
          deadlineSeconds: backTo === Phase.Running ? ctx.spec.rollback.readinessTimeoutSeconds : undefined,
          patch: {
            ...runtimeStatus(ctx),
            operations: closeOperation(ctx, ctx.status.operations ?? [], 'Failed', 'withdrawn'),
          },
        },
      );
    }
    if (!suspend && ctx.spec.upgrade.mode !== 'savepoint') {
      const snapshot = ctx.spec.upgrade.mode === 'last-state' ? latestSnapshot(ctx) : undefined;
      return enter(
        ctx,
        Phase.Cancelling,
        'Cancelling',
        `upgrade mode ${ctx.spec.upgrade.mode}: stopping the old version without a savepoint`,
        {
          deadlineSeconds: ctx.spec.upgrade.cancelTimeoutSeconds,
          actions: [{ kind: 'deleteWorkloads' }],
          patch: {
            ...runtimeStatus(ctx),
            operations: updateOperation(ctx.status.operations ?? [], snapshot === undefined ? {} : { snapshot }),
          },
        },
      );
    }
    const lastFailure = failures[0];
    const waitMs =
      lastFailure === undefined ? 0 : Date.parse(lastFailure.time) + backoffMs(ctx.tuning, failures.length) - ctx.now;
    const stalled =
      failures.length >= stalledAfter
        ? {
            reason: 'SavepointFailing',
            message: `${failures.length} savepoint attempts failed, last: ${lastFailure?.message ?? 'unknown'}. ${wayOut}`,
          }
        : undefined;
    if (waitMs > 0) {
      return stay(ctx, 'SavepointBackoff', `retrying the savepoint in ${Math.ceil(waitMs / 1000)}s`, {
        patch: runtimeStatus(ctx),
        requeueAfterMs: waitMs,
        ...(stalled === undefined ? {} : { stalled }),
      });
    }
    const id = savepointAttemptId(ctx, trigger, failures.length);
    return stay(ctx, 'SavepointTriggered', `savepoint attempt ${failures.length + 1}`, {
      actions: [{ kind: 'triggerSavepoint', id, stop: true, trigger }],
      patch: { ...runtimeStatus(ctx), pendingSavepoint: { triggerId: id, trigger, startedAt: ctx.nowIso } },
      ...(stalled === undefined ? {} : { stalled }),
    });
  }

  const timeoutSeconds = ctx.spec.upgrade.savepointTimeoutSeconds;
  const outcome = pendingSavepointOutcome(ctx, Date.parse(pending.startedAt) + timeoutSeconds * 1000, timeoutSeconds);
  if (outcome.kind === 'completed') {
    const { savepoints, dispose } = recordSavepoint(ctx, {
      path: outcome.path,
      time: ctx.nowIso,
      trigger,
      result: 'Succeeded',
    });
    return enter(
      ctx,
      Phase.Cancelling,
      'SavepointCompleted',
      `savepoint ${outcome.path} taken; stopping the old version`,
      {
        deadlineSeconds: ctx.spec.upgrade.cancelTimeoutSeconds,
        actions: [{ kind: 'deleteWorkloads' }, ...dispose],
        patch: {
          ...runtimeStatus(ctx),
          savepoints,
          pendingSavepoint: undefined,
          operations: updateOperation(ctx.status.operations ?? [], { snapshot: outcome.path }),
        },
      },
    );
  }
  if (outcome.kind === 'cancelling') {
    // Kept pending: if it completes before the cancel lands, the job has stopped and the upgrade goes on.
    return stay(ctx, 'SavepointTimedOut', outcome.message, {
      actions: outcome.actions,
      patch: runtimeStatus(ctx),
      warning: true,
    });
  }
  if (outcome.kind === 'failed') {
    const { message } = outcome;
    const { savepoints } = recordSavepoint(ctx, { path: '', time: ctx.nowIso, trigger, result: 'Failed', message });
    const count = failures.length + 1;
    return stay(ctx, 'SavepointFailed', `savepoint failed (${message}); the old version keeps running`, {
      actions: outcome.actions,
      patch: { ...runtimeStatus(ctx), savepoints, pendingSavepoint: undefined },
      warning: true,
      requeueAfterMs: backoffMs(ctx.tuning, count),
      ...(count >= stalledAfter
        ? {
            stalled: {
              reason: 'SavepointFailing',
              message: `${count} savepoint attempts failed, last: ${message}. ${wayOut}`,
            },
          }
        : {}),
    });
  }
  return stay(ctx, 'SavepointInProgress', `waiting for savepoint ${pending.triggerId}`, {
    actions: outcome.actions,
    patch: runtimeStatus(ctx),
  });
}
