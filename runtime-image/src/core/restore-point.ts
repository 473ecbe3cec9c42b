import type { SinkRecovery } from '../connectors/contract.ts';

/** A snapshot that could be restored: its epoch, and whether it was marked committed after its sinks committed. */
export interface SnapshotCandidate {
  readonly epoch: number;
  readonly committed: boolean;
}

export type RestoreDecision =
  | { readonly use: 'newest'; readonly rollForward: boolean }
  | { readonly use: 'previous'; readonly discard: number }
  | { readonly use: 'none'; readonly discard: number | undefined }
  | { readonly use: 'error'; readonly message: string };

/**
 * Which snapshot a job restores, given what its sinks say they committed (the commit protocol in
 * `connectors/contract.ts`). `newest` is the newest snapshot written; `hasPrevious` says whether
 * an older one exists to fall back on (for a named savepoint there is none).
 */
export function decideRestorePoint(
  newest: SnapshotCandidate,
  hasPrevious: boolean,
  sinks: readonly SinkRecovery[],
): RestoreDecision {
  if (newest.committed) return { use: 'newest', rollForward: true };
  const reporting = sinks.filter((s) => s.committedEpoch !== undefined);
  // Nobody recorded commits: every sink can redo its commit, so the pending snapshot rolls forward.
  if (reporting.length === 0) return { use: 'newest', rollForward: true };
  const committed = reporting.filter((s) => s.committedEpoch === newest.epoch).length;
  if (committed > 0 && committed < reporting.length) {
    return {
      use: 'error',
      message: `sinks disagree on whether epoch ${newest.epoch} was committed (${committed} of ${reporting.length} say it was): sinks that record their commits must commit in one transaction`,
    };
  }
  if (committed > 0) return { use: 'newest', rollForward: true };
  const ahead = reporting.find((s) => (s.committedEpoch ?? 0) > newest.epoch);
  if (ahead !== undefined) {
    return {
      use: 'error',
      message: `a sink committed epoch ${String(ahead.committedEpoch)}, newer than the newest snapshot (${newest.epoch}): the snapshot directory is not the one this sink's output belongs to`,
    };
  }
  // The pending snapshot's output was never committed (and its transaction is now aborted).
  return hasPrevious ? { use: 'previous', discard: newest.epoch } : { use: 'none', discard: newest.epoch };
}

/** The first epoch of a job: above every epoch seen anywhere, so that no output name and no marker repeats. */
export function firstEpochAfter(restored: number | undefined, seen: readonly (number | undefined)[]): number {
  let max = restored ?? 0;
  for (const e of seen) if (e !== undefined && e > max) max = e;
  return max;
}
