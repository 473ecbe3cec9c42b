import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Json, PollResult, SourceConnector, SourceRecord, SourceSplit } from './contract.ts';
import { must } from '../core/must.ts';

export interface FileSourceOptions {
  /** Files, or directories whose `*.jsonl` / `*.json` files are read in name order. */
  readonly paths: readonly string[];
  /** Field holding the event time: epoch ms or an ISO-8601 string (default `ts`). */
  readonly timestampField?: string | undefined;
}

interface Position {
  file: number;
  offset: number;
}

const CHUNK = 256 * 1024;
/** Records buffered ahead of the task loop. */
const HIGH_WATER = 8192;

export function eventTimeOf(value: unknown, field: string, where: string): number {
  const v = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[field] : undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  throw new Error(
    `${where}: field '${field}' must be the event time (epoch ms or an ISO-8601 string), got ${JSON.stringify(v)}`,
  );
}

async function listFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const s = await stat(p).catch((err: unknown) => {
      throw new Error(`file source: cannot read ${p}`, { cause: err });
    });
    if (s.isDirectory()) {
      for (const n of (await readdir(p)).sort())
        if (n.endsWith('.jsonl') || n.endsWith('.json')) files.push(join(p, n));
    } else {
      files.push(p);
    }
  }
  return files;
}

/**
 * A bounded source of JSON lines, files read one after another. At the end of each file it emits
 * a watermark at the file's highest event time, so a backfill over historical files fires its
 * windows file by file. Reading happens in the background; `poll` only takes what is buffered.
 */
/** `T` is the shape of the JSON lines; they are not validated against it. */
export function fileSource<T = unknown>(options: FileSourceOptions): SourceConnector<T> {
  const field = options.timestampField ?? 'ts';
  return {
    type: 'file',
    async open(ctx) {
      const files = await listFiles(options.paths);
      const id = 'files';
      const restored = ctx.restored.get(id) as Position | undefined;
      const pos: Position = restored ?? { file: 0, offset: 0 };
      type Item = { rec: SourceRecord<T>; after: Position } | { watermark: number; after: Position };
      let buffer: Item[] = [];
      let head = 0;
      let finished = false;
      let failure: Error | undefined;
      let resume: (() => void) | undefined;

      const reader = async (): Promise<void> => {
        const buf = Buffer.alloc(CHUNK);
        for (let f = pos.file; f < files.length; f++) {
          const path = must(files[f], 'file');
          let offset = f === pos.file ? pos.offset : 0;
          let maxTs = Number.MIN_SAFE_INTEGER;
          let rest = Buffer.alloc(0);
          let line = 0;
          const fh = await open(path, 'r');
          try {
            for (;;) {
              while (buffer.length - head >= HIGH_WATER) {
                await new Promise<void>((r) => (resume = r));
              }
              const { bytesRead } = await fh.read(buf, 0, CHUNK, offset + rest.length);
              if (bytesRead === 0) break;
              let data = Buffer.concat([rest, buf.subarray(0, bytesRead)]);
              let nl: number;
              while ((nl = data.indexOf(10)) >= 0) {
                const text = data.subarray(0, nl).toString('utf8').trim();
                offset += nl + 1;
                data = data.subarray(nl + 1);
                line++;
                if (text === '') continue;
                let value: T;
                try {
                  value = JSON.parse(text) as T;
                } catch (err) {
                  throw new Error(`${path}: byte ${offset - nl - 1}: not a JSON line`, { cause: err });
                }
                const ts = eventTimeOf(value, field, `${path}: line ${line}`);
                if (ts > maxTs) maxTs = ts;
                buffer.push({ rec: { value, ts }, after: { file: f, offset } });
              }
              rest = Buffer.from(data);
            }
            const last = rest.toString('utf8').trim();
            if (last !== '') {
              offset += rest.length;
              const value = JSON.parse(last) as T;
              const ts = eventTimeOf(value, field, `${path}: last line`);
              if (ts > maxTs) maxTs = ts;
              buffer.push({ rec: { value, ts }, after: { file: f, offset } });
            }
          } finally {
            await fh.close();
          }
          buffer.push({ watermark: maxTs, after: { file: f + 1, offset: 0 } });
        }
        finished = true;
      };
      reader().catch((err: unknown) => {
        failure = err instanceof Error ? err : new Error(String(err));
      });

      const split: SourceSplit<T> = {
        id,
        poll(max: number): PollResult<T> {
          if (failure !== undefined) throw failure;
          const records: SourceRecord<T>[] = [];
          let watermark: number | undefined;
          while (head < buffer.length && records.length < max) {
            const item = must(buffer[head], 'buffered item');
            if ('watermark' in item) {
              // A file ended: deliver its records first, then its watermark, in one poll.
              head++;
              pos.file = item.after.file;
              pos.offset = item.after.offset;
              watermark = item.watermark;
              break;
            }
            records.push(item.rec);
            pos.file = item.after.file;
            pos.offset = item.after.offset;
            head++;
          }
          if (head > 4096) {
            buffer = buffer.slice(head);
            head = 0;
          }
          if (buffer.length - head < HIGH_WATER / 2) {
            const r = resume;
            resume = undefined;
            r?.();
          }
          return { records, watermark, done: finished && head >= buffer.length };
        },
        snapshot: (): Json => ({ file: pos.file, offset: pos.offset }),
        backlog: () => buffer.length - head,
      };
      return [split];
    },
  };
}
