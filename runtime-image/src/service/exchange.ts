// The keyed exchange between stages, through Kafka: one topic per keyBy (and per generation of
// the exchange), one partition per key group, written exactly once in the writing stage's
// transaction with its watermarks in band, read `read_committed` by the workers that own the key
// groups. A rescale only reassigns partitions.
import type { ConnectionSettings } from '../connectors/kafka/connection.ts';
import type { KafkaPort } from '../connectors/kafka/port.ts';
import { kafkaSink } from '../connectors/kafka/sink.ts';
import { kafkaSource } from '../connectors/kafka/source.ts';
import { keyGroupOf } from '../core/key-groups.ts';
import type { KafkaClients } from '../pipeline/connectors.ts';
import type { ExchangeConnectors } from './stages.ts';

export interface ExchangeOptions {
  readonly app: { readonly namespace: string; readonly name: string };
  /** Changes when a deployment restores a savepoint (the old topic may hold records after it). */
  readonly generation: string;
  readonly kafka: KafkaClients;
  readonly settings: ConnectionSettings;
  readonly maxParallelism: number;
  readonly checkpointIntervalMs: number;
  /** The reading stage's retained checkpoints: records below the oldest one's positions are deleted. */
  readonly retainedCheckpoints: number;
}

/**
 * Exchange records carry their event time as the record timestamp (in-band watermarks), and a
 * backfill's event times are older than any time-based retention: the broker would delete
 * records before the next stage reads them. Exchange topics keep records until the reading stage
 * has committed past them (`purgeAfterCommits`) or the generation's topics are deleted
 * (exchange-generations.ts), as Kafka Streams does with its repartition topics.
 */
export const EXCHANGE_TOPIC_CONFIGS: Readonly<Record<string, string>> = { 'retention.ms': '-1' };

/** How often a writer restates its watermark in every partition. */
const WATERMARK_INTERVAL_MS = 200;

const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '-');

/** What every exchange topic of the app begins with. */
export function exchangeTopicPrefix(app: ExchangeOptions['app']): string {
  return `weir.${safe(app.namespace)}.${safe(app.name)}.`;
}

export function exchangeTopic(app: ExchangeOptions['app'], keyBy: string, generation: string): string {
  return `${exchangeTopicPrefix(app)}${safe(keyBy)}.${safe(generation)}`;
}

/** A transaction stays open for a whole epoch and may wait for a slow checkpoint: 4 intervals, at least a minute. */
export function exchangeTransactionTimeoutMs(checkpointIntervalMs: number): number {
  return Math.max(60_000, 4 * checkpointIntervalMs);
}

/** The exchange connectors of one stage graph, sharing the stage's Kafka clients (one transaction per epoch). */
export function exchangeConnectors(o: ExchangeOptions): {
  source: (keyBy: Parameters<ExchangeConnectors['source']>[0]) => ReturnType<typeof kafkaSource>;
  sink: (keyBy: Parameters<ExchangeConnectors['sink']>[0]) => ReturnType<typeof kafkaSink>;
} {
  const ensured = new Map<string, Promise<void>>();
  const portFor = (topic: string): (() => Promise<KafkaPort>) => {
    const port = o.kafka.port(o.settings);
    return async () => {
      const p = await port();
      let e = ensured.get(topic);
      if (e === undefined) ensured.set(topic, (e = p.ensureTopic(topic, o.maxParallelism, EXCHANGE_TOPIC_CONFIGS)));
      await e;
      return p;
    };
  };
  const txTimeout = exchangeTransactionTimeoutMs(o.checkpointIntervalMs);
  return {
    source: (keyBy) => {
      const topic = exchangeTopic(o.app, keyBy.id, o.generation);
      return kafkaSource({
        port: portFor(topic),
        topic,
        startFrom: 'earliest',
        format: 'json',
        inBandWatermarks: true,
        // The partitions of this worker's key groups.
        assign: (partitions, task) => partitions.filter((p) => p >= task.keyGroups.start && p < task.keyGroups.end),
        progress: () => o.kafka.exactlyOnceScope(),
        // One more than the retained checkpoints: the commit of an epoch can precede its snapshot.
        purgeAfterCommits: o.retainedCheckpoints + 1,
      });
    },
    sink: (keyBy) => {
      const topic = exchangeTopic(o.app, keyBy.id, o.generation);
      const key = (v: unknown): string => String(keyBy.fn(v));
      return kafkaSink({
        port: portFor(topic),
        scope: o.kafka.exactlyOnceScope() ?? o.kafka.scope(o.settings, true, txTimeout),
        topic,
        format: 'json',
        key,
        partition: (v) => keyGroupOf(key(v), o.maxParallelism),
        transactionTimeoutMs: txTimeout,
        checkpointIntervalMs: o.checkpointIntervalMs,
        watermarkIntervalMs: WATERMARK_INTERVAL_MS,
      });
    },
  };
}
