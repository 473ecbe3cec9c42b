// First: replace kafkajs internals (its aborted-transaction filter, slow steps) before kafkajs loads them.
import './aborted-filter.ts';
import './consumer-fast-paths.ts';
import './producer-fast-paths.ts';
import { randomBytes } from 'node:crypto';
import kafkajs, {
  type Admin,
  type Consumer,
  type KafkaConfig,
  type Producer,
  type SASLOptions,
  type Transaction,
} from 'kafkajs';

// kafkajs is CommonJS: its runtime values come from the default export.
const { AssignerProtocol, ConfigResourceTypes, Kafka, logLevel } = kafkajs;
import type { KafkaConnection } from './connection.ts';
import { javaCompatiblePartitioner } from './producer-fast-paths.ts';
import type {
  CommitMarker,
  GroupOffsets,
  KafkaPort,
  KafkaReader,
  KafkaRecord,
  OutgoingRecord,
  PartitionStart,
  PlainWriter,
  TransactionalWriter,
} from './port.ts';

/** Shared by every fetched record without headers (records are read-only). */
const NO_HEADERS: Record<string, string> = Object.freeze({});

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

function kafkaConfig(c: KafkaConnection, clientId: string): KafkaConfig {
  const sasl: SASLOptions | undefined =
    c.sasl === undefined
      ? undefined
      : c.sasl.mechanism === 'plain'
        ? { mechanism: 'plain', username: c.sasl.username, password: c.sasl.password }
        : c.sasl.mechanism === 'scram-sha-256'
          ? { mechanism: 'scram-sha-256', username: c.sasl.username, password: c.sasl.password }
          : { mechanism: 'scram-sha-512', username: c.sasl.username, password: c.sasl.password };
  return {
    clientId,
    brokers: [...c.brokers],
    ssl: c.tls === undefined ? undefined : { ca: c.tls.ca, cert: c.tls.cert, key: c.tls.key },
    sasl,
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5000 },
  };
}

function isConcurrentTransactions(err: unknown): boolean {
  const e = err as { type?: string; cause?: unknown; message?: string } | undefined;
  return (
    e?.type === 'CONCURRENT_TRANSACTIONS' || /CONCURRENT_TRANSACTIONS|concurrent transaction/i.test(e?.message ?? '')
  );
}

/**
 * kafkajs does not retry CONCURRENT_TRANSACTIONS everywhere (kafkajs#430, #1068): the coordinator
 * answers it while it finishes the previous commit or abort. Retry with backoff, bounded.
 */
async function retryConcurrent<T>(what: string, f: () => Promise<T>): Promise<T> {
  return retryWhile(isConcurrentTransactions, what, f);
}

/**
 * kafkajs' admin does not retry what the broker says is retriable either, e.g. NOT_COORDINATOR
 * while a freshly started broker still loads its group metadata: retry with backoff, bounded.
 */
function retryRetriable<T>(what: string, f: () => Promise<T>): Promise<T> {
  return retryWhile((err) => (err as { retriable?: unknown } | undefined)?.retriable === true, what, f);
}

async function retryWhile<T>(retry: (err: unknown) => boolean, what: string, f: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await f();
    } catch (err) {
      if (!retry(err) || attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** Math.min(attempt, 5), 1000)));
    }
  }
  throw new Error(`unreachable: ${what}`);
}

class KafkajsReader implements KafkaReader {
  readonly #consumer: Consumer;
  readonly #queues = new Map<string, KafkaRecord[]>();
  readonly #next = new Map<string, number>();
  readonly #high = new Map<string, number>();
  readonly #paused = new Set<string>();
  readonly #limit: number;
  #failure: Error | undefined;

  constructor(consumer: Consumer, starts: readonly PartitionStart[], limit: number) {
    this.#consumer = consumer;
    this.#limit = limit;
    for (const s of starts) {
      this.#queues.set(key(s.topic, s.partition), []);
      this.#next.set(key(s.topic, s.partition), s.offset);
    }
  }

