import type {
  DeadLetterWriter,
  Json,
  PollResult,
  SourceConnector,
  SourceContext,
  SourceRecord,
  SourceSplit,
  TaskInfo,
} from '../contract.ts';
import { decodeRecord, MalformedRecordError, type RecordFormat } from './formats.ts';
import type { KafkaPort, KafkaReader, KafkaRecord, PartitionStart } from './port.ts';
import type { KafkaWriteScope } from './transactions.ts';
import { PartitionEventTime, WATERMARK_HEADER, decodeWatermark } from './watermarks.ts';

/** Where a partition starts: the offset, and the upstream producers' watermarks (in-band event time). */
type SplitStart = PartitionStart & { eventTime?: ReturnType<PartitionEventTime['snapshot']> | undefined };

export type StartFrom = 'earliest' | 'latest' | { readonly timestamp: number };

export interface KafkaSourceOptions {
  readonly port: () => Promise<KafkaPort>;
  readonly topic: string;
  /** Where partitions without a restored position start (default earliest). */
  readonly startFrom?: StartFrom | undefined;
  readonly format?: RecordFormat | undefined;
  /** Adds the record's topic, partition, offset, key, timestamp and headers to each value under this field. */
  readonly metadataField?: string | undefined;
  /** Records that cannot be decoded go here; absent, they fail the job. */
  readonly deadLetters?: DeadLetterWriter | undefined;
  /** Catch-up policy: records whose event time is this much older than processing time are dropped and counted. */
  readonly dropOlderThanMs?: number | undefined;
  readonly maxBufferedPerPartition?: number | undefined;
  /** The job's exactly-once write scope, if any: positions at each barrier are committed in its transaction for lag tools. */
  readonly progress?: (() => KafkaWriteScope | undefined) | undefined;
  /** How often to look for partitions added to the topic (default 30 s); they are read from their beginning. */
  readonly partitionDiscoveryMs?: number | undefined;
  /**
   * Records this job alone reads (the keyed exchange): once the positions of this many later commits
   * are committed, the records below the oldest are deleted from the topic (as Kafka Streams purges
   * its repartition topics), so that a topic without time-based retention does not grow forever.
   */
  readonly purgeAfterCommits?: number | undefined;
  /** Event time from the watermark records an upstream Weir sink wrote (hidden from the pipeline). */
  readonly inBandWatermarks?: boolean | undefined;
  /** The partitions a worker reads (default: p mod count; the keyed exchange assigns key-group ranges). */
  readonly assign?: ((partitions: readonly number[], task: TaskInfo) => number[]) | undefined;
}

/** Partitions this worker reads: partition p belongs to worker p mod count (stable, no rebalancing). */
export function partitionsForWorker(partitions: readonly number[], index: number, count: number): number[] {
  return partitions.filter((p) => p % count === index);
}

/** The consumer group whose offsets show this source's progress to lag tools (it never has members). */
export function lagGroupFor(job: string, operatorId: string): string {
  return `weir.${job}.${operatorId}`;
}

