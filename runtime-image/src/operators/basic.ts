import { keyGroupOf } from '../core/key-groups.ts';
import type { Operator, Output, Rec } from '../runtime/operator.ts';

/** What to do with a record whose function throws: absent, the error fails the job. */
export type RecordFailure = ((r: Rec, err: unknown) => void) | undefined;

const FAILED = Symbol('failed');

/** Runs `fn` on a record; with a failure handler a throwing record is handed to it and skipped. */
function guarded<T>(fn: (v: unknown) => T, onFailure: RecordFailure): (r: Rec) => T | typeof FAILED {
  if (onFailure === undefined) return (r) => fn(r.value);
  return (r) => {
    try {
      return fn(r.value);
    } catch (err) {
      onFailure(r, err);
      return FAILED;
    }
  };
}

export function mapOperator(fn: (v: unknown) => unknown, onFailure?: RecordFailure): Operator {
  const apply = guarded(fn, onFailure);
  return {
    processBatch(batch: Rec[], out: Output) {
      const next: Rec[] = [];
      for (const r of batch) {
        const value = apply(r);
        if (value !== FAILED) next.push({ value, ts: r.ts, key: r.key, kg: r.kg, origin: r.origin });
      }
      return next.length > 0 ? out.emit(next) : undefined;
    },
  };
}

export function filterOperator(fn: (v: unknown) => boolean, onFailure?: RecordFailure): Operator {
  const apply = guarded(fn, onFailure);
  return {
    processBatch(batch: Rec[], out: Output) {
      const next: Rec[] = [];
      for (const r of batch) if (apply(r) === true) next.push(r);
      return next.length > 0 ? out.emit(next) : undefined;
    },
  };
}

export function flatMapOperator(fn: (v: unknown) => Iterable<unknown>, onFailure?: RecordFailure): Operator {
  // Materialised inside the guard: a lazy iterable could throw after it.
  const apply = guarded((v) => [...fn(v)], onFailure);
  return {
    processBatch(batch: Rec[], out: Output) {
      const next: Rec[] = [];
      for (const r of batch) {
        const values = apply(r);
        if (values === FAILED) continue;
        for (const v of values) next.push({ value: v, ts: r.ts, key: r.key, kg: r.kg, origin: r.origin });
      }
      return next.length > 0 ? out.emit(next) : undefined;
    },
  };
}

/** Routes each record to the first route whose predicate holds; the rest go to the main output. */
export function branchOperator(
  routes: readonly { readonly name: string; readonly when: (v: unknown) => boolean }[],
  onFailure?: RecordFailure,
): Operator {
  const routeOf = guarded((v) => routes.findIndex((route) => route.when(v)), onFailure);
  return {
    async processBatch(batch: Rec[], out: Output) {
      const buckets: Rec[][] = routes.map(() => []);
      const rest: Rec[] = [];
      for (const r of batch) {
        const i = routeOf(r);
        if (i !== FAILED) (buckets[i] ?? rest).push(r);
      }
      for (const [i, route] of routes.entries()) {
        const b = buckets[i] ?? [];
        if (b.length > 0) await out.emitTo(route.name, b);
      }
      if (rest.length > 0) await out.emit(rest);
    },
  };
}

/** Keys records: the key is a string (numbers are converted) and its key group travels with it. */
export function keyByOperator(
  fn: (v: unknown) => string | number,
  maxParallelism: number,
  onFailure?: RecordFailure,
): Operator {
  const keyOf = guarded((v) => {
    const k: unknown = fn(v);
    if (typeof k !== 'string' && typeof k !== 'number') {
      throw new TypeError(`keyBy returned ${k === null ? 'null' : typeof k}; a key must be a string or a number`);
    }
    return typeof k === 'string' ? k : String(k);
  }, onFailure);
  return {
    processBatch(batch: Rec[], out: Output) {
      const next: Rec[] = [];
      for (const r of batch) {
        const key = keyOf(r);
        if (key !== FAILED)
          next.push({ value: r.value, ts: r.ts, key, kg: keyGroupOf(key, maxParallelism), origin: r.origin });
      }
      return next.length > 0 ? out.emit(next) : undefined;
    },
  };
}
