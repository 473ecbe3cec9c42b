import type { RecordOrigin } from '../connectors/contract.ts';
import type { KeyGroupRange } from '../core/key-groups.ts';
import type { KeyedStateStore } from '../state/keyed-state.ts';
import type { TimeDomain, Timer, TimerQueue } from '../state/timers.ts';

export type MaybePromise<T = void> = T | Promise<T>;

/** A record in flight. Keyed streams carry the key and its key group. */
export interface Rec {
  value: unknown;
  ts: number;
  key: string | undefined;
  kg: number;
  /** Where the record entered the job, for dead letters (sources that know it). */
  origin?: RecordOrigin | undefined;
}

/** The closed set of messages a task handles, in order. */
export type Message =
  | { readonly kind: 'data'; readonly batch: Rec[] }
  | { readonly kind: 'watermark'; readonly ts: number }
  | { readonly kind: 'barrier'; readonly epoch: number; readonly savepoint: boolean }
  | { readonly kind: 'stop'; readonly mode: 'finish' | 'stop' | 'cancel' };

export interface Output {
  emit(batch: Rec[]): MaybePromise;
  /** Side outputs and branches. */
  emitTo(port: string, batch: Rec[]): MaybePromise;
}

export interface OperatorCounters {
  lateDropped: number;
  lateToSideOutput: number;
}

export interface OperatorContext {
  readonly operatorId: string;
  readonly instance: number;
  readonly parallelism: number;
  readonly maxParallelism: number;
  /** Present for keyed operators. */
  readonly keyed?:
    | {
        readonly range: KeyGroupRange;
        readonly state: KeyedStateStore;
        readonly timers: { readonly event: TimerQueue; readonly processing: TimerQueue };
      }
    | undefined;
  readonly now: () => number;
  /** The watermark this instance has received. */
  readonly watermark: () => number;
  readonly counters: OperatorCounters;
}

/**
 * An operator works on batches. Every hook but processBatch is optional. The task never
 * interleaves hooks: a checkpoint or timer never runs while a batch is in flight.
 */
export interface Operator {
  open?(ctx: OperatorContext): MaybePromise;
  processBatch(batch: Rec[], out: Output): MaybePromise;
  /** Called after the due event-time timers fired. */
  onWatermark?(watermark: number, out: Output): MaybePromise;
  onTimers?(timers: readonly Timer[], domain: TimeDomain, out: Output): MaybePromise;
  /** Called each loop turn: operators with background work (async I/O) emit what completed. */
  onTick?(out: Output): MaybePromise;
  /** Finish work in flight (end of input, drain); returns whether there was any. */
  drain?(out: Output): Promise<boolean>;
  /** Watermark this operator may forward given its input watermark (async I/O holds it back). */
  outputWatermark?(input: number): number;
  /** Barrier reached: return the operator's non-keyed state (keyed state is snapshotted by the task). */
  onCheckpoint?(epoch: number, out: Output, savepoint: boolean): MaybePromise<unknown>;
  onCheckpointComplete?(epoch: number, state: unknown): MaybePromise;
  /** Non-keyed state from the checkpoint being restored. */
  restore?(state: unknown): MaybePromise;
  close?(mode: 'finish' | 'stop' | 'cancel', out: Output): MaybePromise;
}
