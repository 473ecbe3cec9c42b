import { canonicalJson } from '../decide/spec-diff.ts';
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

/** Status fields that change on every look at a running job. */
const LIVE_FIELDS = ['eventTime', 'checkpoints'] as const;

/**
 * Whether a pass must write `next`: anything but the live summary changed, or the summary stored
 * is older than `refreshMs`.
 */
export function statusWriteNeeded(
  before: StreamApplicationStatus,
  next: StreamApplicationStatus,
  nowMs: number,
  refreshMs: number,
): boolean {
  if (canonicalJson(next) === canonicalJson(before)) return false;
  const withoutLive = (s: StreamApplicationStatus) => {
    const copy: Record<string, unknown> = { ...s };
    for (const f of LIVE_FIELDS) Reflect.deleteProperty(copy, f);
    return canonicalJson(copy);
  };
  if (withoutLive(next) !== withoutLive(before)) return true;
  const storedAt = Date.parse(before.eventTime?.observedAt ?? '');
  return !(nowMs - storedAt < refreshMs);
}
