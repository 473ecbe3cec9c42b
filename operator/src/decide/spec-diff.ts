import { createHash } from 'node:crypto';
import type { StreamApplicationSpec } from '../model.ts';

// How much of the running deployment a spec change disturbs; combined by max.
export const DiffKind = { ignore: 0, scale: 1, upgrade: 2, redeploy: 3 } as const;
export type DiffKind = keyof typeof DiffKind;

// Top-level (or dotted) spec fields → what a change to them requires. The most specific entry wins.
// Operator-only settings (timeouts, history, nonces handled elsewhere) never touch the workloads.
const fieldKinds: readonly (readonly [string, DiffKind])[] = [
  ['image', 'upgrade'],
  ['imagePullPolicy', 'upgrade'],
  ['pipeline', 'upgrade'],
  ['entrypoint', 'upgrade'],
  ['config', 'upgrade'],
  ['coordinator', 'upgrade'],
  ['workers', 'upgrade'],
  ['kafka', 'upgrade'],
  ['restartNonce', 'upgrade'],
  ['parallelism', 'scale'],
  ['maxParallelism', 'redeploy'],
  ['checkpoints.storage', 'redeploy'],
  ['checkpoints', 'upgrade'],
  ['upgrade', 'ignore'],
  ['rollback', 'ignore'],
  ['savepoints', 'ignore'],
  ['state', 'ignore'],
  ['initialSavepoint', 'ignore'],
  ['allowNonRestoredState', 'ignore'],
];

function kindOf(path: string): DiffKind {
  let best: readonly [string, DiffKind] | undefined;
  for (const entry of fieldKinds) {
    const [field] = entry;
    if ((path === field || path.startsWith(`${field}.`)) && (best === undefined || field.length > best[0].length)) {
      best = entry;
    }
  }
  // An unknown field is treated as needing an upgrade: safe rather than silently ignored.
  return best?.[1] ?? 'upgrade';
}

function changedPaths(a: unknown, b: unknown, prefix: string, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      changedPaths(a[key], b[key], prefix === '' ? key : `${prefix}.${key}`, out);
    }
    return;
  }
  if (canonicalJson(a) !== canonicalJson(b)) out.push(prefix);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface SpecDiff {
  kind: DiffKind;
  fields: string[];
}

/** Classifies the change from the deployed spec to the desired one. */
export function diffSpecs(deployed: StreamApplicationSpec, desired: StreamApplicationSpec): SpecDiff {
  const fields: string[] = [];
  changedPaths(deployed, desired, '', fields);
  let kind: DiffKind = 'ignore';
  for (const f of fields) {
    const k = kindOf(f);
    if (DiffKind[k] > DiffKind[kind]) kind = k;
  }
  return { kind, fields };
}

/** JSON with sorted keys, so equal specs serialise equally whatever the key order. */
export function canonicalJson(v: unknown): string {
  const out: string | undefined = JSON.stringify(v, (_key, value: unknown) =>
    isPlainObject(value)
      ? Object.fromEntries(
          Object.keys(value)
            .sort()
            .map((k) => [k, value[k]]),
        )
      : value,
  );
  // JSON.stringify(undefined) is undefined at runtime, whatever its declared type.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  return out ?? 'undefined';
}

// Specs are never mutated (a new generation is a new object), so a spec's hash is computed once.
const hashes = new WeakMap<StreamApplicationSpec, string>();

/** Hash of the fields that shape the workloads: two specs with one hash deploy identically. */
export function deploymentHash(spec: StreamApplicationSpec): string {
  let hash = hashes.get(spec);
  if (hash === undefined) {
    hash = computeDeploymentHash(spec);
    hashes.set(spec, hash);
  }
  return hash;
}

function computeDeploymentHash(spec: StreamApplicationSpec): string {
  const relevant: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec)) {
    if (kindOf(key) !== 'ignore' || key === 'checkpoints') relevant[key] = value;
  }
  return createHash('sha256').update(canonicalJson(relevant)).digest('hex').slice(0, 16);
}

/**
 * What a pre-flight compatibility verdict is for: the deployment plus allowNonRestoredState, which
 * changes the verdict without changing the workloads (setting it is a way out of IncompatibleState).
 */
export function compatibilityCheckHash(spec: StreamApplicationSpec): string {
  const base = deploymentHash(spec);
  if (!spec.allowNonRestoredState) return base;
  return createHash('sha256').update(`${base}+allowNonRestoredState`).digest('hex').slice(0, 16);
}
