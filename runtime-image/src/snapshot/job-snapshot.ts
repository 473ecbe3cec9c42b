// A job run as several workers snapshots as one directory of parts: `w0`, `w1`, ... each a
// snapshot (a savepoint part) or a checkpoint directory (a worker's `chk-N`s).
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest, resolveSnapshotPath, type OperatorSnapshot, type SnapshotManifest } from './format.ts';

/** Written by the coordinator when every worker's part of a savepoint is complete. */
export const JOB_SAVEPOINT = '_savepoint.json';

export interface JobSavepointManifest {
  readonly format: 'weir-job-savepoint';
  readonly id: string;
  readonly parts: number;
  readonly createdAt: string;
}

/** The suffix of the keyed exchange's operators (a sink in the stage before a keyBy, a source after it). */
export const EXCHANGE_SUFFIX = '.exchange';

export function partName(index: number): string {
  return `w${index}`;
}

/** How many `w<i>` parts the directory holds (0 when it is not a job snapshot). */
export async function partCount(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let n = 0;
  while (names.includes(partName(n))) n++;
  return n;
}

/**
 * What worker `index` of `count` restores from `restoreFrom`: its own part when the job ran at the
 * same parallelism, a cut of all parts after a rescale (`snapshot/rescale.ts`).
 */
export async function restorePartFor(
  restoreFrom: string,
  index: number,
  count: number,
): Promise<{ readonly part: string } | { readonly rescale: number }> {
  const parts = await partCount(restoreFrom);
  if (parts === 0) {
    throw new Error(
      `cannot restore ${restoreFrom}: it is not a snapshot of a job run by workers (no w0, w1, ... parts); a snapshot of 'weir run' restores with 'weir run --from-savepoint'`,
    );
  }
  return parts === count ? { part: join(restoreFrom, partName(index)) } : { rescale: parts };
}

export async function writeJobSavepointManifest(dir: string, m: JobSavepointManifest): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `${JOB_SAVEPOINT}.tmp`);
  await writeFile(tmp, JSON.stringify(m, null, 1), { mode: 0o600 });
  await rename(tmp, join(dir, JOB_SAVEPOINT));
}

export async function readJobSavepointManifest(dir: string): Promise<JobSavepointManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, JOB_SAVEPOINT), 'utf8')) as JobSavepointManifest;
  } catch {
    return undefined;
  }
}

/**
 * The manifest of a snapshot as one dataflow sees it: a plain snapshot's (or a checkpoint
 * directory's newest), or for a job snapshot of workers the operators of every stage of its first
 * part (all parts hold the same operators), without the exchange's own.
 */
export async function readDataflowManifest(path: string): Promise<{ manifest: SnapshotManifest; snapshot: string }> {
  if ((await partCount(path)) === 0) {
    const snapshot = await resolveSnapshotPath(path);
    return { manifest: await readManifest(snapshot), snapshot };
  }
  const first = join(path, partName(0));
  const stages = (await readdir(first)).filter((n) => !n.startsWith('_'));
  let merged: SnapshotManifest | undefined;
  const operators: Record<string, OperatorSnapshot> = {};
  for (const stage of stages) {
    let m: SnapshotManifest;
    try {
      m = await readManifest(await resolveSnapshotPath(join(first, stage)));
    } catch {
      continue; // a stage without a completed snapshot
    }
    merged ??= m;
    for (const [id, op] of Object.entries(m.operators)) if (!id.endsWith(EXCHANGE_SUFFIX)) operators[id] ??= op;
  }
  if (merged === undefined) throw new Error(`no snapshot at ${path}: its parts hold no completed stage snapshot`);
  return { manifest: { ...merged, operators }, snapshot: path };
}