export function splitId(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

interface SourceCounters {
  droppedTooOld: number;
}

class PartitionSplit implements SourceSplit<unknown> {
  readonly id: string;
  readonly #reader: KafkaReader;
  readonly #topic: string;
  readonly #partition: number;
  readonly #o: KafkaSourceOptions;
  readonly #ctx: SourceContext;
  readonly #counters: SourceCounters;
  readonly #eventTime: PartitionEventTime | undefined;
  readonly watermarksInBand: boolean;
  #next: number;

  constructor(
    reader: KafkaReader,
    start: SplitStart,
    o: KafkaSourceOptions,
    ctx: SourceContext,
    counters: SourceCounters,
  ) {
    this.id = splitId(start.topic, start.partition);
    this.#reader = reader;
    this.#topic = start.topic;
    this.#partition = start.partition;
    this.#next = start.offset;
    this.#o = o;
    this.#ctx = ctx;
    this.#counters = counters;
    this.watermarksInBand = o.inBandWatermarks === true;
    this.#eventTime = this.watermarksInBand ? new PartitionEventTime() : undefined;
    this.#eventTime?.restore(start.eventTime);
  }

  /** Every upstream producer stopped at this savepoint, and this split read up to there. */
  stoppedAt(savepoint: string): boolean {
    return this.#eventTime?.stoppedAt(savepoint) ?? false;
  }

  poll(max: number): PollResult<unknown> {
    const failure = this.#reader.failure();
    if (failure !== undefined)
      throw new Error(`kafka source '${this.#ctx.operatorId}': the reader stopped: ${failure.message}`, {
        cause: failure,
      });
    const raw = this.#reader.take(this.#topic, this.#partition, max);
    if (raw.length === 0) return { records: [] };
    const out: SourceRecord<unknown>[] = [];
    const format = this.#o.format ?? 'json';
    const oldest = this.#o.dropOlderThanMs === undefined ? undefined : this.#ctx.now() - this.#o.dropOlderThanMs;
    let watermark: number | undefined;
    for (const r of raw) {
      this.#next = r.offset + 1;
      if (this.#eventTime !== undefined && r.headers[WATERMARK_HEADER] !== undefined) {
        const w = decodeWatermark(r.value);
        if (w !== undefined) watermark = this.#eventTime.observe(w);
        continue;
      }
      let value: unknown;
      try {
        value = decodeRecord(r, format, this.#o.metadataField);
      } catch (err) {
        if (!(err instanceof MalformedRecordError)) throw err;
        this.#deadLetter(r, err);
        continue;
      }
      if (oldest !== undefined && r.timestamp < oldest) {
        this.#counters.droppedTooOld++;
        continue;
      }
      out.push({ value, ts: r.timestamp, origin: r });
    }
    return { records: out, watermark };
  }

  #deadLetter(r: KafkaRecord, err: Error): void {
    const dl = this.#o.deadLetters;
    if (dl === undefined) {
      throw new Error(
        `kafka source '${this.#ctx.operatorId}' at ${r.topic}/${r.partition}@${r.offset}: ${err.message} (dead letters are off: set deadLetterTopic, or onError: fail)`,
        { cause: err },
      );
    }
    dl.write({
      operatorId: this.#ctx.operatorId,
      error: err.message,
      value: undefined,
      raw: { key: r.key, value: r.value, headers: r.headers },
      origin: r,
    });
  }

  snapshot(): Json {
    // Called at the barrier: the position that this epoch's transaction covers.
    this.#o
      .progress?.()
      ?.reportOffset(
        lagGroupFor(this.#ctx.job, this.#ctx.operatorId),
        this.#topic,
        this.#partition,
        this.#next,
        this.#o.purgeAfterCommits,
      );
    return this.#eventTime === undefined
      ? { offset: this.#next }
      : { offset: this.#next, eventTime: this.#eventTime.snapshot() };
  }

  backlog(): number | undefined {
    const high = this.#reader.highWatermark(this.#topic, this.#partition);
    return high === undefined ? undefined : Math.max(0, high - this.#next);
  }

  pause(): void {
    this.#reader.pause(this.#topic, this.#partition);
  }

  resume(): void {
    this.#reader.resume(this.#topic, this.#partition);
  }

  async close(): Promise<void> {
    // The reader is shared by the worker's splits; the source closes it once.
  }
}

/**
 * Reads a topic's partitions with explicit assignment (partition p to worker p mod count),
 * `read_committed`, positions in checkpoints only. One split per partition, so watermarks and
 * idleness are per partition.
 */
export function kafkaSource(
  o: KafkaSourceOptions,
): SourceConnector<unknown> & { counters(): SourceCounters; stoppedAt(savepoint: string): boolean } {
  const counters: SourceCounters = { droppedTooOld: 0 };
  const assign = o.assign ?? ((ps: readonly number[], t: TaskInfo) => partitionsForWorker(ps, t.index, t.count));
  let splits: PartitionSplit[] = [];
  const known = new Set<number>();
  let opened: SourceContext | undefined;
  let lastDiscovery = 0;
  const readerFor = async (ctx: SourceContext, starts: SplitStart[]): Promise<KafkaReader> => {
    const port = await o.port();
    const reader = await port.reader({
      clientId: `weir.${ctx.job}.${ctx.operatorId}.w${ctx.task.index}`,
      starts,
      maxBufferedPerPartition: o.maxBufferedPerPartition ?? 20_000,
    });
    // The job ended: close the reader, then the connection (idempotent: sinks may share it).
    ctx.signal.addEventListener(
      'abort',
      () =>
        void reader
          .close()
          .then(
            () => port.close(),
            () => port.close(),
          )
          .catch(() => undefined),
      { once: true },
    );
    return reader;
  };
  return {
    type: 'kafka',
    counters: () => ({ ...counters }),
    stoppedAt: (savepoint) => splits.every((sp) => sp.stoppedAt(savepoint)),
    dropped: () => counters.droppedTooOld,
    async discover() {
      const ctx = opened;
      if (ctx === undefined || ctx.signal.aborted) return [];
      const now = ctx.now();
      if (now - lastDiscovery < (o.partitionDiscoveryMs ?? 30_000)) return [];
      lastDiscovery = now;
      const port = await o.port();
      const added = assign(await port.partitions(o.topic, true), ctx.task).filter((p) => !known.has(p));
      if (added.length === 0) return [];
      const lows = new Map((await port.offsets(o.topic)).map((x) => [x.partition, x.low]));
      const starts: SplitStart[] = added.map((p) => ({ topic: o.topic, partition: p, offset: lows.get(p) ?? 0 }));
      for (const p of added) known.add(p);
      const reader = await readerFor(ctx, starts);
      const more = starts.map((s) => new PartitionSplit(reader, s, o, ctx, counters));
      splits = [...splits, ...more];
      return more;
    },
    async open(ctx) {
      const port = await o.port();
      const mine = assign(await port.partitions(o.topic), ctx.task);
      const startFrom = o.startFrom ?? 'earliest';
      const fallback = new Map<number, number>();
      const need = mine.filter((p) => !ctx.restored.has(splitId(o.topic, p)));
      if (need.length > 0) {
        const offsets =
          typeof startFrom === 'object'
            ? await port.offsetsForTime(o.topic, startFrom.timestamp)
            : (await port.offsets(o.topic)).map((x) => ({
                partition: x.partition,
                offset: startFrom === 'earliest' ? x.low : x.high,
              }));
        for (const x of offsets) fallback.set(x.partition, x.offset);
      }
      const starts: SplitStart[] = mine.map((p) => {
        const saved = ctx.restored.get(splitId(o.topic, p)) as
          Partial<Omit<SplitStart, 'topic' | 'partition'>> | undefined;
        return {
          topic: o.topic,
          partition: p,
          offset: saved?.offset ?? fallback.get(p) ?? 0,
          eventTime: saved?.eventTime,
        };
      });
      opened = ctx;
      lastDiscovery = ctx.now();
      for (const p of mine) known.add(p);
      if (starts.length === 0) return [];
      const reader = await readerFor(ctx, starts);
      splits = starts.map((s) => new PartitionSplit(reader, s, o, ctx, counters));
      return splits;
    },
  };
}
