/**
 * The narrow port the Kafka connectors use; `kafkajs.ts` implements it. Another client (e.g.
 * @platformatic/kafka or librdkafka) replaces kafkajs by implementing these interfaces.
 */

export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** The record's timestamp (CreateTime or LogAppendTime), ms. */
  readonly timestamp: number;
}

export interface OutgoingRecord {
  readonly topic: string;
  readonly key: string | Buffer | null;
  readonly value: string | Buffer | null;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly partition?: number | undefined;
  /** The record timestamp (ms); absent: the producer's clock. */
  readonly timestamp?: number | undefined;
}

export interface PartitionStart {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read. */
  readonly offset: number;
}

/** Reads explicitly assigned partitions (no group rebalancing), `read_committed`; fetching runs in the background. */
export interface KafkaReader {
  /** Takes up to `max` fetched records of one partition, in offset order. */
  take(topic: string, partition: number, max: number): KafkaRecord[];
  buffered(topic: string, partition: number): number;
  /** The partition's high watermark as last fetched (for lag), if known. */
  highWatermark(topic: string, partition: number): number | undefined;
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  /** A background failure (the reader stopped), if any. */
  failure(): Error | undefined;
  close(): Promise<void>;
}

export interface CommitMarker {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly metadata: string;
}

/** A member-less consumer group's committed positions on one topic. */
export interface GroupOffsets {
  readonly group: string;
  readonly topic: string;
  readonly partitions: readonly { readonly partition: number; readonly offset: number }[];
}

/** One transactional identity. Opening it fences every earlier producer with the same id and aborts its open transaction. */
export interface TransactionalWriter {
  send(records: readonly OutgoingRecord[]): Promise<void>;
  /**
   * Commits the open transaction (begun by the first send since the last commit), with `marker`
   * as an offset commit inside it, and `offsets` (consumer groups' positions, for lag tools) too.
   */
  commit(marker: CommitMarker, offsets?: readonly GroupOffsets[]): Promise<void>;
  abort(): Promise<void>;
  close(): Promise<void>;
}

export interface PlainWriter {
  send(records: readonly OutgoingRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface TopicOffsets {
  readonly partition: number;
  readonly low: number;
  readonly high: number;
}

export interface KafkaPort {
  /** The topic's partitions; `fresh` asks the brokers rather than the client's metadata cache. */
  partitions(topic: string, fresh?: boolean): Promise<number[]>;
  offsets(topic: string): Promise<TopicOffsets[]>;
  /** The first offset at or after `timestamp` per partition (the end when there is none). */
  offsetsForTime(topic: string, timestamp: number): Promise<{ partition: number; offset: number }[]>;
  /** What a marker commit left for `group` on `topic`/`partition`, if any. */
  readMarker(
    group: string,
    topic: string,
    partition: number,
  ): Promise<{ offset: number; metadata: string } | undefined>;
  /**
   * Creates the topic with this many partitions (and these topic configs) unless it exists; fails
   * if it exists with fewer partitions. An existing topic gets the configs set.
   */
  ensureTopic(topic: string, partitions: number, configs?: Readonly<Record<string, string>>): Promise<void>;
  /** Deletes the records of each partition below its offset (read by everyone who will ever need them). */
  deleteRecordsBefore(topic: string, partitions: readonly { partition: number; offset: number }[]): Promise<void>;
  /** Deletes those of `topics` that exist; returns them. */
  deleteTopics(topics: readonly string[]): Promise<string[]>;
  /** `transaction.max.timeout.ms` of the brokers. */
  maxTransactionTimeoutMs(): Promise<number | undefined>;
  reader(options: {
    clientId: string;
    starts: readonly PartitionStart[];
    maxBufferedPerPartition: number;
  }): Promise<KafkaReader>;
  transactionalWriter(options: { transactionalId: string; transactionTimeoutMs: number }): Promise<TransactionalWriter>;
  plainWriter(): Promise<PlainWriter>;
  close(): Promise<void>;
}
