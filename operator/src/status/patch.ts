import type { StreamApplicationStatus } from '../model.ts';

/** Applies a decision's status patch: listed fields are replaced, fields set to undefined are removed. */
export function applyStatusPatch(
  status: StreamApplicationStatus,
  patch: Partial<StreamApplicationStatus>,
): StreamApplicationStatus {
  const next: StreamApplicationStatus & Record<string, unknown> = { ...status };
  for (const [key, value] of Object.entries(patch) as [string, unknown][]) {
    if (value === undefined) Reflect.deleteProperty(next, key);
    else next[key] = value;
  }
  return next;
}