  async start(starts: readonly PartitionStart[]): Promise<void> {
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: ({ batch }) => {
        const k = key(batch.topic, batch.partition);
        const q = this.#queues.get(k);
        if (q === undefined) return Promise.resolve();
        this.#high.set(k, Number(batch.highWatermark));
        let next = this.#next.get(k) ?? 0;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          // A fetch that began before the seek took effect may deliver records below the start.
          if (offset < next) continue;
          next = offset + 1;
          let headers: Record<string, string> = NO_HEADERS;
          for (const h in m.headers) {
            const v = m.headers[h];
            if (headers === NO_HEADERS) headers = {};
            if (v !== undefined) headers[h] = Array.isArray(v) ? String(v[0]) : v.toString();
          }
          q.push({
            topic: batch.topic,
            partition: batch.partition,
            offset,
            key: m.key,
            value: m.value,
            headers,
            timestamp: Number(m.timestamp),
          });
        }
        this.#next.set(k, next);
        if (q.length >= this.#limit) this.#pauseFetch(batch.topic, batch.partition);
        return Promise.resolve();
      },
    });
    for (const s of starts) this.#consumer.seek({ topic: s.topic, partition: s.partition, offset: String(s.offset) });
  }

  fail(err: Error): void {
    this.#failure ??= err;
  }

  #pauseFetch(topic: string, partition: number): void {
    this.#consumer.pause([{ topic, partitions: [partition] }]);
  }

  take(topic: string, partition: number, max: number): KafkaRecord[] {
    const k = key(topic, partition);
    const q = this.#queues.get(k);
    if (q === undefined || q.length === 0) return [];
    const out = q.length <= max ? q.splice(0) : q.splice(0, max);
    if (q.length < this.#limit / 2 && !this.#paused.has(k)) this.#consumer.resume([{ topic, partitions: [partition] }]);
    return out;
  }

  buffered(topic: string, partition: number): number {
    return this.#queues.get(key(topic, partition))?.length ?? 0;
  }

  highWatermark(topic: string, partition: number): number | undefined {
    return this.#high.get(key(topic, partition));
  }

  pause(topic: string, partition: number): void {
    this.#paused.add(key(topic, partition));
    this.#pauseFetch(topic, partition);
  }

  resume(topic: string, partition: number): void {
    const k = key(topic, partition);
    this.#paused.delete(k);
    if ((this.#queues.get(k)?.length ?? 0) < this.#limit) this.#consumer.resume([{ topic, partitions: [partition] }]);
  }

  failure(): Error | undefined {
    return this.#failure;
  }

  async close(): Promise<void> {
    await this.#consumer.disconnect();
  }
}

class KafkajsTransactionalWriter implements TransactionalWriter {
  readonly #producer: Producer;
  #txn: Transaction | undefined;

  constructor(producer: Producer) {
    this.#producer = producer;
  }

  async #open(): Promise<Transaction> {
    this.#txn ??= await retryConcurrent('begin', () => this.#producer.transaction());
    return this.#txn;
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const txn = await this.#open();
    await retryConcurrent('send', () => txn.sendBatch({ topicMessages: toTopicMessages(records) }));
  }

  async commit(marker: CommitMarker, offsets: readonly GroupOffsets[] = []): Promise<void> {
    const txn = await this.#open();
    for (const g of offsets) {
      await retryConcurrent('offsets', () =>
        txn.sendOffsets({
          consumerGroupId: g.group,
          topics: [
            {
              topic: g.topic,
              partitions: g.partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) })),
            },
          ],
        }),
      );
    }
    await retryConcurrent('marker', () =>
      txn.sendOffsets({
        consumerGroupId: marker.group,
        topics: [
          {
            topic: marker.topic,
            // kafkajs passes `metadata` through to TxnOffsetCommit although its types omit it.
            partitions: [
              { partition: marker.partition, offset: String(marker.offset), metadata: marker.metadata } as {
                partition: number;
                offset: string;
              },
            ],
          },
        ],
      }),
    );
    await txn.commit();
    this.#txn = undefined;
  }

  async abort(): Promise<void> {
    const txn = this.#txn;
    this.#txn = undefined;
    if (txn?.isActive() === true) await txn.abort();
  }

  async close(): Promise<void> {
    await this.#producer.disconnect();
  }
}

interface TopicMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Readonly<Record<string, string>>;
  partition?: number;
  timestamp?: string;
}

