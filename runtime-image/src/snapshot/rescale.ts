// Restoring a job snapshot at another parallelism: each new worker's snapshot is cut from all the
// old parts. Source positions are by split (a Kafka partition goes to its new owner with its
// position), keyed state is by key group (the new owner of a key-group range reads the old files
// that overlap it), so a rescale moves partitions and key groups and nothing else.
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Json } from '../connectors/contract.ts';
import {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  ensureDir,
  markCommitted,
  readManifest,
  removeSnapshot,
  resolveSnapshotPath,
  writeManifest,
  type KeyedStateFile,
  type OperatorSnapshot,
  type SnapshotManifest,
} from './format.ts';
import { partName } from './job-snapshot.ts';

export interface PartSnapshot {
  /** The old worker that wrote it. */
  readonly worker: number;
  /** The directory the manifest's files are relative to. */
  readonly dir: string;
  readonly manifest: SnapshotManifest;
}

/**
 * One snapshot for worker `index` of `count` from the parts of `parts.length` old workers, with
 * file paths relative to `into`. Non-keyed operator state cannot be split: worker `index` keeps
 * old part `index`'s (a part beyond the new count loses it, as does Flink's union-less state).
 */
export function mergeParts(
  parts: readonly PartSnapshot[],
  oldWorkers: number,
  into: string,
  index: number,
): SnapshotManifest {
  const first = parts[0];
  if (first === undefined) throw new Error('a rescale needs at least one part');
  const ids = [...new Set(parts.flatMap((p) => Object.keys(p.manifest.operators)))];
  const operators: Record<string, OperatorSnapshot> = {};
  for (const id of ids) {
    const own = parts.map((p) => ({ p, op: p.manifest.operators[id] })).filter((x) => x.op !== undefined);
    const base = own[0]?.op;
    if (base === undefined) continue;
    const files: KeyedStateFile[] = own.flatMap(({ p, op }) =>
      (op?.files ?? []).map((f) => ({ ...f, file: relative(into, join(p.dir, f.file)) })),
    );
    const splits: Record<string, { position: Json; watermark: number }> = {};
    for (const { op } of own) Object.assign(splits, op?.splits ?? {});
    const state = parts.find((p) => p.worker === index)?.manifest.operators[id]?.state;
    operators[id] = {
      ...base,
      ...(base.files === undefined ? {} : { files }),
      ...(base.splits === undefined ? {} : { splits }),
      state: state ?? null,
      watermark: Math.min(...own.map(({ op }) => op?.watermark ?? Infinity)),
    };
  }
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    kind: 'savepoint',
    job: first.manifest.job,
    epoch: Math.max(...parts.map((p) => p.manifest.epoch)),
    createdAt: first.manifest.createdAt,
    maxParallelism: first.manifest.maxParallelism,
    parallelism: 1,
    // The old worker count: the new workers fence the transactional ids of workers that are gone.
    workers: oldWorkers,
    operators,
  };
}

/** The stage directories (`sources`, `by-...`) the parts hold. */
async function stagesOf(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => !n.startsWith('_'));
}

/**
 * Writes, under `into`, worker `index`'s snapshot of every stage cut from the `parts` old parts of
 * `restoreFrom` (each a savepoint part or a worker's checkpoint directory); returns `into`.
 */
export async function writeRescaledPart(
  restoreFrom: string,
  parts: number,
  index: number,
  into: string,
): Promise<string> {
  await removeSnapshot(into);
  const stages = new Set<string>();
  for (let j = 0; j < parts; j++) for (const s of await stagesOf(join(restoreFrom, partName(j)))) stages.add(s);
  for (const stage of stages) {
    const read: PartSnapshot[] = [];
    for (let j = 0; j < parts; j++) {
      const dir = join(restoreFrom, partName(j), stage);
      let snapshot: string;
      try {
        snapshot = await resolveSnapshotPath(dir);
      } catch {
        continue; // this old worker never snapshotted the stage (it had nothing of it)
      }
      read.push({ worker: j, dir: snapshot, manifest: await readManifest(snapshot) });
    }
    if (read.length === 0) continue;
    const dir = join(into, stage);
    await ensureDir(dir);
    await writeManifest(dir, mergeParts(read, parts, dir, index));
    await markCommitted(dir);
  }
  return into;
}
