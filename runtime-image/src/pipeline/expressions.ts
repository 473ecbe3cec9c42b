import { Environment, type ParseError } from '@marcbachmann/cel-js';

/**
 * Expressions in YAML pipelines are CEL: safe (no I/O, always terminates), parsed once and
 * evaluated per record with the record bound to `e`. CEL numbers from JSON are doubles, so write
 * `e.amount * 2.0`; integer results come back as JavaScript numbers.
 */
const env = new Environment({
  unlistedVariablesAreDyn: true,
  homogeneousAggregateLiterals: false,
  limits: { maxAstNodes: 2000, maxDepth: 64 },
});

export type Expression = (e: unknown) => unknown;

/** Parses a CEL expression; throws an Error whose message says where it fails. */
export function compileExpression(source: string): Expression {
  let evaluate: (ctx: Record<string, unknown>) => unknown;
  try {
    evaluate = env.parse(source);
  } catch (err) {
    const message = (err as ParseError).message.split('\n')[0] ?? 'invalid expression';
    throw new Error(`invalid CEL expression '${source}': ${message}`, { cause: err });
  }
  return (e) => fromCel(evaluate({ e }));
}

/** CEL ints are bigints and maps may be Maps: turn results into plain JSON-friendly values. */
export function fromCel(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(fromCel);
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), fromCel(x)]));
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromCel(x)]));
  }
  return v;
}

export function asBoolean(expr: Expression, source: string): (e: unknown) => boolean {
  return (e) => {
    const v = expr(e);
    if (typeof v !== 'boolean') throw new TypeError(`CEL expression '${source}' must give a bool, gave ${typeof v}`);
    return v;
  };
}

export function asNumber(expr: Expression, source: string): (e: unknown) => number {
  return (e) => {
    const v = expr(e);
    if (typeof v !== 'number') throw new TypeError(`CEL expression '${source}' must give a number, gave ${typeof v}`);
    return v;
  };
}
