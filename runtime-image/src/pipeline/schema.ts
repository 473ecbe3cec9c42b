import { Type, type Static } from '@sinclair/typebox';

/** Durations: milliseconds, or a string like `500ms`, `30s`, `5m`, `2h`. */
export const Duration = Type.Union(
  [Type.Number({ minimum: 0 }), Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$' })],
  {
    description: 'milliseconds, or a number with unit ms, s, m, h or d',
  },
);

const Cel = Type.String({ minLength: 1, description: 'a CEL expression; the record is `e`' });
const Id = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
  description: 'stable operator id: savepoints are keyed by it',
});

export const GeneratorSpec = Type.Object(
  {
    seed: Type.Optional(Type.Integer()),
    ratePerSecond: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    keys: Type.Optional(Type.Integer({ minimum: 1 })),
    splits: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
    eventsPerSplit: Type.Optional(Type.Integer({ minimum: 0 })),
    startTs: Type.Optional(Type.Integer()),
    eventSpacing: Type.Optional(Duration),
    skew: Type.Optional(Duration),
    lateFraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    lateness: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

const HostPort = Type.String({ pattern: '^[A-Za-z0-9.\\[\\]:-]+:[0-9]{1,5}$', description: 'host:port' });

/** Where a Kafka connector connects; absent fields come from the runtime's configuration (`WEIR_KAFKA_*`). */
const KafkaConnectionFields = {
  bootstrapServers: Type.Optional(Type.Array(HostPort, { minItems: 1 })),
  tls: Type.Optional(
    Type.Boolean({ description: 'TLS, with the PEM files under WEIR_KAFKA_TLS_DIR (/etc/weir/kafka)' }),
  ),
  sasl: Type.Optional(
    Type.Union([Type.Literal('plain'), Type.Literal('scram-sha-256'), Type.Literal('scram-sha-512')], {
      description: 'SASL mechanism; the credentials come from WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD',
    }),
  ),
};

const RecordFormat = Type.Union([Type.Literal('json'), Type.Literal('string'), Type.Literal('bytes')]);

export const KafkaSourceSpec = Type.Object(
  {
    topic: Type.String({ minLength: 1, maxLength: 249 }),
    ...KafkaConnectionFields,
    startFrom: Type.Optional(
      Type.Union([
        Type.Literal('earliest'),
        Type.Literal('latest'),
        Type.Object({ timestamp: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
      ]),
    ),
    format: Type.Optional(RecordFormat),
    metadataField: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description: 'adds topic, partition, offset, key, timestamp and headers to each record under this field',
      }),
    ),
    deadLetterTopic: Type.Optional(Type.String({ minLength: 1, maxLength: 249 })),
    onError: Type.Optional(
      Type.Union([Type.Literal('dead-letter'), Type.Literal('fail')], {
        description:
          'a record that cannot be decoded or fails in an expression: to deadLetterTopic (default when set) or fail the job',
      }),
    ),
    dropOlderThan: Type.Optional(Duration),
    partitionDiscovery: Type.Optional(
      Type.Union([Duration], { description: 'how often to look for partitions added to the topic (default 30s)' }),
    ),
    inBandWatermarks: Type.Optional(
      Type.Boolean({
        description:
          'event time from the watermark records an upstream Weir sink wrote into the topic (records keep their Kafka timestamp as event time)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const KafkaSinkSpec = Type.Object(
  {
    topic: Type.String({ minLength: 1, maxLength: 249 }),
    ...KafkaConnectionFields,
    format: Type.Optional(RecordFormat),
    key: Type.Optional(Cel),
    delivery: Type.Optional(Type.Union([Type.Literal('exactly-once'), Type.Literal('at-least-once')])),
    transactionTimeout: Type.Optional(Duration),
    inBandWatermarks: Type.Optional(
      Type.Boolean({
        description:
          'write watermark records into every partition (and each record with its event time as timestamp), so that a downstream Weir pipeline has exact event time',
      }),
    ),
    watermarkInterval: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const SourceSpec = Type.Object(
  {
    id: Id,
    generator: Type.Optional(GeneratorSpec),
    files: Type.Optional(
      Type.Object(
        {
          paths: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
          timestampField: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    kafka: Type.Optional(KafkaSourceSpec),
    timestamp: Type.Optional(Cel),
    watermarks: Type.Optional(
      Type.Object(
        {
          maxOutOfOrderness: Type.Optional(Duration),
          idleTimeout: Type.Optional(Duration),
          maxDrift: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const AggregateSpec = Type.Object(
  {
    count: Type.Optional(Type.Union([Type.Boolean(), Cel])),
    sum: Type.Optional(Cel),
    min: Type.Optional(Cel),
    max: Type.Optional(Cel),
    avg: Type.Optional(Cel),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);

export const WindowStepSpec = Type.Object(
  {
    tumbling: Type.Optional(Duration),
    sliding: Type.Optional(Type.Object({ size: Duration, slide: Duration }, { additionalProperties: false })),
    session: Type.Optional(Type.Object({ gap: Duration, maxLength: Duration }, { additionalProperties: false })),
    allowedLateness: Type.Optional(Duration),
    tooLate: Type.Optional(Type.Union([Type.Literal('drop'), Type.Literal('side')])),
    aggregate: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), AggregateSpec, { minProperties: 1 }),
  },
  { additionalProperties: false },
);

export const SinkSpec = Type.Object(
  {
    console: Type.Optional(Type.Object({}, { additionalProperties: false })),
    file: Type.Optional(Type.Object({ dir: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
    discard: Type.Optional(Type.Object({}, { additionalProperties: false })),
    kafka: Type.Optional(KafkaSinkSpec),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);

export const TableSpec = Type.Object(
  {
    id: Id,
    kafka: Type.Object(
      {
        topic: Type.String({ minLength: 1, maxLength: 249 }),
        ...KafkaConnectionFields,
        format: Type.Optional(RecordFormat),
      },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    description: 'a compacted topic as a table: latest value per record key; tombstones delete',
  },
);

export const LookupStepSpec = Type.Object(
  {
    table: Type.String({ minLength: 1, description: 'the id of a table' }),
    key: Cel,
    as: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'the field the row is added under' }),
  },
  { additionalProperties: false },
);

/** One step: exactly one of the kinds, plus an optional id and input (default: the previous step). */
export const StepSpec = Type.Object(
  {
    id: Type.Optional(Id),
    input: Type.Optional(
      Type.String({ minLength: 1, description: '`<step id>` or `<step id>.<port>` (a branch route, `late`)' }),
    ),
    map: Type.Optional(Cel),
    filter: Type.Optional(Cel),
    flatMap: Type.Optional(Cel),
    branch: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }), Cel, { minProperties: 1 }),
    ),
    keyBy: Type.Optional(Cel),
    window: Type.Optional(WindowStepSpec),
    sink: Type.Optional(SinkSpec),
    lookup: Type.Optional(LookupStepSpec),
  },
  { additionalProperties: false },
);

export const PipelineSpec = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
    maxParallelism: Type.Optional(Type.Integer({ minimum: 1, maximum: 32768 })),
    parallelism: Type.Optional(Type.Integer({ minimum: 1 })),
    checkpoints: Type.Optional(
      Type.Object(
        { interval: Type.Optional(Duration), retain: Type.Optional(Type.Integer({ minimum: 1 })) },
        { additionalProperties: false },
      ),
    ),
    source: SourceSpec,
    tables: Type.Optional(Type.Array(TableSpec)),
    steps: Type.Array(StepSpec, { minItems: 1 }),
  },
  { additionalProperties: false, $id: 'https://weir.dev/schemas/pipeline.json' },
);

export type PipelineSpec = Static<typeof PipelineSpec>;
export type StepSpec = Static<typeof StepSpec>;
export type SourceSpec = Static<typeof SourceSpec>;

/** The pipeline JSON Schema (draft-07), for the CRD's `spec.pipeline` and editors. */
export const pipelineJsonSchema: object = JSON.parse(JSON.stringify(PipelineSpec)) as object;

export const STEP_KINDS = ['map', 'filter', 'flatMap', 'branch', 'keyBy', 'window', 'sink', 'lookup'] as const;

export const SOURCE_TYPES = ['generator', 'files', 'kafka'] as const;