/** The records grouped by topic, as kafkajs takes them (one object per record: this runs per record sent). */
function toTopicMessages(records: readonly OutgoingRecord[]): { topic: string; messages: TopicMessage[] }[] {
  const byTopic = new Map<string, TopicMessage[]>();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (list === undefined) byTopic.set(r.topic, (list = []));
    const m: TopicMessage = { key: r.key, value: r.value };
    if (r.headers !== undefined) m.headers = r.headers;
    if (r.partition !== undefined) m.partition = r.partition;
    if (r.timestamp !== undefined) m.timestamp = String(r.timestamp);
    list.push(m);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/** The KafkaPort on kafkajs 2.2. */
export class KafkajsPort implements KafkaPort {
  readonly #kafka: InstanceType<typeof Kafka>;
  #admin: Promise<Admin> | undefined;
  #purgeAdmin: Promise<Admin> | undefined;
  #closed = false;
  readonly #closables: { close(): Promise<void> }[] = [];

  constructor(connection: KafkaConnection, clientId = 'weir') {
    this.#kafka = new Kafka(kafkaConfig(connection, clientId));
  }

  async #connectedAdmin(): Promise<Admin> {
    const admin = this.#kafka.admin();
    await admin.connect();
    return admin;
  }

  #adminClient(): Promise<Admin> {
    this.#admin ??= this.#connectedAdmin();
    return this.#admin;
  }

  async partitions(topic: string, fresh = false): Promise<number[]> {
    // kafkajs serves known topics from its metadata cache (up to 5 min old): a new client sees added partitions.
    const admin = fresh ? this.#kafka.admin() : await this.#adminClient();
    if (fresh) await admin.connect();
    const md = await admin.fetchTopicMetadata({ topics: [topic] }).finally(async () => {
      if (fresh) await admin.disconnect();
    });
    const t = md.topics.find((x) => x.name === topic);
    if (t === undefined) throw new Error(`kafka: topic '${topic}' does not exist`);
    return t.partitions.map((p) => p.partitionId).sort((a, b) => a - b);
  }

  async deleteRecordsBefore(
    topic: string,
    partitions: readonly { partition: number; offset: number }[],
  ): Promise<void> {
    if (partitions.length === 0 || this.#closed) return;
    // An admin client of its own: kafkajs finds the leaders in its metadata cache, which the shared
    // admin's other calls refresh for other topics ("Topic metadata not loaded").
    this.#purgeAdmin ??= this.#connectedAdmin();
    const admin = await this.#purgeAdmin;
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({
      topic,
      partitions: partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) })),
    });
  }

  async deleteTopics(topics: readonly string[]): Promise<string[]> {
    if (topics.length === 0) return [];
    const admin = await this.#adminClient();
    const existing = new Set(await admin.listTopics());
    const gone = topics.filter((t) => existing.has(t));
    if (gone.length > 0) await admin.deleteTopics({ topics: gone });
    return gone;
  }

  async ensureTopic(topic: string, partitions: number, configs: Readonly<Record<string, string>> = {}): Promise<void> {
    const admin = await this.#adminClient();
    const configEntries = Object.entries(configs).map(([name, value]) => ({ name, value }));
    try {
      // Leaders are awaited below: kafkajs' own wait gives up on UNKNOWN_TOPIC_OR_PARTITION from a busy broker.
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: partitions, configEntries }],
        waitForLeaders: false,
      });
      if (!created && configEntries.length > 0)
        await admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries }],
        });
    } catch (err) {
      // Another worker created it first (with the same configs).
      if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
    }
    // A new topic's partitions need a leader before anyone reads or writes them.
    const have = await retryRetriable(`leaders of ${topic}`, async () => {
      const md = await (await this.#adminClient()).fetchTopicMetadata({ topics: [topic] });
      const ps = md.topics.find((x) => x.name === topic)?.partitions ?? [];
      if (ps.length < partitions || ps.some((p) => p.leader < 0 || p.partitionErrorCode !== 0)) {
        throw Object.assign(new Error(`kafka: topic '${topic}' has no leader for every partition yet`), {
          retriable: true,
        });
      }
      return ps.map((p) => p.partitionId);
    });
    if (have.length < partitions) {
      throw new Error(
        `kafka: topic '${topic}' has ${have.length} partitions, the job needs ${partitions} (one per key group): delete it or raise its partitions`,
      );
    }
  }

  async offsets(topic: string): Promise<{ partition: number; low: number; high: number }[]> {
    const admin = await this.#adminClient();
    // Right after a topic is created its leaders may still move (NOT_LEADER is retriable).
    return (await retryRetriable(`offsets of ${topic}`, () => admin.fetchTopicOffsets(topic))).map((o) => ({
      partition: o.partition,
      low: Number(o.low),
      high: Number(o.high),
    }));
  }

  async offsetsForTime(topic: string, timestamp: number): Promise<{ partition: number; offset: number }[]> {
    const admin = await this.#adminClient();
    return (await admin.fetchTopicOffsetsByTimestamp(topic, timestamp)).map((o) => ({
      partition: o.partition,
      offset: Number(o.offset),
    }));
  }

  async readMarker(
    group: string,
    topic: string,
    partition: number,
  ): Promise<{ offset: number; metadata: string } | undefined> {
    const admin = await this.#adminClient();
    const res = await retryRetriable('marker', () => admin.fetchOffsets({ groupId: group, topics: [topic] }));
    const p = res.find((t) => t.topic === topic)?.partitions.find((x) => x.partition === partition);
    if (p === undefined || Number(p.offset) < 0) return undefined;
    return { offset: Number(p.offset), metadata: p.metadata ?? '' };
  }

  async maxTransactionTimeoutMs(): Promise<number | undefined> {
    const admin = await this.#adminClient();
    const cluster = await admin.describeCluster();
    const broker = cluster.brokers[0];
    if (broker === undefined) return undefined;
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.BROKER, name: String(broker.nodeId), configNames: ['transaction.max.timeout.ms'] },
      ],
    });
    const v = res.resources[0]?.configEntries.find((e) => e.configName === 'transaction.max.timeout.ms')?.configValue;
    return v === undefined ? undefined : Number(v);
  }

  async reader(options: {
    clientId: string;
    starts: readonly PartitionStart[];
    maxBufferedPerPartition: number;
  }): Promise<KafkaReader> {
    const assigned = new Map<string, number[]>();
    for (const s of options.starts) {
      const list = assigned.get(s.topic) ?? [];
      list.push(s.partition);
      assigned.set(s.topic, list);
    }
    // A group of its own per reader, whose one member always gets exactly these partitions:
    // kafkajs has no assign(); this is the nearest to it, and nothing ever rebalances them away.
    const groupId = `${options.clientId}.${randomBytes(6).toString('hex')}`;
    const consumer = this.#kafka.consumer({
      groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 100,
      sessionTimeout: 30_000,
      allowAutoTopicCreation: false,
      partitionAssigners: [
        () => ({
          name: 'WeirFixedAssigner',
          version: 1,
          assign: ({ members }) =>
            Promise.resolve(
              members.map((m) => ({
                memberId: m.memberId,
                memberAssignment: AssignerProtocol.MemberAssignment.encode({
                  version: 1,
                  assignment: Object.fromEntries(assigned),
                  userData: Buffer.alloc(0),
                }),
              })),
            ),
          protocol: ({ topics }) => ({
            name: 'WeirFixedAssigner',
            metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
          }),
        }),
      ],
    });
    const reader = new KafkajsReader(consumer, options.starts, options.maxBufferedPerPartition);
    consumer.on(consumer.events.CRASH, (e) => {
      reader.fail(e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...assigned.keys()], fromBeginning: true });
    await reader.start(options.starts);
    this.#closables.push(reader);
    return reader;
  }

  async transactionalWriter(options: {
    transactionalId: string;
    transactionTimeoutMs: number;
  }): Promise<TransactionalWriter> {
    const producer = this.#kafka.producer({
      transactionalId: options.transactionalId,
      transactionTimeout: options.transactionTimeoutMs,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: javaCompatiblePartitioner,
    });
    await producer.connect();
    // kafkajs sends InitProducerId only with the first transaction(), not on connect(). Begin and
    // end an empty one now: that fences older holders of the id, and returns only once their
    // transaction is finished (aborted, or its commit completed), so a marker read next is stable.
    const init = await retryConcurrent('init', () => producer.transaction());
    await init.abort();
    const w = new KafkajsTransactionalWriter(producer);
    this.#closables.push(w);
    return w;
  }

  async plainWriter(): Promise<PlainWriter> {
    const producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: javaCompatiblePartitioner,
    });
    await producer.connect();
    const w: PlainWriter = {
      send: async (records) => {
        if (records.length > 0) await producer.sendBatch({ topicMessages: toTopicMessages(records), acks: -1 });
      },
      close: () => producer.disconnect(),
    };
    this.#closables.push(w);
    return w;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = this.#closables.splice(0);
    await Promise.allSettled(all.map((c) => c.close()));
    for (const admin of [this.#admin, this.#purgeAdmin]) if (admin !== undefined) await (await admin).disconnect();
    this.#admin = undefined;
    this.#purgeAdmin = undefined;
  }
}
