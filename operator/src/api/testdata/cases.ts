// Loads the shared validation cases (cases.yaml) as whole objects.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface ValidationCase {
  readonly name: string;
  readonly object: Record<string, unknown>;
  /** The stored object, for an update. */
  readonly old?: Record<string, unknown>;
  readonly expect?: { readonly path: string; readonly message: string };
  readonly apiserverMessage?: string;
  /** `accepts`: the API server cannot judge this case; only the operator rejects it. */
  readonly apiserver?: 'accepts';
}

interface RawCase {
  name: string;
  patch: unknown;
  old?: unknown;
  expect?: { path: string; message: string };
  apiserverMessage?: string;
  apiserver?: 'accepts';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON merge patch (RFC 7386). */
export const mergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) result[key] = mergePatch(result[key], value);
  return Object.fromEntries(Object.entries(result).filter(([key]) => patch[key] !== null));
};

export const loadValidationCases = (): { valid: ValidationCase[]; invalid: ValidationCase[] } => {
  const file = parse(readFileSync(new URL('cases.yaml', import.meta.url), 'utf8')) as {
    base: Record<string, unknown>;
    valid: RawCase[];
    invalid: RawCase[];
  };
  const build = (c: RawCase): ValidationCase => ({
    name: c.name,
    object: mergePatch(file.base, c.patch) as Record<string, unknown>,
    ...(c.old === undefined ? {} : { old: mergePatch(file.base, c.old) as Record<string, unknown> }),
    ...(c.expect ? { expect: c.expect } : {}),
    ...(c.apiserverMessage ? { apiserverMessage: c.apiserverMessage } : {}),
    ...(c.apiserver ? { apiserver: c.apiserver } : {}),
  });
  return { valid: file.valid.map(build), invalid: file.invalid.map(build) };
};
