import { resolve } from 'node:path';
import { consoleSink, discardSink } from '../connectors/console-sink.ts';
import type { DeadLetterWriter, SinkConnector, SourceConnector, TableConnector } from '../connectors/contract.ts';
import { kafkaTable } from '../connectors/kafka/table.ts';
import { transactionalFileSink } from '../connectors/file-sink.ts';
import { fileSource } from '../connectors/file-source.ts';
import { generatorSource } from '../connectors/generator.ts';
import { resolveConnection, type ConnectionSettings } from '../connectors/kafka/connection.ts';
import { kafkaDeadLetters } from '../connectors/kafka/dead-letters.ts';
import { KafkajsPort } from '../connectors/kafka/kafkajs.ts';
import type { KafkaPort } from '../connectors/kafka/port.ts';
import { kafkaSink } from '../connectors/kafka/sink.ts';
import { kafkaSource } from '../connectors/kafka/source.ts';
import { KafkaWriteScope } from '../connectors/kafka/transactions.ts';
import { must } from '../core/must.ts';
import { compileExpression } from './expressions.ts';
import type { KafkaSinkSpec, PipelineSpec, SinkSpec as SinkSpecSchema, SourceSpec, TableSpec } from './schema.ts';
import type { Static } from '@sinclair/typebox';

type SinkSpec = Static<typeof SinkSpecSchema>;

/** What a connector factory may use: where relative paths start, the job's settings, shared Kafka clients. */
export interface ConnectorBuildContext {
  readonly baseDir: string;
  readonly checkpointIntervalMs: number | undefined;
  readonly kafka: KafkaClients;
  /** The job's dead letters, when the pipeline has them. */
  readonly deadLetters: DeadLetterWriter | undefined;
}

/** Parses a duration (`500ms`, `30s`, `5m`, ...); lives with the compiler, injected to avoid a cycle. */
export type DurationParser = (v: number | string) => number;

/**
 * Kafka clients of one job: one port per connection, and one write scope per connection and
 * delivery guarantee, so that every exactly-once write of the job (sinks and dead letters) goes
 * into one transaction per epoch.
 */
export class KafkaClients {
  readonly #ports = new Map<string, Promise<KafkaPort>>();
  readonly #scopes = new Map<string, KafkaWriteScope>();
  readonly #makePort: (s: ConnectionSettings) => Promise<KafkaPort>;

  constructor(
    makePort: (s: ConnectionSettings) => Promise<KafkaPort> = (s) =>
      Promise.resolve(new KafkajsPort(resolveConnection(s))),
  ) {
    this.#makePort = makePort;
  }

  static settingsOf(spec: ConnectionSettings): ConnectionSettings {
    return { bootstrapServers: spec.bootstrapServers, tls: spec.tls, sasl: spec.sasl };
  }

  port(s: ConnectionSettings): () => Promise<KafkaPort> {
    const key = JSON.stringify(KafkaClients.settingsOf(s));
    return () => {
      let p = this.#ports.get(key);
      if (p === undefined) this.#ports.set(key, (p = this.#makePort(s)));
      return p;
    };
  }

  scope(s: ConnectionSettings, exactlyOnce: boolean, transactionTimeoutMs: number): KafkaWriteScope {
    const key = `${JSON.stringify(KafkaClients.settingsOf(s))}|${exactlyOnce}`;
    let scope = this.#scopes.get(key);
    if (scope === undefined)
      this.#scopes.set(key, (scope = new KafkaWriteScope(this.port(s), { exactlyOnce, transactionTimeoutMs })));
    return scope;
  }

