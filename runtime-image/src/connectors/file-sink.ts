import { link, mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { SinkConnector } from './contract.ts';

export interface FileSinkOptions {
  readonly dir: string;
  /** Bytes buffered before a write to the in-progress file (default 64 KiB). */
  readonly bufferBytes?: number | undefined;
}

interface Committable {
  files: { pending: string; final: string }[];
}

const PENDING = '.pending';

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A transactional sink of JSON lines. Writes go to a hidden in-progress file; at the checkpoint
 * barrier it is flushed, synced and renamed to a pending file named by the epoch; when the
 * checkpoint completes the pending file is renamed into place. Readers see only committed
 * `part-*.jsonl` files: exactly once across crashes (a commit can be redone, and never replaces a committed file).
 */
export function transactionalFileSink<T>(options: FileSinkOptions): SinkConnector<T> {
  const dir = options.dir;
  const pendingDir = join(dir, PENDING);
  const limit = options.bufferBytes ?? 64 * 1024;
  let opId = 'sink';
  let fh: FileHandle | undefined;
  let buf: string[] = [];
  let buffered = 0;
  // `~` cannot occur in operator ids, so one sink never mistakes another's files for its own.
  const inProgress = (): string => join(pendingDir, `${opId}~inprogress`);

  const flush = async (): Promise<void> => {
    if (buf.length === 0) return;
    fh ??= await open(inProgress(), 'w', 0o644);
    const text = buf.join('');
    buf = [];
    buffered = 0;
    await fh.write(text);
  };

  // link + unlink rather than rename: a rename would silently replace a committed part file.
  const commitFiles = async (c: Committable): Promise<void> => {
    for (const f of c.files) {
      const from = join(pendingDir, f.pending);
      const to = join(dir, f.final);
      if (await exists(from)) {
        try {
          await link(from, to);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          // A crash between link and unlink leaves both names on one file; anything else is another commit's output.
          const [a, b] = await Promise.all([stat(from), stat(to)]);
          if (a.ino !== b.ino || a.dev !== b.dev) {
            throw new Error(
              `file sink ${dir}: committing ${f.pending} would replace ${f.final}, which another commit wrote; committed output is never overwritten`,
              { cause: err },
            );
          }
        }
        await unlink(from);
      } else if (!(await exists(join(dir, f.final)))) {
        throw new Error(
          `file sink ${dir}: pending file ${f.pending} of a completed checkpoint is gone and ${f.final} does not exist`,
        );
      }
    }
  };

  return {
    type: 'file',
    async recover() {
      // Commits can be redone (the pending file stays until then): report only the highest epoch
      // ever committed, so that a job restored from an older snapshot never reuses a part name.
      let highest: number | undefined;
      let names: string[] = [];
      try {
        names = await readdir(dir);
      } catch {
        // no output yet
      }
      for (const n of names) {
        const m = /-(\d{10})\.jsonl$/.exec(n);
        if (n.startsWith('part-') && m?.[1] !== undefined) highest = Math.max(highest ?? 0, Number(m[1]));
      }
      return { highestEpoch: highest };
    },
    async open(ctx) {
      opId = ctx.operatorId;
      await mkdir(pendingDir, { recursive: true });
      const restored = ctx.restored as Committable | undefined | null;
      const keep = new Set<string>();
      if (restored !== undefined && restored !== null) {
        // The checkpoint completed, but the commit may not have happened before the crash.
        await commitFiles(restored);
        for (const f of restored.files) keep.add(f.pending);
      }
      // Everything else pending belongs to epochs no completed checkpoint covers: abort it.
      for (const name of await readdir(pendingDir)) {
        if (name.startsWith(`${opId}~`) && !keep.has(name)) await rm(join(pendingDir, name), { force: true });
      }
    },
    write(values) {
      for (const v of values) {
        const line = JSON.stringify(v) + '\n';
        buf.push(line);
        buffered += line.length;
      }
      return buffered >= limit ? flush() : undefined;
    },
    async preCommit(epoch) {
      await flush();
      if (fh === undefined) return { files: [] } satisfies Committable;
      await fh.datasync();
      await fh.close();
      fh = undefined;
      const name = `${opId}~${String(epoch).padStart(10, '0')}.jsonl`;
      await rename(inProgress(), join(pendingDir, name));
      return {
        files: [{ pending: name, final: `part-${opId}-${String(epoch).padStart(10, '0')}.jsonl` }],
      } satisfies Committable;
    },
    async commit(_epoch, committable) {
      await commitFiles(committable as unknown as Committable);
    },
    async abort() {
      buf = [];
      buffered = 0;
      await fh?.close();
      fh = undefined;
      await rm(inProgress(), { force: true });
    },
    async close() {
      await fh?.close();
      fh = undefined;
      buf = [];
      await rm(inProgress(), { force: true });
    },
  };
}

/** The committed output of a file sink directory, in commit order (tests and tools). */
export async function readCommittedLines(dir: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.startsWith('part-') && n.endsWith('.jsonl')).sort();
  } catch {
    return [];
  }
  const lines: string[] = [];
  for (const n of names)
    for (const l of (await readFile(join(dir, n), 'utf8')).split('\n')) if (l !== '') lines.push(l);
  return lines;
}
