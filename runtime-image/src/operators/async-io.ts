import { setTimeout as delay } from 'node:timers/promises';
import type { Operator, OperatorContext, Output, Rec } from '../runtime/operator.ts';

export interface AsyncIoOptions {
  /** Calls in flight at most; when full the operator stops taking input, which backpressures the source. */
  readonly capacity: number;
  readonly timeoutMs: number;
  /** Emit results in input order (default) or as they complete. */
  readonly ordered?: boolean | undefined;
  /** Attempts after the first; the wait doubles from backoffMs up to maxBackoffMs. */
  readonly retries?: number | undefined;
  readonly backoffMs?: number | undefined;
  readonly maxBackoffMs?: number | undefined;
  /** Calls started per second at most. */
  readonly ratePerSecond?: number | undefined;
  /** After the last retry: fail the job (default) or emit `{ value, error }` to the `errors` port. */
  readonly onError?: 'fail' | 'side' | undefined;
}

export function validateAsyncIoOptions(o: AsyncIoOptions): void {
  if (!Number.isInteger(o.capacity) || o.capacity < 1)
    throw new RangeError(`asyncIo.capacity must be an integer >= 1, got ${o.capacity}`);
  if (!(o.timeoutMs > 0)) throw new RangeError(`asyncIo.timeoutMs must be > 0, got ${o.timeoutMs}`);
  if (o.retries !== undefined && !(Number.isInteger(o.retries) && o.retries >= 0)) {
    throw new RangeError(`asyncIo.retries must be an integer >= 0, got ${o.retries}`);
  }
  if (o.ratePerSecond !== undefined && !(o.ratePerSecond > 0)) {
    throw new RangeError(`asyncIo.ratePerSecond must be > 0, got ${o.ratePerSecond}`);
  }
}

/** The wait before retry `attempt` (1-based): exponential, capped. */
export function backoffDelay(attempt: number, backoffMs: number, maxBackoffMs: number): number {
  return Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
}

/** Token bucket: how long to wait before the next call may start (0 = now). Pure given `now`. */
export class RateLimit {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;
  constructor(ratePerSecond: number, now: number) {
    this.#perMs = ratePerSecond / 1000;
    this.#burst = Math.max(1, ratePerSecond / 10);
    this.#tokens = 1;
    this.#at = now;
  }
  /** Takes a token if one is available and returns 0, else the ms until one will be. */
  tryAcquire(now: number): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.#tokens) / this.#perMs);
  }
}

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

interface Entry {
  readonly rec: Rec;
  done: boolean;
  result?: unknown;
  error?: unknown;
}

export function asyncIoOperator(
  fn: (v: unknown, signal: AbortSignal) => Promise<unknown>,
  options: AsyncIoOptions,
): Operator {
  validateAsyncIoOptions(options);
  const ordered = options.ordered ?? true;
  const retries = options.retries ?? 0;
  const backoffMs = options.backoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  let ctx!: OperatorContext;
  let rate: RateLimit | undefined;
  let queue: Entry[] = [];
  let inFlight = 0;
  const cancel = new AbortController();
  let wake: (() => void) | undefined;

  const callOnce = async (v: unknown): Promise<unknown> => {
    const ac = new AbortController();
    const onCancel = (): void => {
      ac.abort(cancel.signal.reason);
    };
    cancel.signal.addEventListener('abort', onCancel, { once: true });
    const timer = setTimeout(() => {
      ac.abort(new TimeoutError(`async call timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    try {
      return await Promise.race([
        fn(v, ac.signal),
        new Promise<never>((_, reject) => {
          ac.signal.addEventListener('abort', () => {
            reject(ac.signal.reason as Error);
          });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      cancel.signal.removeEventListener('abort', onCancel);
    }
  };

  const run = async (e: Entry): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        e.result = await callOnce(e.rec.value);
        break;
      } catch (err) {
        if (attempt >= retries || cancel.signal.aborted) {
          e.error = err;
          break;
        }
        await delay(backoffDelay(attempt + 1, backoffMs, maxBackoffMs));
      }
    }
    e.done = true;
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };

  const completion = (): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
    });

  const flush = (out: Output): Promise<void> | undefined => {
    const ready: Entry[] = [];
    if (ordered) {
      const firstPending = queue.findIndex((e) => !e.done);
      const n = firstPending === -1 ? queue.length : firstPending;
      ready.push(...queue.slice(0, n));
      if (n > 0) queue = queue.slice(n);
    } else {
      const rest: Entry[] = [];
      for (const e of queue) (e.done ? ready : rest).push(e);
      queue = rest;
    }
    if (ready.length === 0) return undefined;
    const results: Rec[] = [];
    const errors: Rec[] = [];
    for (const e of ready) {
      if (e.error !== undefined) {
        if (options.onError !== 'side') {
          throw new Error(`async I/O operator '${ctx.operatorId}' failed after ${retries + 1} attempts`, {
            cause: e.error,
          });
        }
        errors.push({
          ...e.rec,
          value: { value: e.rec.value, error: e.error instanceof Error ? e.error.message : JSON.stringify(e.error) },
        });
      } else if (e.result !== undefined && e.result !== null) {
        results.push({ ...e.rec, value: e.result });
      }
    }
    return (async () => {
      if (results.length > 0) await out.emit(results);
      if (errors.length > 0) await out.emitTo('errors', errors);
    })();
  };

  const drain = async (out: Output): Promise<void> => {
    while (inFlight > 0) {
      await completion();
      await flush(out);
    }
    await flush(out);
  };

  return {
    open(c) {
      ctx = c;
      if (options.ratePerSecond !== undefined) rate = new RateLimit(options.ratePerSecond, c.now());
    },
    async processBatch(batch: Rec[], out: Output) {
      for (const rec of batch) {
        while (inFlight >= options.capacity) {
          await completion();
          await flush(out);
        }
        if (rate !== undefined) {
          for (let wait = rate.tryAcquire(ctx.now()); wait > 0; wait = rate.tryAcquire(ctx.now())) await delay(wait);
        }
        const e: Entry = { rec, done: false };
        queue.push(e);
        inFlight++;
        void run(e);
      }
      await flush(out);
    },
    onTick(out) {
      return flush(out);
    },
    async drain(out) {
      const had = queue.length > 0;
      await drain(out);
      return had;
    },
    outputWatermark(input: number) {
      let min = input;
      for (const e of queue) if (e.rec.ts - 1 < min) min = e.rec.ts - 1;
      return min;
    },
    async onCheckpoint(_epoch, out) {
      // In-flight calls finish before the barrier passes, so the snapshot holds no pending calls.
      await drain(out);
      return undefined;
    },
    async close(mode, out) {
      if (mode === 'cancel') {
        cancel.abort(new Error('job cancelled'));
        return;
      }
      await drain(out);
    },
  };
}
