import type { Json, SinkConnector } from './contract.ts';

/** Prints each value as a JSON line. Not transactional: values show as soon as they are written. */
export function consoleSink<T>(
  write: (line: string) => void = (l) => process.stdout.write(l + '\n'),
): SinkConnector<T> {
  return {
    type: 'console',
    open: () => Promise.resolve(),
    write(values) {
      for (const v of values) write(JSON.stringify(v));
    },
    preCommit: (): Promise<Json> => Promise.resolve(null),
    commit: () => Promise.resolve(),
    abort: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

/** Counts and drops everything (benchmarks). */
export function discardSink<T>(): SinkConnector<T> & { readonly count: () => number } {
  let n = 0;
  return {
    type: 'discard',
    count: () => n,
    open: () => Promise.resolve(),
    write(values) {
      n += values.length;
    },
    preCommit: (): Promise<Json> => Promise.resolve(null),
    commit: () => Promise.resolve(),
    abort: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
