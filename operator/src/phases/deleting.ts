import {
  closeOperation,
  enter,
  jobRunning,
  recordSavepoint,
  runtimeStatus,
  startOperation,
  stay,
  type Ctx,
} from '../decide/context.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { pendingSavepointOutcome } from './savepoint-timeout.ts';

export function enterDeleting(ctx: Ctx): Decision {
  const withSavepoint = ctx.spec.savepoints.onDelete && jobRunning(ctx);
  const id = `delete-g${ctx.generation}-${ctx.now}-0`;
  return enter(ctx, Phase.Deleting, 'Deleting', withSavepoint ? 'deleting: taking a final savepoint' : 'deleting', {
    deadlineSeconds: ctx.spec.savepoints.onDeleteTimeoutSeconds,
    actions: withSavepoint
      ? [{ kind: 'triggerSavepoint', id, stop: true, trigger: 'delete' }]
      : [{ kind: 'deleteWorkloads' }],
    patch: {
      ...runtimeStatus(ctx),
      operations: startOperation(ctx, 'delete', 'deletionTimestamp'),
      pendingSavepoint: withSavepoint ? { triggerId: id, trigger: 'delete', startedAt: ctx.nowIso } : undefined,
    },
  });
}

/** Final savepoint (bounded by onDeleteTimeoutSeconds), remove the workloads, release the finalizer. */
export function deleting(ctx: Ctx): Decision {
  const started = Date.parse(ctx.status.phaseStartedAt ?? ctx.nowIso);
  const pastTimeout = ctx.now - started > ctx.spec.savepoints.onDeleteTimeoutSeconds * 1000;
  const pending = ctx.status.pendingSavepoint;
  if (pending !== undefined) {
    const timeoutSeconds = ctx.spec.savepoints.onDeleteTimeoutSeconds;
    const outcome = pendingSavepointOutcome(ctx, started + timeoutSeconds * 1000, timeoutSeconds);
    if (outcome.kind === 'waiting') {
      return stay(ctx, 'FinalSavepoint', 'waiting for the final savepoint', { actions: outcome.actions });
    }
    if (outcome.kind === 'cancelling') {
      return stay(ctx, 'FinalSavepointTimedOut', outcome.message, { actions: outcome.actions, warning: true });
    }
    const ok = outcome.kind === 'completed';
    const { savepoints } = recordSavepoint(ctx, {
      path: ok ? outcome.path : '',
      time: ctx.nowIso,
      trigger: 'delete',
      result: ok ? 'Succeeded' : 'Failed',
      ...(ok ? {} : { message: outcome.message }),
    });
    return stay(
      ctx,
      ok ? 'FinalSavepointTaken' : 'FinalSavepointFailed',
      ok ? `final savepoint ${outcome.path}` : `final savepoint skipped: ${outcome.message}`,
      {
        // Cancel (when given up on) before the workloads go, so a late savepoint cannot half-write.
        actions: [...(ok ? [] : outcome.actions), { kind: 'deleteWorkloads' }],
        patch: { ...runtimeStatus(ctx), savepoints, pendingSavepoint: undefined },
        // The app and its status are about to go: an Event keeps the path for a re-creation (initialSavepoint).
        event: true,
        ...(ok ? {} : { warning: true }),
      },
    );
  }
  const w = ctx.observed.workloads;
  // Pods are waited for only within the timeout: deletion never hangs forever.
  if (w.present || (w.podsRemaining > 0 && !pastTimeout)) {
    return stay(ctx, 'RemovingWorkloads', 'removing the workloads', {
      actions: w.present ? [{ kind: 'deleteWorkloads' }] : [],
    });
  }
  return stay(ctx, 'Deleted', 'workloads removed; releasing the finalizer', {
    actions: [{ kind: 'removeFinalizer' }],
    patch: { operations: closeOperation(ctx, ctx.status.operations ?? [], 'Succeeded') },
    requeueAfterMs: undefined,
  });
}
