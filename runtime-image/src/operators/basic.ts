import { keyGroupOf } from '../core/key-groups.ts';
import type { Operator, Output, Rec } from '../runtime/operator.ts';

export function mapOperator(fn: (v: unknown) => unknown): Operator {
  return {
    processBatch(batch: Rec[], out: Output) {
      return out.emit(batch.map((r) => ({ value: fn(r.value), ts: r.ts, key: r.key, kg: r.kg })));
    },
  };
}

export function filterOperator(fn: (v: unknown) => boolean): Operator {
  return {
    processBatch(batch: Rec[], out: Output) {
      const next: Rec[] = [];
      for (const r of batch) if (fn(r.value)) next.push(r);
      return next.length > 0 ? out.emit(next) : undefined;
    },
  };
}

export function flatMapOperator(fn: (v: unknown) => Iterable<unknown>): Operator {
  return {
    processBatch(batch: Rec[], out: Output) {
      const next: Rec[] = [];
      for (const r of batch) for (const v of fn(r.value)) next.push({ value: v, ts: r.ts, key: r.key, kg: r.kg });
      return next.length > 0 ? out.emit(next) : undefined;
    },
  };
}

/** Routes each record to the first route whose predicate holds; the rest go to the main output. */
export function branchOperator(
  routes: readonly { readonly name: string; readonly when: (v: unknown) => boolean }[],
): Operator {
  return {
    async processBatch(batch: Rec[], out: Output) {
      const buckets: Rec[][] = routes.map(() => []);
      const rest: Rec[] = [];
      for (const r of batch) {
        const i = routes.findIndex((route) => route.when(r.value));
        (buckets[i] ?? rest).push(r);
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
export function keyByOperator(fn: (v: unknown) => string | number, maxParallelism: number): Operator {
  return {
    processBatch(batch: Rec[], out: Output) {
      return out.emit(
        batch.map((r) => {
          const k: unknown = fn(r.value);
          if (typeof k !== 'string' && typeof k !== 'number') {
            throw new TypeError(`keyBy returned ${k === null ? 'null' : typeof k}; a key must be a string or a number`);
          }
          const key = typeof k === 'string' ? k : String(k);
          return { value: r.value, ts: r.ts, key, kg: keyGroupOf(key, maxParallelism) };
        }),
      );
    },
  };
}
