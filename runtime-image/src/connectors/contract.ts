/**
 * The connector contract. Sources are split into independently positioned splits (a Kafka
 * partition, a file) that are polled without blocking; sinks take part in checkpoints with a
 * two-phase commit. Positions and committables are plain JSON: they live in checkpoints.
 */
import type { KeyGroupRange } from '../core/key-groups.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Where a record came from (a Kafka record satisfies it): named in dead letters. */
export interface RecordOrigin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface SourceRecord<T> {
  readonly value: T;
  /** Event time, ms since the epoch. */
  readonly ts: number;
  readonly origin?: RecordOrigin | undefined;
}

/** A record that could not be processed: it goes to the dead-letter topic instead of failing the job. */
export interface DeadLetter {
  readonly operatorId: string;
  readonly error: string;
  /** The record as the operator saw it (undefined when it could not even be decoded). */
  readonly value: unknown;
  /** The raw record, when the failure was decoding it. */
  readonly raw?:
    | { readonly key: Buffer | null; readonly value: Buffer | null; readonly headers: Readonly<Record<string, string>> }
    | undefined;
  readonly origin?: RecordOrigin | undefined;
}

/** Dead letters are written exactly once like any output: into the epoch's transaction. */
export interface DeadLetterWriter {
  write(letter: DeadLetter): void;
  /** Dead letters written since the job started. */
  count(): number;
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
  /**
   * The split's watermark comes only from the source (in-band watermark records), never from the
   * event times of its records: `poll` reports it as `watermark`.
   */
  readonly watermarksInBand?: boolean | undefined;
  /** Stop fetching (event-time alignment: the split runs too far ahead); `poll` may still return what it holds. */
  pause?(): void;
  resume?(): void;
  close?(): Promise<void>;
}

/**
 * Which share of the job a connector instance serves. A job runs as `count` workers (pods); worker
 * `index` reads its share of the source splits and writes through its own transactional identity.
 */
export interface TaskInfo {
  /** The worker's index, 0..count-1 (the StatefulSet ordinal). */
  readonly index: number;
  readonly count: number;
  /** Key groups this worker owns, of `maxParallelism`. */
  readonly keyGroups: KeyGroupRange;
  readonly maxParallelism: number;
  /** Worker count of the snapshot being restored (differs after a rescale). */
  readonly restoredCount: number | undefined;
}

export interface ConnectorContext {
  /** The job's identity: stable across restarts, unique per app on a broker, part of every external identity. */
  readonly job: string;
  readonly operatorId: string;
  readonly task: TaskInfo;
  readonly now: () => number;
  /** Aborted when the job stops: connectors end their background work. */
  readonly signal: AbortSignal;
}

export interface SourceContext extends ConnectorContext {
  /** Positions restored from a checkpoint, by split id; a split absent here starts where the source's start policy says. */
  readonly restored: ReadonlyMap<string, Json>;
}

/**
 * A table: the latest value per key of a changelog (a compacted topic), kept in memory and
 * looked up by key. Its position and rows are part of checkpoints.
 */
export interface TableConnector {
  readonly type: string;
  /** Restores the rows and positions of a checkpoint, or reads the changelog up to its current end first. */
  open(ctx: ConnectorContext & { readonly restored: Json | undefined }): Promise<void>;
  /** Applies the updates that arrived since (never blocks). */
  refresh(): void;
  get(key: string): unknown;
  readonly size: number;
  snapshot(): Json;
  close(): Promise<void>;
}

export interface SourceConnector<T> {
  readonly type: string;
  open(ctx: SourceContext): Promise<readonly SourceSplit<T>[]>;
  /**
   * Splits that appeared since `open` (partitions added to a topic), or none; called now and then
   * while the job runs, never twice at once. New splits start at their beginning.
   */
  discover?(): Promise<readonly SourceSplit<T>[]>;
  /** Records dropped by the source's catch-up policy (too old to be worth processing), if it has one. */
  dropped?(): number;
}

/**
 * What a sink knows about its commits when a job recovers (see the commit protocol below).
 * `committedEpoch`: the newest epoch whose output the sink committed, as recorded by the sink
 * itself inside its atomic commit; only sinks that cannot finish a commit later say it.
 * `highestEpoch`: the highest epoch that ever left a trace in the sink's output, so that a job
 * restored from an older snapshot never reuses an epoch number.
 */
export interface SinkRecovery {
  readonly committedEpoch?: number | undefined;
  readonly highestEpoch?: number | undefined;
}

export interface SinkContext extends ConnectorContext {
  /**
   * The committable of the snapshot this job restores from, to commit again (roll forward) if the
   * sink can: that snapshot is the newest whose output is committed, or may be committed now.
   */
  readonly restored: Json | undefined;
}

/**
 * Sinks and the commit protocol. One epoch (checkpoint N) goes:
 *   1. barrier: `preCommit(N)` flushes and returns the committable (it goes into snapshot N);
 *   2. snapshot N is written (manifest last): it is *pending*;
 *   3. `commit(N, committable)` for every sink;
 *   4. snapshot N is marked *committed*.
 * A crash can fall between any two steps, and a sink may be unable to finish a commit that a dead
 * process started (a Kafka transaction can only be aborted by a new producer, never resumed).
 * So recovery asks before it restores: `recover()` runs first, fences earlier writers, and reports
 * the newest epoch the sink committed (recorded atomically with its output). If the newest
 * snapshot is pending, the job restores it when a sink reports its epoch committed (other sinks
 * roll forward with `open({ restored })`), and the snapshot before it when no sink does (the
 * pending one is discarded, and so is its uncommitted output). A job whose sinks cannot report
 * (files only) rolls the pending snapshot forward. One process's sinks that report must commit
 * together (one transaction per epoch), or they could disagree.
 */
export interface SinkConnector<T> {
  readonly type: string;
  /** Recovery, before `open` and before any state is restored; once per job start. */
  recover?(ctx: ConnectorContext): Promise<SinkRecovery>;
  /**
   * Reads what it committed again (after `recover`). Kafka makes a fenced transaction's marker
   * visible a moment after the fence returns (the group coordinator applies it asynchronously;
   * KIP-447's require_stable, which kafkajs lacks): recovery asks again before it discards a
   * pending snapshot.
   */
  recheck?(): Promise<SinkRecovery>;
  open(ctx: SinkContext): Promise<void>;
  /** `timestamps` are the records' event times, in the same order. */
  write(values: readonly T[], timestamps?: readonly number[]): void | Promise<void>;
  /** The watermark reaching the sink advanced (sinks that pass event time on, e.g. into Kafka). */
  onWatermark?(watermark: number): void | Promise<void>;
  /** Flush what was written since the last checkpoint and return what `commit` needs (the committable). */
  /** `savepoint`: this epoch is a savepoint's (the job may stop after it). */
  preCommit(epoch: number, savepoint?: boolean): Promise<Json>;
  /** Snapshot `epoch` is written: make its output visible. */
  commit(epoch: number, committable: Json): Promise<void>;
  /** Throw away writes that no checkpoint will cover (cancel, failure). */
  abort(): Promise<void>;
  close(): Promise<void>;
}
