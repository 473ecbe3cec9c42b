import type { Json, PollResult, SinkConnector, SourceConnector, SourceRecord } from '../connectors/contract.ts';

export interface TestSplit<T> {
  readonly id: string;
  readonly records: readonly SourceRecord<T>[];
  /** After its records, stay open and silent instead of finishing (to test idleness). */
  readonly stayOpen?: boolean | undefined;
}

/** A source over fixed records per split (tests). Position = index of the next record. */
export function collectionSource<T>(
  splits: readonly TestSplit<T>[],
  options: { readonly perPoll?: number } = {},
): SourceConnector<T> {
  return {
    type: 'collection',
    open(ctx) {
      return Promise.resolve(
        splits.map((s) => {
          let next = (ctx.restored.get(s.id) as number | undefined) ?? 0;
          return {
            id: s.id,
            poll(max: number): PollResult<T> {
              const end = Math.min(s.records.length, next + Math.min(max, options.perPoll ?? max));
              const records = s.records.slice(next, end);
              next = end;
              return { records, done: s.stayOpen !== true && next >= s.records.length };
            },
            snapshot: (): Json => next,
            backlog: () => s.records.length - next,
          };
        }),
      );
    },
  };
}

/** An in-memory two-phase-commit sink: `committed` holds what completed checkpoints made visible. */
export function collectingSink<T>(): SinkConnector<T> & { readonly committed: T[]; readonly written: T[] } {
  const committed: T[] = [];
  const written: T[] = [];
  let pending: T[] = [];
  const staged = new Map<number, T[]>();
  return {
    type: 'collecting',
    committed,
    written,
    open: () => Promise.resolve(),
    write(values) {
      for (const v of values) {
        pending.push(v);
        written.push(v);
      }
    },
    preCommit(epoch) {
      staged.set(epoch, pending);
      pending = [];
      return Promise.resolve(epoch);
    },
    commit(epoch) {
      committed.push(...(staged.get(epoch) ?? []));
      staged.delete(epoch);
      return Promise.resolve();
    },
    abort() {
      pending = [];
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}
