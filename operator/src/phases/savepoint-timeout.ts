// What a pending savepoint has come to, for the phases that wait on one (Savepointing,
// Suspending, the steady phases' manual/periodic savepoints, Deleting). A savepoint past its
// timeout is cancelled in the runtime before the operator gives up on it: otherwise the runtime
// keeps working on it, and a late stop-with-savepoint would stop the job after the operator had
// decided that the old version keeps running.
import type { Ctx } from '../decide/context.ts';
import type { Action } from '../decide/types.ts';

export type PendingSavepointOutcome =
  /** Completed, in time or not: a completed stop-with-savepoint has stopped the job, so it counts. */
  | { kind: 'completed'; path: string }
  | { kind: 'failed'; message: string; actions: Action[] }
  /** Not done yet; `actions` asks again for a savepoint the runtime does not know. */
  | { kind: 'waiting'; actions: Action[] }
  /** Past its timeout and still running: the runtime is asked to abort it; it stays pending until it answers. */
  | { kind: 'cancelling'; message: string; actions: Action[] };

/** Passes, past the timeout, that the runtime gets to confirm a cancel before the operator gives up on it. */
export const CANCEL_GRACE_POLLS = 5;

/**
 * @param timeoutAtMs when the savepoint times out
 * @param timeoutSeconds the configured timeout, for messages
 */
export function pendingSavepointOutcome(
  ctx: Ctx,
  timeoutAtMs: number,
  timeoutSeconds: number,
): PendingSavepointOutcome {
  const pending = ctx.status.pendingSavepoint;
  if (pending === undefined) throw new Error('pendingSavepointOutcome: no status.pendingSavepoint');
  const sp = ctx.observed.savepoint;
  const timedOut = `timed out after ${timeoutSeconds}s`;
  if (sp?.state === 'COMPLETED') {
    if (sp.path !== undefined && sp.path !== '') return { kind: 'completed', path: sp.path };
    return { kind: 'failed', message: 'the runtime reported it completed without a path', actions: [] };
  }
  if (sp?.state === 'FAILED') return { kind: 'failed', message: sp.error ?? 'failed', actions: [] };
  // Only the operator cancels, and only past the timeout.
  if (sp?.state === 'CANCELED')
    return { kind: 'failed', message: `${timedOut}; cancelled in the runtime`, actions: [] };
  if (ctx.now <= timeoutAtMs) {
    const again: Action[] =
      ctx.observed.savepointUnknown === true
        ? [
            {
              kind: 'triggerSavepoint',
              id: pending.triggerId,
              stop: pending.trigger !== 'manual' && pending.trigger !== 'periodic',
              trigger: pending.trigger,
            },
          ]
        : [];
    return { kind: 'waiting', actions: again };
  }
  const cancel: Action[] = [{ kind: 'cancelSavepoint', id: pending.triggerId }];
  // Not answering at all (pods gone, runtime down): nothing to wait for; one last cancel on the way out.
  if (sp === undefined) return { kind: 'failed', message: `${timedOut}; the runtime did not answer`, actions: cancel };
  if (ctx.now <= timeoutAtMs + CANCEL_GRACE_POLLS * ctx.tuning.pollMs) {
    return {
      kind: 'cancelling',
      message: `savepoint ${pending.triggerId} ${timedOut}; cancelling it`,
      actions: cancel,
    };
  }
  return { kind: 'failed', message: `${timedOut}; the runtime did not confirm the cancel`, actions: cancel };
}
