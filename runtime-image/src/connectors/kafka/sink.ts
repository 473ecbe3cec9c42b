import type { Json, SinkConnector } from '../contract.ts';
import { encodeValue, type RecordFormat } from './formats.ts';
import type { KafkaPort, OutgoingRecord } from './port.ts';
import { transactionTimeoutProblem, type KafkaWriteScope } from './transactions.ts';

export interface KafkaSinkOptions {
  readonly port: () => Promise<KafkaPort>;
  readonly scope: KafkaWriteScope;
  readonly topic: string;
  readonly format?: RecordFormat | undefined;
  /** The record key; default: the value's `id` when it is a string (window results: `<key>@<start>`), else none. */
  readonly key?: ((value: unknown) => unknown) | undefined;
  readonly transactionTimeoutMs: number;
  readonly checkpointIntervalMs?: number | undefined;
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
export function kafkaSink(o: KafkaSinkOptions): SinkConnector<unknown> {
  const format = o.format ?? 'json';
  const keyOf = o.key ?? defaultKey;
  let id = 'kafka-sink';
  return {
    type: 'kafka',
    async recover(ctx) {
      id = ctx.operatorId;
      o.scope.join(id, o.topic);
      const port = await o.port();
      await port.partitions(o.topic); // fails early, naming the topic, when it does not exist
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
    open: () => Promise.resolve(),
    write(values) {
      const records: OutgoingRecord[] = new Array<OutgoingRecord>(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const k = keyOf(v);
        records[i] = {
          topic: o.topic,
          key: k === null || k === undefined ? null : typeof k === 'string' ? k : JSON.stringify(k),
          value: encodeValue(v, format),
          headers: revisionHeader(v),
        };
      }
      return o.scope.write(records);
    },
    async preCommit(): Promise<Json> {
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
