import type { KafkaPort, OutgoingRecord, PlainWriter, TransactionalWriter } from './port.ts';
import { PurgeHistory } from './purge-history.ts';

/** Transactional id of one worker's writes for one job: stable across restarts, so that a restart fences its zombie. */
export function transactionalIdFor(job: string, worker: number): string {
  return `weir.${job}.w${worker}`;
}

/** The group that holds a worker's commit markers (never has members). */
export function markerGroupFor(job: string, worker: number): string {
  return `weir.${job}.w${worker}.commits`;
}

/** Workers that existed in the restored snapshot but no longer do, whose ids worker `index` of `count` fences (as Flink: j % count == index). */
export function orphanedWorkers(index: number, count: number, restoredCount: number | undefined): number[] {
  const out: number[] = [];
  for (let j = count; j < (restoredCount ?? 0); j++) if (j % count === index) out.push(j);
  return out;
}

export interface MarkerPayload {
  readonly epoch: number;
}

export function parseMarker(metadata: string): MarkerPayload | undefined {
  try {
    const m = JSON.parse(metadata) as Partial<MarkerPayload> | null;
    return typeof m?.epoch === 'number' ? { epoch: m.epoch } : undefined;
  } catch {
    return undefined;
  }
}

/** `transaction.timeout.ms` must outlive an epoch plus a stalled checkpoint, and stay under the brokers' bound. */
export function transactionTimeoutProblem(
  sink: string,
  timeoutMs: number,
  checkpointIntervalMs: number | undefined,
  brokerMaxMs: number | undefined,
): string | undefined {
  if (brokerMaxMs !== undefined && timeoutMs > brokerMaxMs) {
    return `sink '${sink}': transactionTimeout (${timeoutMs} ms) is above the brokers' transaction.max.timeout.ms (${brokerMaxMs} ms); lower it or raise the broker setting`;
  }
  if (checkpointIntervalMs !== undefined && timeoutMs < 3 * checkpointIntervalMs) {
    return `sink '${sink}': transactionTimeout (${timeoutMs} ms) must be at least 3 × checkpoints.interval (${checkpointIntervalMs} ms): a transaction stays open for a whole epoch and may wait for a slow checkpoint; raise transactionTimeout or checkpoint more often`;
  }
  return undefined;
}

/** Records per produce request: 1,000 records of a few hundred bytes stay well under 1 MiB. */
const SEND_CHUNK = 1000;

export interface ScopeOptions {
  readonly exactlyOnce: boolean;
  readonly transactionTimeoutMs: number;
}

/**
 * Every Kafka write of one worker of one job, in one transaction per epoch, with the commit marker
 * inside it (the commit protocol in `connectors/contract.ts`): several sinks and the dead-letter
 * topic share it, so that one snapshot always matches exactly one transaction.
 */
export class KafkaWriteScope {
  readonly #port: () => Promise<KafkaPort>;
  readonly #o: ScopeOptions;
  #writer: Promise<TransactionalWriter | PlainWriter> | undefined;
  #recovered: Promise<{ committedEpoch: number | undefined }> | undefined;
  #pending: OutgoingRecord[] = [];
  #inFlight: Promise<void> = Promise.resolve();
  #markerTopic: string | undefined;
  #job = '';
  #worker = 0;
  readonly #sinks = new Set<string>();
  #commitsThisEpoch = new Set<string>();
  /** Source positions of the epoch being committed, by group and topic (committed with it, for lag tools). */
  #offsets = new Map<string, { group: string; topic: string; partitions: Map<number, number> }>();

  readonly #purge = new PurgeHistory();
  /** Deletions in flight, one after the other; `close` waits for them (they use the port's connections). */
  #purging: Promise<void> = Promise.resolve();

  constructor(port: () => Promise<KafkaPort>, options: ScopeOptions) {
    this.#port = port;
    this.#o = options;
  }

  get exactlyOnce(): boolean {
    return this.#o.exactlyOnce;
  }

  /** A sink joins the scope; the first one's topic holds the marker. */
  join(sinkId: string, topic: string): void {
    this.#sinks.add(sinkId);
    this.#markerTopic ??= topic;
  }

