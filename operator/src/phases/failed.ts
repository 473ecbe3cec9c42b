import { currentOperation, enter, latestSnapshot, startOperation, stay, type Ctx } from '../decide/context.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { specChanged } from './steady.ts';

/** Nothing more will work without the user: wait for a spec change (restartNonce counts). */
export function failed(ctx: Ctx): Decision {
  const op = currentOperation(ctx.status);
  if (specChanged(ctx)) {
    const snapshot = op?.snapshot ?? latestSnapshot(ctx);
    return enter(ctx, Phase.Cancelling, 'SpecChanged', 'spec changed: replacing the failed version', {
      deadlineSeconds: ctx.spec.upgrade.cancelTimeoutSeconds,
      actions: [{ kind: 'deleteWorkloads' }],
      patch: { operations: startOperation(ctx, 'upgrade', 'spec change', snapshot) },
    });
  }
  const why = op?.message ?? 'failed';
  return stay(ctx, 'Failed', why, {
    stalled: { reason: 'Failed', message: `${why}. Way out: fix the spec, or bump spec.restartNonce to retry` },
    requeueAfterMs: ctx.tuning.settledResyncMs,
  });
}
