// A job run as several workers snapshots as one directory of parts: `w0`, `w1`, ... each a
// snapshot (a savepoint part) or a checkpoint directory (a worker's `chk-N`s).
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Written by the coordinator when every worker's part of a savepoint is complete. */
export const JOB_SAVEPOINT = '_savepoint.json';

export interface JobSavepointManifest {
  readonly format: 'weir-job-savepoint';
  readonly id: string;
  readonly parts: number;
  readonly createdAt: string;
}

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
