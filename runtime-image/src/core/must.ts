/** For lookups the code's own invariants guarantee: fails loudly instead of asserting with `!`. */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal invariant broken: ${what} is missing`);
  return value;
}
