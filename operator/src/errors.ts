// What a failed reconcile means for its retry. Every error the operator meets falls in one of three
// kinds; the work queue backs off by kind rather than treating a conflict, a flaky network and a
// refusal that will never change alike.
//  - conflict:  someone else wrote first (HTTP 409): read again and retry at once, without escalating.
//  - transient: the API server or a runtime is busy or unreachable (429, 5xx, network, timeouts):
//               exponential backoff.
//  - terminal:  the request itself is refused (other 4xx: forbidden, invalid): retrying soon cannot
//               help, so wait the longest backoff (a spec edit or a fixed RBAC re-queues the app anyway).
import { ApiException } from '@kubernetes/client-node';

export type FailureKind = 'conflict' | 'transient' | 'terminal';

/** The operator's own errors carry an HTTP-like status from whatever answered (runtime, API server). */
export class OperatorError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status: number | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OperatorError';
    this.status = status;
  }
}

function statusOf(err: unknown): number | undefined {
  if (err instanceof OperatorError) return err.status;
  if (err instanceof ApiException) return err.code;
  return undefined;
}

export function failureKind(err: unknown): FailureKind {
  const status = statusOf(err);
  if (status === undefined) {
    // No answer at all (fetch's TypeError, a timeout) or a bug: both may pass; back off.
    return 'transient';
  }
  if (status === 409) return 'conflict';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return status >= 400 ? 'terminal' : 'transient';
}

/** The delay before retrying after the `failures`-th consecutive failure (1-based). */
export function retryDelayMs(err: unknown, failures: number, baseMs: number, maxMs: number): number {
  switch (failureKind(err)) {
    case 'conflict':
      return baseMs;
    case 'terminal':
      return maxMs;
    case 'transient':
      return Math.min(maxMs, baseMs * 2 ** (Math.max(1, failures) - 1));
  }
}
