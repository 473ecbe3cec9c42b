import type { Json, SinkConnector } from '../contract.ts';
import { encodeValue, type RecordFormat } from './formats.ts';
import type { KafkaPort, OutgoingRecord } from './port.ts';
import { transactionTimeoutProblem, type KafkaWriteScope } from './transactions.ts';
import { WATERMARK_HEADER, encodeWatermark } from './watermarks.ts';
import { MIN_WATERMARK } from '../../core/watermarks.ts';

export interface KafkaSinkOptions {
  readonly port: () => Promise<KafkaPort>;
  readonly scope: KafkaWriteScope;
  readonly topic: string;
  readonly format?: RecordFormat | undefined;
  /** The record key; default: the value's `id` when it is a string (window results: `<key>@<start>`), else none. */
  readonly key?: ((value: unknown) => unknown) | undefined;
  readonly transactionTimeoutMs: number;
  readonly checkpointIntervalMs?: number | undefined;
  /**
   * Write watermark records into every partition (marked by a header), at most every this many ms
   * and at every checkpoint, also while idle; records carry their event time as Kafka timestamp.
   */
  readonly watermarkIntervalMs?: number | undefined;
  /** The partition of a record (the keyed exchange: its key group); default: by key. */
  readonly partition?: ((value: unknown) => number) | undefined;
}

/** The default key: a window result's stable id, so that a compacted topic or an upserting reader keeps the newest revision. */
export function defaultKey(value: unknown): string | null {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : null;
}

/** A window result's revision, as a header (0 on time, +1 per re-firing within allowed lateness). */
function revisionHeader(value: unknown): Record<string, string> | undefined {
  const rev = (value as { revision?: unknown } | null)?.revision;
  return typeof rev === 'number' ? { 'weir.revision': String(rev) } : undefined;
}

/**
 * Writes to a topic, exactly once through the worker's one transaction per epoch (with the commit
 * marker), or at least once through an idempotent producer. Records are partitioned by key.
 */
export function kafkaSink(o: KafkaSinkOptions): SinkConnector<unknown> & { stopMarker(savepoint: string): void } {
  const format = o.format ?? 'json';
  const keyOf = o.key ?? defaultKey;
  let id = 'kafka-sink';
  let partitions: number[] = [];
  let worker = { index: 0, count: 1 };
  let watermark = MIN_WATERMARK;
  let writtenWatermark = MIN_WATERMARK;
  let writtenAt = 0;
  let stop: string | undefined;
  let stopNow: string | undefined;
  const inBand = o.watermarkIntervalMs !== undefined;
  const writeWatermark = (now: number): Promise<void> | undefined => {
    if (stopNow === undefined && watermark <= writtenWatermark && now - writtenAt < (o.watermarkIntervalMs ?? 0) * 10)
      return undefined;
    writtenWatermark = watermark;
    writtenAt = now;
    const value = encodeWatermark({ watermark, producer: worker.index, producers: worker.count, stop: stopNow });
    return o.scope.write(
      partitions.map((partition) => ({
        topic: o.topic,
        partition,
        key: null,
        value,
        headers: { [WATERMARK_HEADER]: String(worker.index) },
        timestamp: watermark > 0 ? watermark : undefined,
      })),
    );
  };
  return {
    type: 'kafka',
    stopMarker(savepoint) {
      // The next pre-commit (the savepoint's) tells readers this writer stops there.
      stop = savepoint;
    },
    async recover(ctx) {
      id = ctx.operatorId;
      o.scope.join(id, o.topic);
      const port = await o.port();
      partitions = await port.partitions(o.topic); // fails early, naming the topic, when it does not exist
      worker = ctx.task;
      if (o.scope.exactlyOnce) {
        const problem = transactionTimeoutProblem(
          id,
          o.transactionTimeoutMs,
          o.checkpointIntervalMs,
          await port.maxTransactionTimeoutMs(),
        );
        if (problem !== undefined) throw new Error(problem);
      }
      const r = await o.scope.recover(ctx.job, ctx.task.index, ctx.task.count, ctx.task.restoredCount);
      return { committedEpoch: r.committedEpoch };
    },
    recheck: () => o.scope.rereadMarker(),
    open: () => Promise.resolve(),
    onWatermark(wm) {
      if (!inBand || wm <= watermark) return undefined;
      watermark = wm;
      const now = Date.now();
      return now - writtenAt >= (o.watermarkIntervalMs ?? 0) ? writeWatermark(now) : undefined;
    },
    write(values, timestamps) {
      const records: OutgoingRecord[] = new Array<OutgoingRecord>(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const k = keyOf(v);
        records[i] = {
          topic: o.topic,
          partition: o.partition?.(v),
          key: k === null || k === undefined ? null : typeof k === 'string' ? k : JSON.stringify(k),
          value: encodeValue(v, format),
          headers: revisionHeader(v),
          // In-band watermarks speak of event time: the record's timestamp is its event time.
          timestamp: inBand ? timestamps?.[i] : undefined,
        };
      }
      return o.scope.write(records);
    },
    async preCommit(_epoch, savepoint): Promise<Json> {
      // A savepoint's pre-commit carries the stop marker the worker asked for; never another epoch's.
      if (savepoint !== true) stopNow = undefined;
      else stopNow = stop;
      // Every checkpoint re-states the watermark, so an idle upstream never holds downstream back.
      if (inBand) await writeWatermark(Date.now());
      stopNow = undefined;
      await o.scope.flush();
      return null;
    },
    async commit(epoch) {
      await o.scope.commit(id, epoch);
    },
    abort: () => o.scope.abort(),
    close: () => o.scope.close(),
  };
}
