import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Json } from '../connectors/contract.ts';
import { rangesIntersect, type KeyGroupRange } from '../core/key-groups.ts';
import type { KeyedStateStore, StateValue } from '../state/keyed-state.ts';
import type { Timer, TimerQueue } from '../state/timers.ts';

export const SNAPSHOT_FORMAT = 'weir-snapshot';
export const SNAPSHOT_VERSION = 1;
export const MANIFEST = '_manifest.json';
/** Written after every sink committed the snapshot's epoch (see the commit protocol in `connectors/contract.ts`). */
export const COMMITTED = '_committed';

export interface KeyedStateFile {
  readonly file: string;
  readonly start: number;
  readonly end: number;
  readonly bytes: number;
}

export interface OperatorSnapshot {
  readonly kind: string;
  /** For windows: the window type, whose state shape differs. */
  readonly variant?: string | undefined;
  readonly keyed: boolean;
  /** Names of keyed states the operator had. */
  readonly states?: readonly string[] | undefined;
  /** Declared kinds of keyed states (process functions). */
  readonly stateKinds?: Readonly<Record<string, string>> | undefined;
  readonly files?: readonly KeyedStateFile[] | undefined;
  /** Non-keyed operator state (e.g. a sink's committable), one entry per instance. */
  readonly state?: Json | undefined;
  /** Source positions by split id. */
  readonly splits?: Readonly<Record<string, { readonly position: Json; readonly watermark: number }>> | undefined;
  /** The watermark the operator had received. */
  readonly watermark: number;
}

/** Checkpoints and savepoints share one self-contained, versioned format; the manifest is written last. */
export interface SnapshotManifest {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly job: string;
  readonly epoch: number;
  readonly createdAt: string;
  readonly maxParallelism: number;
  readonly parallelism: number;
  /** Workers (processes) the job ran as; absent in snapshots of one process. */
  readonly workers?: number | undefined;
  readonly operators: Readonly<Record<string, OperatorSnapshot>>;
}

export function checkpointDirName(epoch: number): string {
  return `chk-${String(epoch).padStart(10, '0')}`;
}

export function parseManifest(text: string, where: string): SnapshotManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: the manifest is not valid JSON`, { cause: err });
  }
  const o = m as Partial<SnapshotManifest> | null;
  if (o === null || typeof o !== 'object' || o.format !== SNAPSHOT_FORMAT) {
    throw new Error(`${where}: not a Weir snapshot (format must be '${SNAPSHOT_FORMAT}')`);
  }
  if (o.version !== SNAPSHOT_VERSION) {
    throw new Error(
      `${where}: snapshot format version ${String(o.version)} is not supported (this runtime reads version ${SNAPSHOT_VERSION})`,
    );
  }
  if (typeof o.epoch !== 'number' || typeof o.maxParallelism !== 'number' || typeof o.operators !== 'object') {
    throw new Error(`${where}: the manifest lacks epoch, maxParallelism or operators`);
  }
  return o as SnapshotManifest;
}

export async function readManifest(dir: string): Promise<SnapshotManifest> {
  const path = join(dir, MANIFEST);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`no snapshot at ${dir}: ${MANIFEST} is missing (an unfinished checkpoint has none)`, {
      cause: err,
    });
  }
  return parseManifest(text, path);
}

/** The newest completed checkpoint under `dir` (only directories with a manifest count). */
export async function latestCheckpoint(dir: string): Promise<string | undefined> {
  const epochs = await completedCheckpoints(dir);
  const last = epochs.at(-1);
  return last === undefined ? undefined : join(dir, checkpointDirName(last));
}

export async function completedCheckpoints(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const epochs: number[] = [];
  for (const n of names) {
    const m = /^chk-(\d+)$/.exec(n);
    if (m?.[1] === undefined) continue;
    try {
      await stat(join(dir, n, MANIFEST));
      epochs.push(Number(m[1]));
    } catch {
      // unfinished: no manifest
    }
  }
  return epochs.sort((a, b) => a - b);
}

/** Resolves a restore path: a snapshot directory, or a checkpoint directory holding several. */
export async function resolveSnapshotPath(path: string): Promise<string> {
  try {
    await stat(join(path, MANIFEST));
    return path;
  } catch {
    const latest = await latestCheckpoint(path);
    if (latest === undefined)
      throw new Error(`no snapshot at ${path}: neither a ${MANIFEST} nor a completed chk-* directory`);
    return latest;
  }
}

export async function writeManifest(dir: string, manifest: SnapshotManifest): Promise<void> {
  const tmp = join(dir, `${MANIFEST}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(manifest, null, 1));
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, MANIFEST));
}

