import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SinkRecovery } from '../connectors/contract.ts';
import { decideRestorePoint, firstEpochAfter } from '../core/restore-point.ts';
import {
  checkpointDirName,
  completedCheckpoints,
  isCommitted,
  isSnapshotDir,
  readManifest,
  removeSnapshot,
  type SnapshotManifest,
} from '../snapshot/format.ts';

export interface RestorePlan {
  /** The snapshot to restore, if any. */
  readonly dir: string | undefined;
  readonly manifest: SnapshotManifest | undefined;
  /** The snapshot is pending: mark it committed once the sinks rolled it forward. */
  readonly markCommitted: boolean;
  /** The last epoch used anywhere: the job's epochs continue after it. */
  readonly lastEpoch: number;
  /** Pending snapshots that were discarded because their output was never committed. */
  readonly discarded: readonly string[];
}

/** Every `chk-N` under `dir`, finished or not: epochs must not repeat even for abandoned checkpoints. */
async function allCheckpointEpochs(dir: string | undefined): Promise<number[]> {
  if (dir === undefined) return [];
  try {
    return (await readdir(dir)).flatMap((n) => {
      const m = /^chk-(\d+)$/.exec(n);
      return m?.[1] === undefined ? [] : [Number(m[1])];
    });
  } catch {
    return [];
  }
}

/** The epoch of the newest snapshot `restoreFrom` offers when it is still pending (written, not marked committed). */
export async function pendingEpoch(restoreFrom: string | undefined): Promise<number | undefined> {
  if (restoreFrom === undefined) return undefined;
  let dir = restoreFrom;
  if (!(await isSnapshotDir(restoreFrom))) {
    const epochs = await completedCheckpoints(restoreFrom);
    const newest = epochs.at(-1);
    if (newest === undefined) return undefined;
    dir = join(restoreFrom, checkpointDirName(newest));
  }
  if (await isCommitted(dir)) return undefined;
  return (await readManifest(dir)).epoch;
}

/**
 * How many workers wrote the snapshots a job may restore (the most over the candidates), before
 * choosing one: sinks need it to fence the transactional ids of workers a downscale removed.
 */
export async function restoredWorkerCount(restoreFrom: string | undefined): Promise<number | undefined> {
  if (restoreFrom === undefined) return undefined;
  if (await isSnapshotDir(restoreFrom)) return (await readManifest(restoreFrom)).workers ?? 1;
  let most: number | undefined;
  for (const epoch of await completedCheckpoints(restoreFrom)) {
    const m = await readManifest(join(restoreFrom, checkpointDirName(epoch)));
    most = Math.max(most ?? 0, m.workers ?? 1);
  }
  return most;
}

/**
 * Chooses the snapshot a job restores (the commit protocol in `connectors/contract.ts`), given
 * what its sinks said in `recover()`. Discards pending checkpoints whose output was never committed;
 * refuses a named savepoint in that state.
 */
export async function planRestore(
  restoreFrom: string | undefined,
  checkpointDir: string | undefined,
  sinks: readonly SinkRecovery[],
): Promise<RestorePlan> {
  const seen = [
    ...(await allCheckpointEpochs(checkpointDir)),
    ...sinks.flatMap((s) => [s.committedEpoch, s.highestEpoch]),
  ];
  if (restoreFrom === undefined) {
    return {
      dir: undefined,
      manifest: undefined,
      markCommitted: false,
      lastEpoch: firstEpochAfter(undefined, seen),
      discarded: [],
    };
  }
  if (await isSnapshotDir(restoreFrom)) {
    const manifest = await readManifest(restoreFrom);
    const committed = await isCommitted(restoreFrom);
    const d = decideRestorePoint({ epoch: manifest.epoch, committed }, false, sinks);
    if (d.use === 'error') throw new Error(`cannot restore ${restoreFrom}: ${d.message}`);
    if (d.use !== 'newest') {
      throw new Error(
        `cannot restore ${restoreFrom}: the snapshot of epoch ${manifest.epoch} was written but its output was never committed (the job ended before its sinks committed); restore an older snapshot`,
      );
    }
    return {
      dir: restoreFrom,
      manifest,
      markCommitted: !committed,
      lastEpoch: firstEpochAfter(manifest.epoch, seen),
      discarded: [],
    };
  }
  const epochs = await completedCheckpoints(restoreFrom);
  const discarded: string[] = [];
  for (let i = epochs.length - 1; i >= 0; i--) {
    const dir = join(restoreFrom, checkpointDirName(epochs[i] ?? 0));
    const manifest = await readManifest(dir);
    const committed = await isCommitted(dir);
    const d = decideRestorePoint({ epoch: manifest.epoch, committed }, i > 0, sinks);
    if (d.use === 'error') throw new Error(`cannot restore ${dir}: ${d.message}`);
    if (d.use === 'newest') {
      const ahead = sinks.find((s) => (s.committedEpoch ?? 0) > manifest.epoch);
      if (ahead !== undefined) {
        // Its output after this checkpoint is committed: restoring here would write it again.
        throw new Error(
          `cannot restore ${dir}: a sink committed epoch ${String(ahead.committedEpoch)}, after this newest checkpoint (epoch ${manifest.epoch}); the job stopped at a savepoint since: restore that savepoint`,
        );
      }
      return { dir, manifest, markCommitted: !committed, lastEpoch: firstEpochAfter(manifest.epoch, seen), discarded };
    }
    await removeSnapshot(dir);
    discarded.push(dir);
  }
  if (epochs.length === 0 && restoreFrom !== checkpointDir) {
    throw new Error(`no snapshot at ${restoreFrom}: neither a _manifest.json nor a completed chk-* directory`);
  }
  // Nothing committed yet: a fresh start is exact (every transaction so far was aborted).
  return {
    dir: undefined,
    manifest: undefined,
    markCommitted: false,
    lastEpoch: firstEpochAfter(undefined, seen),
    discarded,
  };
}