  /**
   * Closes every connection these clients opened, once the job that used them ended: its connectors
   * close their own readers and writers, but a port's admin connection (topic metadata, markers)
   * belongs to no connector, and left open it keeps the process alive after its work is done.
   */
  async close(): Promise<void> {
    const ports = [...this.#ports.values()];
    this.#ports.clear();
    this.#scopes.clear();
    await Promise.allSettled(ports.map(async (p) => (await p).close()));
  }

  /** The exactly-once scope a source's dead letters join (validation ensures the pipeline has one). */
  exactlyOnceScope(): KafkaWriteScope | undefined {
    for (const s of this.#scopes.values()) if (s.exactlyOnce) return s;
    return undefined;
  }
}

type SourceFactory = (
  spec: SourceSpec,
  ctx: ConnectorBuildContext,
  duration: DurationParser,
) => SourceConnector<unknown>;
type SinkFactory = (spec: SinkSpec, ctx: ConnectorBuildContext, duration: DurationParser) => SinkConnector<unknown>;

/** Default transaction timeout: 5 minutes, well under the brokers' usual 15-minute bound. */
export const DEFAULT_TRANSACTION_TIMEOUT_MS = 300_000;

function kafkaSinkFrom(
  k: Static<typeof KafkaSinkSpec>,
  ctx: ConnectorBuildContext,
  duration: DurationParser,
): SinkConnector<unknown> {
  const exactlyOnce = k.delivery !== 'at-least-once';
  const timeout = k.transactionTimeout === undefined ? DEFAULT_TRANSACTION_TIMEOUT_MS : duration(k.transactionTimeout);
  const key = k.key === undefined ? undefined : compileExpression(k.key);
  return kafkaSink({
    port: ctx.kafka.port(k),
    scope: ctx.kafka.scope(k, exactlyOnce, timeout),
    topic: k.topic,
    format: k.format,
    key,
    transactionTimeoutMs: timeout,
    checkpointIntervalMs: ctx.checkpointIntervalMs,
    watermarkIntervalMs:
      k.inBandWatermarks === true
        ? k.watermarkInterval === undefined
          ? 200
          : duration(k.watermarkInterval)
        : undefined,
  });
}

/** Source connectors by the YAML key that selects them. */
export const SOURCE_FACTORIES: Readonly<Record<'generator' | 'files' | 'kafka', SourceFactory>> = {
  generator: (spec, _ctx, duration) => {
    const g = must(spec.generator, 'generator');
    return generatorSource({
      seed: g.seed,
      ratePerSecond: g.ratePerSecond,
      keys: g.keys,
      splits: g.splits,
      eventsPerSplit: g.eventsPerSplit,
      startTs: g.startTs,
      eventSpacingMs: g.eventSpacing === undefined ? undefined : duration(g.eventSpacing),
      skewMs: g.skew === undefined ? undefined : duration(g.skew),
      lateFraction: g.lateFraction,
      latenessMs: g.lateness === undefined ? undefined : duration(g.lateness),
    });
  },
  files: (spec, ctx) => {
    const f = must(spec.files, 'files');
    return fileSource({ paths: f.paths.map((p) => resolve(ctx.baseDir, p)), timestampField: f.timestampField });
  },
  kafka: (spec, ctx, duration) => {
    const k = must(spec.kafka, 'kafka');
    return kafkaSource({
      port: ctx.kafka.port(k),
      topic: k.topic,
      startFrom: k.startFrom,
      format: k.format,
      metadataField: k.metadataField,
      deadLetters: ctx.deadLetters,
      dropOlderThanMs: k.dropOlderThan === undefined ? undefined : duration(k.dropOlderThan),
      inBandWatermarks: k.inBandWatermarks,
      partitionDiscoveryMs: k.partitionDiscovery === undefined ? undefined : duration(k.partitionDiscovery),
      progress: () => ctx.kafka.exactlyOnceScope(),
    });
  },
};

export const SINK_FACTORIES: Readonly<Record<'console' | 'file' | 'discard' | 'kafka', SinkFactory>> = {
  console: () => consoleSink(),
  discard: () => discardSink(),
  file: (spec, ctx) => transactionalFileSink({ dir: resolve(ctx.baseDir, must(spec.file, 'file').dir) }),
  kafka: (spec, ctx, duration) => kafkaSinkFrom(must(spec.kafka, 'kafka'), ctx, duration),
};

/**
 * The job's dead letters: a Kafka source's `deadLetterTopic`, unless `onError: fail`. They are
 * written in the transaction of the pipeline's exactly-once Kafka sink (resolved when first used:
 * the sinks are compiled after the source).
 */
export function deadLettersFor(spec: PipelineSpec['source'], kafka: KafkaClients): DeadLetterWriter | undefined {
  const k = spec.kafka;
  if (k?.deadLetterTopic === undefined || k.onError === 'fail') return undefined;
  return kafkaDeadLetters(k.deadLetterTopic, () => must(kafka.exactlyOnceScope(), 'an exactly-once Kafka sink'));
}

/** A table's connector (Kafka: a compacted topic). */
export function tableFor(spec: Static<typeof TableSpec>, ctx: ConnectorBuildContext): TableConnector {
  return kafkaTable({ port: ctx.kafka.port(spec.kafka), topic: spec.kafka.topic, format: spec.kafka.format });
}

function selected<K extends string>(spec: object, keys: readonly K[], what: string): K {
  const present = keys.filter((k) => (spec as Record<string, unknown>)[k] !== undefined);
  const [only] = present;
  if (only === undefined || present.length > 1) throw new Error(`${what} needs exactly one of ${keys.join(', ')}`);
  return only;
}

export function sourceFor(
  spec: PipelineSpec['source'],
  ctx: ConnectorBuildContext,
  duration: DurationParser,
): SourceConnector<unknown> {
  const type = selected(
    spec,
    Object.keys(SOURCE_FACTORIES) as (keyof typeof SOURCE_FACTORIES)[],
    `source '${spec.id}'`,
  );
  return SOURCE_FACTORIES[type](spec, ctx, duration);
}

export function sinkFor(spec: SinkSpec, ctx: ConnectorBuildContext, duration: DurationParser): SinkConnector<unknown> {
  const type = selected(spec, Object.keys(SINK_FACTORIES) as (keyof typeof SINK_FACTORIES)[], 'a sink');
  return SINK_FACTORIES[type](spec, ctx, duration);
}