/** Marks a snapshot committed: its sinks made its epoch's output visible. */
export async function markCommitted(dir: string): Promise<void> {
  const fh = await open(join(dir, COMMITTED), 'w', 0o600);
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export function isCommitted(dir: string): Promise<boolean> {
  return exists(join(dir, COMMITTED));
}

/** Whether `path` is one snapshot (has a manifest) rather than a directory of checkpoints. */
export function isSnapshotDir(path: string): Promise<boolean> {
  return exists(join(path, MANIFEST));
}

export async function removeSnapshot(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

const ENTRIES_PER_LINE = 512;
/** Longest stretch of synchronous serialisation before yielding to the event loop. */
const SLICE_MS = 8;

/**
 * Streams one instance's keyed state and timers to a JSON-lines file, one line per key group and
 * state (chunked), yielding to the event loop every few ms so a large state never stalls it.
 */
export async function writeKeyedState(
  path: string,
  store: KeyedStateStore,
  timers: { readonly event: TimerQueue; readonly processing: TimerQueue },
): Promise<number> {
  const fh = await open(path, 'w', 0o600);
  let bytes = 0;
  let buf: string[] = [];
  let buffered = 0;
  let sliceStart = performance.now();
  const push = async (line: string): Promise<void> => {
    buf.push(line);
    buffered += line.length;
    // Small writes: buffered lines are young garbage the scavenger would otherwise copy again and again.
    if (buffered > 1 << 16) {
      const text = buf.join('');
      buf = [];
      buffered = 0;
      bytes += Buffer.byteLength(text);
      await fh.write(text);
      sliceStart = performance.now();
    } else if (performance.now() - sliceStart > SLICE_MS) {
      await yieldToLoop();
      sliceStart = performance.now();
    }
  };
  try {
    const { start, end } = store.range;
    for (const table of store.tables()) {
      for (let kg = start; kg < end; kg++) {
        const head = '{"kg":' + String(kg) + ',"s":' + JSON.stringify(table.name) + ',"e":[';
        let line = '';
        let n = 0;
        for (const [k, v] of table.rawEntries(kg)) {
          line += (n === 0 ? '[' : ',[') + JSON.stringify(k) + ',' + JSON.stringify(v) + ']';
          if (++n === ENTRIES_PER_LINE) {
            await push(head + line + ']}\n');
            line = '';
            n = 0;
          }
        }
        if (n > 0) await push(head + line + ']}\n');
      }
    }
    // Timers stream in time order; each entry carries its key group (restore filters by range).
    for (const [domain, q] of [
      ['event', timers.event],
      ['processing', timers.processing],
    ] as const) {
      let line = '';
      let n = 0;
      for (const t of q.all()) {
        line +=
          (n === 0 ? '' : ',') +
          '[' +
          String(t.kg) +
          ',' +
          String(t.ts) +
          ',' +
          JSON.stringify(t.key) +
          ',' +
          JSON.stringify(t.ns) +
          ']';
        if (++n === ENTRIES_PER_LINE) {
          await push('{"d":"' + domain + '","t":[' + line + ']}\n');
          line = '';
          n = 0;
        }
      }
      if (n > 0) await push('{"d":"' + domain + '","t":[' + line + ']}\n');
    }
    const text = buf.join('');
    bytes += Buffer.byteLength(text);
    await fh.write(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return bytes;
}

type StateLine =
  | { kg: number; s: string; e: [string, StateValue][] }
  | { d: 'event' | 'processing'; t: [number, number, string, string][] };

/** Loads the key groups of `range` from every file of an operator snapshot that overlaps it. */
export async function loadKeyedState(
  dir: string,
  files: readonly KeyedStateFile[],
  range: KeyGroupRange,
  store: KeyedStateStore,
  timers: { readonly event: TimerQueue; readonly processing: TimerQueue },
  ttlOf: (state: string) => number | undefined,
): Promise<void> {
  for (const f of files) {
    if (!rangesIntersect(f, range)) continue;
    const lines = createInterface({ input: createReadStream(join(dir, f.file)), crlfDelay: Infinity });
    for await (const text of lines) {
      if (text === '') continue;
      const l = JSON.parse(text) as StateLine;
      if ('s' in l) {
        if (l.kg >= range.start && l.kg < range.end) store.table(l.s, { ttlMs: ttlOf(l.s) }).restoreEntries(l.kg, l.e);
        continue;
      }
      const q = l.d === 'event' ? timers.event : timers.processing;
      for (const [kg, ts, key, ns] of l.t) {
        if (kg < range.start || kg >= range.end) continue;
        const t: Timer = { key, kg, ts, ns };
        q.register(t);
      }
    }
  }
}

/**
 * Makes a completed snapshot one of a checkpoint directory's checkpoints (`chk-<its epoch>`), by
 * hard links (no copy: the same volume), so that it outlives the original being deleted.
 */
export async function linkAsCheckpoint(snapshot: string, checkpointDir: string): Promise<void> {
  const epoch = (await readManifest(snapshot)).epoch;
  const target = join(checkpointDir, checkpointDirName(epoch));
  await rm(target, { recursive: true, force: true });
  await mkdir(target, { recursive: true });
  // The manifest and the commit mark last, as when a checkpoint is written.
  const names = (await readdir(snapshot)).sort((a, b) => rank(a) - rank(b));
  for (const n of names) {
    try {
      await link(join(snapshot, n), join(target, n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(join(snapshot, n), join(target, n));
    }
  }
}

function rank(name: string): number {
  return name === COMMITTED ? 2 : name === MANIFEST ? 1 : 0;
}
