/**
 * The connector contract. Sources are split into independently positioned splits (a Kafka
 * partition, a file) that are polled without blocking; sinks take part in checkpoints with a
 * two-phase commit. Positions and committables are plain JSON: they live in checkpoints.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface SourceRecord<T> {
  readonly value: T;
  /** Event time, ms since the epoch. */
  readonly ts: number;
}

export interface PollResult<T> {
  readonly records: readonly SourceRecord<T>[];
  /** A watermark the split knows for certain (e.g. the end of a bounded file). */
  readonly watermark?: number | undefined;
  /** The split is exhausted: it will never emit again (its watermark becomes the maximum). */
  readonly done?: boolean | undefined;
}

export interface SourceSplit<T> {
  readonly id: string;
  /** Never blocks: returns what is ready now (possibly nothing), at most `max` records. */
  poll(max: number): PollResult<T>;
  /** The position after the last record `poll` returned. */
  snapshot(): Json;
  /** Records the split could emit right now but has not yet (for lag metrics), if known. */
  backlog?(): number | undefined;
  close?(): Promise<void>;
}

export interface SourceContext {
  /** Positions restored from a checkpoint, by split id; a split absent here starts from its beginning. */
  readonly restored: ReadonlyMap<string, Json>;
  readonly now: () => number;
}

export interface SourceConnector<T> {
  readonly type: string;
  open(ctx: SourceContext): Promise<readonly SourceSplit<T>[]>;
}

export interface SinkContext {
  readonly operatorId: string;
  /** What `preCommit` returned for the checkpoint this job restored from (commit it again: commits are idempotent). */
  readonly restored: Json | undefined;
  readonly now: () => number;
}

export interface SinkConnector<T> {
  readonly type: string;
  open(ctx: SinkContext): Promise<void>;
  write(values: readonly T[]): void | Promise<void>;
  /** Flush what was written since the last checkpoint and return what `commit` needs (the committable). */
  preCommit(epoch: number): Promise<Json>;
  /** The checkpoint `epoch` is complete: make its writes visible. Must be idempotent. */
  commit(epoch: number, committable: Json): Promise<void>;
  /** Throw away writes that no checkpoint will cover (cancel, failure). */
  abort(): Promise<void>;
  close(): Promise<void>;
}