  /**
   * Fences older writers of this worker (and of workers removed by a downscale), aborting their
   * open transactions, then reads the marker. Once per job start, whichever sink asks first.
   */
  recover(
    job: string,
    worker: number,
    count: number,
    restoredCount: number | undefined,
  ): Promise<{ committedEpoch: number | undefined }> {
    this.#recovered ??= (async () => {
      this.#job = job;
      this.#worker = worker;
      const port = await this.#port();
      if (!this.#o.exactlyOnce) {
        this.#writer = port.plainWriter();
        await this.#writer;
        return { committedEpoch: undefined };
      }
      for (const j of orphanedWorkers(worker, count, restoredCount)) {
        const zombie = await port.transactionalWriter({
          transactionalId: transactionalIdFor(job, j),
          transactionTimeoutMs: this.#o.transactionTimeoutMs,
        });
        await zombie.close();
      }
      this.#writer = port.transactionalWriter({
        transactionalId: transactionalIdFor(job, worker),
        transactionTimeoutMs: this.#o.transactionTimeoutMs,
      });
      await this.#writer;
      const topic = this.#markerTopic;
      if (topic === undefined) throw new Error('kafka: a write scope without sinks cannot recover');
      const m = await port.readMarker(markerGroupFor(job, worker), topic, 0);
      const epoch = m === undefined ? undefined : parseMarker(m.metadata)?.epoch;
      // No marker yet: nothing was ever committed; epoch 0 says so (a pending snapshot is then discarded).
      return { committedEpoch: epoch ?? 0 };
    })();
    return this.#recovered;
  }

  /** The marker read again (see `SinkConnector.recheck`). */
  async rereadMarker(): Promise<{ committedEpoch: number | undefined }> {
    if (!this.#o.exactlyOnce) return { committedEpoch: undefined };
    await this.#recovered;
    const topic = this.#markerTopic;
    if (topic === undefined) throw new Error('kafka: a write scope without sinks cannot recover');
    const m = await (await this.#port()).readMarker(markerGroupFor(this.#job, this.#worker), topic, 0);
    const epoch = m === undefined ? undefined : parseMarker(m.metadata)?.epoch;
    return { committedEpoch: epoch ?? 0 };
  }

  /**
   * A Kafka source's position at this epoch's barrier: committed in the epoch's transaction (Kafka
   * Streams does the same). With `purgeAfterCommits`, records below it are deleted from the topic
   * once that many later commits have succeeded (see `purgeBelow`).
   */
  reportOffset(group: string, topic: string, partition: number, offset: number, purgeAfterCommits?: number): void {
    const key = `${group}\u0000${topic}`;
    let g = this.#offsets.get(key);
    if (g === undefined) this.#offsets.set(key, (g = { group, topic, partitions: new Map() }));
    g.partitions.set(partition, offset);
    if (purgeAfterCommits !== undefined) this.#purge.keep(topic, purgeAfterCommits);
  }

  /** Queues records; they are sent in the background and at the latest by `flush`. */
  write(records: readonly OutgoingRecord[]): Promise<void> | undefined {
    for (const r of records) this.#pending.push(r);
    if (this.#pending.length < SEND_CHUNK) return undefined;
    return this.#send();
  }

  #send(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    this.#inFlight = this.#inFlight.then(async () => {
      const w = await this.#writerOrFail();
      // One produce request must stay under the broker's message.max.bytes (1 MiB by default).
      for (let i = 0; i < batch.length; i += SEND_CHUNK) await w.send(batch.slice(i, i + SEND_CHUNK));
    });
    return this.#inFlight;
  }

  async #writerOrFail(): Promise<TransactionalWriter | PlainWriter> {
    if (this.#writer === undefined) throw new Error('kafka: write before recover');
    return this.#writer;
  }

  async flush(): Promise<void> {
    if (this.#pending.length > 0) void this.#send();
    await this.#inFlight;
  }

  /**
   * Commits epoch N once every sink of the scope asked (they share one transaction); the
   * marker records N inside the transaction.
   */
  async commit(sinkId: string, epoch: number): Promise<void> {
    this.#commitsThisEpoch.add(sinkId);
    if (this.#commitsThisEpoch.size < this.#sinks.size) return;
    this.#commitsThisEpoch = new Set();
    await this.flush();
    if (!this.#o.exactlyOnce) return;
    const w = (await this.#writerOrFail()) as TransactionalWriter;
    const topic = this.#markerTopic ?? '';
    const offsets = [...this.#offsets.values()].map((g) => ({
      group: g.group,
      topic: g.topic,
      partitions: [...g.partitions].map(([partition, offset]) => ({ partition, offset })),
    }));
    this.#offsets = new Map();
    const purgeable = offsets.filter((g) => this.#purge.watches(g.topic));
    await w.commit(
      {
        group: markerGroupFor(this.#job, this.#worker),
        topic,
        partition: 0,
        offset: epoch,
        metadata: JSON.stringify({ epoch } satisfies MarkerPayload),
      },
      offsets,
    );
    // Committed: the positions are durable. Deleting below an old enough one is best effort (the next commit retries).
    for (const [topic, partitions] of this.#purge.committed(purgeable))
      this.#purging = this.#purging
        .then(async () => (await this.#port()).deleteRecordsBefore(topic, partitions))
        .catch(() => undefined);
  }

  async abort(): Promise<void> {
    this.#pending = [];
    await this.#inFlight.catch(() => undefined);
    if (!this.#o.exactlyOnce || this.#writer === undefined) return;
    const w = (await this.#writer) as TransactionalWriter;
    await w.abort().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#pending = [];
    await this.#inFlight.catch(() => undefined);
    await this.#purging;
    const port = await this.#port();
    await port.close();
  }
}
