// A work queue of object keys (namespace/name), after controller-runtime's: adding a queued key
// is a no-op (the earlier due time wins), a key is never handed to two workers at once (adds
// during processing re-run it afterwards), and failures back off per key by their kind (errors.ts).
import { retryDelayMs } from '../errors.ts';

export interface WorkResult {
  /** Look again after this delay even without a change. */
  requeueAfterMs?: number;
}

export type WorkHandler = (key: string) => Promise<WorkResult>;

export interface WorkQueueOptions {
  concurrency: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Told about every failure, with the delay until the retry. */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  readonly #opts: WorkQueueOptions;
  readonly #handler: WorkHandler;
  readonly #timers = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  readonly #ready: string[] = [];
  readonly #readySet = new Set<string>();
  readonly #active = new Map<string, Promise<void>>();
  /** Keys added while being processed → the smallest delay asked for. */
  readonly #rerun = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  #stopped = false;

  constructor(handler: WorkHandler, opts: WorkQueueOptions) {
    if (opts.concurrency < 1) throw new Error(`work queue concurrency must be ≥ 1, got ${opts.concurrency}`);
    this.#handler = handler;
    this.#opts = opts;
  }

  /** Schedules `key` after `delayMs` (0 = now). De-duplicates: the earliest due time wins. */
  add(key: string, delayMs = 0): void {
    if (this.#stopped) return;
    if (this.#active.has(key)) {
      const prev = this.#rerun.get(key);
      this.#rerun.set(key, prev === undefined ? delayMs : Math.min(prev, delayMs));
      return;
    }
    if (this.#readySet.has(key)) return;
    const due = Date.now() + Math.max(0, delayMs);
    const waiting = this.#timers.get(key);
    if (waiting !== undefined) {
      if (waiting.due <= due) return;
      clearTimeout(waiting.timer);
      this.#timers.delete(key);
    }
    if (delayMs <= 0) {
      this.#makeReady(key);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.#makeReady(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { due, timer });
  }

  /** Forgets a key entirely (its object is gone). */
  forget(key: string): void {
    const waiting = this.#timers.get(key);
    if (waiting !== undefined) clearTimeout(waiting.timer);
    this.#timers.delete(key);
    this.#failures.delete(key);
    this.#rerun.delete(key);
    if (this.#readySet.delete(key)) this.#ready.splice(this.#ready.indexOf(key), 1);
  }

  get depth(): number {
    return this.#ready.length + this.#timers.size;
  }

  get activeCount(): number {
    return this.#active.size;
  }

  /** Stops handing out keys and waits for the reconciles in flight. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#ready.length = 0;
    this.#readySet.clear();
    await Promise.all(this.#active.values());
  }

  #makeReady(key: string): void {
    if (this.#stopped || this.#readySet.has(key)) return;
    this.#ready.push(key);
    this.#readySet.add(key);
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#active.size < this.#opts.concurrency) {
      const index = this.#ready.findIndex((k) => !this.#active.has(k));
      if (index < 0) return;
      const [key] = this.#ready.splice(index, 1);
      if (key === undefined) return;
      this.#readySet.delete(key);
      this.#active.set(key, this.#process(key));
    }
  }

  async #process(key: string): Promise<void> {
    let next: number | undefined;
    try {
      const result = await this.#handler(key);
      this.#failures.delete(key);
      next = result.requeueAfterMs;
    } catch (err) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      next = retryDelayMs(err, failures, this.#opts.backoffBaseMs, this.#opts.backoffMaxMs);
      this.#opts.onError?.(key, err, next);
    } finally {
      this.#active.delete(key);
    }
    const rerun = this.#rerun.get(key);
    this.#rerun.delete(key);
    if (rerun !== undefined) this.add(key, rerun);
    if (next !== undefined) this.add(key, next);
    this.#pump();
  }
}
