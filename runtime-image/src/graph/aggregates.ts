/** Incremental aggregation: accumulators must survive JSON (they are window state). */
export interface AggregateFunction<IN, ACC, OUT> {
  create(): ACC;
  add(acc: ACC, value: IN): ACC;
  /** Needed by session windows, whose sessions merge. */
  merge?(a: ACC, b: ACC): ACC;
  result(acc: ACC): OUT;
}

export function count<IN>(): AggregateFunction<IN, number, number> {
  return { create: () => 0, add: (a) => a + 1, merge: (a, b) => a + b, result: (a) => a };
}

export function sum<IN>(select: (v: IN) => number): AggregateFunction<IN, number, number> {
  return { create: () => 0, add: (a, v) => a + select(v), merge: (a, b) => a + b, result: (a) => a };
}

export function min<IN>(select: (v: IN) => number): AggregateFunction<IN, number | null, number | null> {
  return {
    create: () => null,
    add: (a, v) => (a === null ? select(v) : Math.min(a, select(v))),
    merge: (a, b) => (a === null ? b : b === null ? a : Math.min(a, b)),
    result: (a) => a,
  };
}

export function max<IN>(select: (v: IN) => number): AggregateFunction<IN, number | null, number | null> {
  return {
    create: () => null,
    add: (a, v) => (a === null ? select(v) : Math.max(a, select(v))),
    merge: (a, b) => (a === null ? b : b === null ? a : Math.max(a, b)),
    result: (a) => a,
  };
}

export function avg<IN>(select: (v: IN) => number): AggregateFunction<IN, [number, number], number | null> {
  return {
    create: () => [0, 0],
    add: (a, v) => [a[0] + select(v), a[1] + 1],
    merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
    result: (a) => (a[1] === 0 ? null : a[0] / a[1]),
  };
}

/** Reduce: the accumulator is the reduced value itself (null before the first one). */
export function reduce<T>(fn: (a: T, b: T) => T): AggregateFunction<T, T | null, T | null> {
  return {
    create: () => null,
    add: (a, v) => (a === null ? v : fn(a, v)),
    merge: (a, b) => (a === null ? b : b === null ? a : fn(a, b)),
    result: (a) => a,
  };
}

/** Several named aggregations over the same window: the result is an object with one field each. */
export function composite<IN>(
  parts: Readonly<Record<string, AggregateFunction<IN, unknown, unknown>>>,
): AggregateFunction<IN, unknown[], Record<string, unknown>> {
  const entries = Object.entries(parts);
  const mergeable = entries.every(([, f]) => f.merge !== undefined);
  return {
    create: () => entries.map(([, f]) => f.create()),
    add: (acc, v) => {
      entries.forEach(([, f], i) => (acc[i] = f.add(acc[i], v)));
      return acc;
    },
    ...(mergeable
      ? {
          merge: (a: unknown[], b: unknown[]) =>
            entries.map(([, f], i) => (f.merge as (x: unknown, y: unknown) => unknown)(a[i], b[i])),
        }
      : {}),
    result: (acc) => Object.fromEntries(entries.map(([name, f], i) => [name, f.result(acc[i])])),
  };
}
