// The StreamApplication API: one source of truth. The CRD (crds/), the TypeScript types and the
// in-code validation are all derived from the schemas below.
import { Type, type SchemaOptions, type TSchema } from '@sinclair/typebox';
import { JobState, SavepointTrigger } from '@weir/runtime/api';

export const GROUP = 'weir.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'StreamApplication';
export const LIST_KIND = 'StreamApplicationList';
export const PLURAL = 'streamapplications';
export const SINGULAR = 'streamapplication';
export const SHORT_NAMES = ['sapp', 'streamapp'] as const;
export const CATEGORIES = ['weir', 'all'] as const;

/** Longest app name: workloads are named `<name>-coordinator` / `<name>-worker` and StatefulSet pods must fit 63 chars. */
export const MAX_NAME_LENGTH = 45;

/** A CEL rule checked by the API server (x-kubernetes-validations) and by `validateStreamApplication`. */
export interface CelRule {
  readonly rule: string;
  readonly message: string;
}

const rules = (...list: CelRule[]) => ({ 'x-kubernetes-validations': list });

// Kubernetes quantity, e.g. 500m, 2, 1.5Gi (the API server's own grammar).
const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
const HOST_PORT_PATTERN = '^[^\\s:]+:[0-9]{1,5}$';
const NO_WHITESPACE_PATTERN = '^\\S+$';

/** What each pattern means, for error messages (a CRD cannot carry this itself). */
export const PATTERN_MEANINGS: Readonly<Record<string, string>> = {
  [QUANTITY_PATTERN]: 'a quantity such as 500m or 2Gi',
  [DNS_SUBDOMAIN_PATTERN]: 'a lower-case DNS name such as my-secret',
  [SECRET_KEY_PATTERN]: 'a Secret key (letters, digits, -, _ and .)',
  [HOST_PORT_PATTERN]: 'host:port, such as kafka-0.kafka:9092',
  [NO_WHITESPACE_PATTERN]: 'a value without spaces',
};

/** A string enum as Kubernetes wants it (`type: string` + `enum`), typed as the union of its values. */
export const StringEnum = <const T extends readonly string[]>(values: T, options: SchemaOptions) =>
  Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });

// The same shape controller-gen emits for resource.Quantity.
const Quantity = (description: string) =>
  Type.Unsafe<number | string>({
    description,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
    'x-kubernetes-int-or-string': true,
  });

const StringMap = (options: SchemaOptions) =>
  Type.Unsafe<Record<string, string>>({
    ...options,
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 4096 },
  });

const ResourceList = (what: string) =>
  Type.Object(
    {
      cpu: Type.Optional(Quantity(`CPU ${what}, in cores (e.g. 500m, 2).`)),
      memory: Type.Optional(Quantity(`Memory ${what} (e.g. 512Mi, 2Gi).`)),
      'ephemeral-storage': Type.Optional(Quantity(`Ephemeral storage ${what}.`)),
    },
    { description: `Resource ${what}.` },
  );

const Resources = (who: string) =>
  Type.Object(
    {
      requests: Type.Optional(ResourceList('requests')),
      limits: Type.Optional(ResourceList('limits')),
    },
    { description: `Compute resources of ${who}; the same shape as a container's resources.` },
  );

const Role = (who: string, defaults: { description: string }) =>
  Type.Object({ resources: Type.Optional(Resources(who)) }, { description: defaults.description, default: {} });

const SecretKeyRef = (description: string) =>
  Type.Object(
    {
      name: Type.String({
        description: 'Name of the Secret, in the namespace of the StreamApplication.',
        minLength: 1,
        maxLength: 253,
        pattern: DNS_SUBDOMAIN_PATTERN,
      }),
      key: Type.String({
        description: 'Key inside the Secret.',
        minLength: 1,
        maxLength: 253,
        pattern: SECRET_KEY_PATTERN,
      }),
    },
    { description },
  );

const Kafka = Type.Object(
  {
    bootstrapServers: Type.Array(Type.String({ minLength: 3, maxLength: 255, pattern: HOST_PORT_PATTERN }), {
      description: 'Kafka bootstrap servers as host:port.',
      minItems: 1,
      maxItems: 32,
    }),
    tls: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean({ description: 'Connect to Kafka over TLS.', default: true }),
          caSecretRef: Type.Optional(SecretKeyRef('CA certificate (PEM) that signs the brokers’ certificates.')),
          certSecretRef: Type.Optional(SecretKeyRef('Client certificate (PEM) for mutual TLS; needs keySecretRef.')),
          keySecretRef: Type.Optional(SecretKeyRef('Client private key (PEM) for mutual TLS; needs certSecretRef.')),
        },
        {
          description: 'TLS to the brokers. Certificates and keys come from Secrets, never from the spec.',
          ...rules({
            rule: 'has(self.certSecretRef) == has(self.keySecretRef)',
            message: 'tls.certSecretRef and tls.keySecretRef must be set together (mutual TLS needs both)',
          }),
        },
      ),
    ),
    sasl: Type.Optional(
      Type.Object(
        {
          mechanism: StringEnum(['plain', 'scram-sha-256', 'scram-sha-512'], { description: 'SASL mechanism.' }),
          secretRef: Type.Object(
            {
              name: Type.String({
                description: 'Name of the Secret holding the credentials.',
                minLength: 1,
                maxLength: 253,
                pattern: DNS_SUBDOMAIN_PATTERN,
              }),
              usernameKey: Type.String({
                description: 'Key of the user name in the Secret.',
                default: 'username',
                maxLength: 253,
                pattern: SECRET_KEY_PATTERN,
              }),
              passwordKey: Type.String({
                description: 'Key of the password in the Secret.',
                default: 'password',
                maxLength: 253,
                pattern: SECRET_KEY_PATTERN,
              }),
            },
            { description: 'Secret with the SASL user name and password.' },
          ),
        },
        { description: 'SASL authentication to the brokers.' },
      ),
    ),
  },
  { description: 'Connection to Kafka, which carries the data: sources, sinks and keyed exchanges between workers.' },
);

const Checkpoints = Type.Object(
  {
    intervalSeconds: Type.Integer({
      description:
        'Seconds between checkpoints. Output to transactional sinks becomes visible when a checkpoint completes, so this bounds end-to-end latency.',
      minimum: 1,
      maximum: 86400,
      default: 60,
    }),
    retained: Type.Integer({
      description: 'Completed checkpoints kept on storage; older ones are deleted.',
      minimum: 1,
      maximum: 100,
      default: 3,
    }),
    storage: Type.Object(
      {
        size: Quantity('Size of the PersistentVolumeClaim the operator creates for checkpoints and savepoints.'),
        storageClassName: Type.Optional(
          Type.String({
            description: 'StorageClass of that claim; the cluster default when unset.',
            maxLength: 253,
          }),
        ),
        existingClaim: Type.Optional(
          Type.String({
            description:
              'Use this existing PersistentVolumeClaim instead of creating one. It outlives the application, and so do its savepoints.',
            minLength: 1,
            maxLength: 253,
            pattern: DNS_SUBDOMAIN_PATTERN,
          }),
        ),
      },
      {
        description:
          'Where checkpoints and savepoints are written: a volume shared by the coordinator and the workers.',
        default: { size: '1Gi' },
        ...rules({
          rule: '!(has(self.existingClaim) && has(self.storageClassName))',
          message: 'storage.existingClaim and storage.storageClassName are mutually exclusive',
        }),
      },
    ),
  },
  { description: 'Periodic consistent snapshots used for recovery after a failure.', default: {} },
);

export const UPGRADE_MODES = ['savepoint', 'last-state', 'stateless'] as const;
const UpgradeMode = StringEnum(UPGRADE_MODES, {
  description:
    'How state crosses an upgrade: savepoint (stop with a savepoint, restore it), last-state (restore the latest completed checkpoint), stateless (start empty; sources start at their startFrom position, so results are repeated (earliest) or input written meanwhile is skipped (latest): not exactly-once).',
  default: 'savepoint',
});

const Upgrade = Type.Object(
  {
    mode: UpgradeMode,
    savepointTimeoutSeconds: Type.Integer({
      description: 'Deadline for the stop-with-savepoint of the running version; past it the app is Stalled.',
      minimum: 10,
      maximum: 86400,
      default: 300,
    }),
    cancelTimeoutSeconds: Type.Integer({
      description: 'Deadline for the old version’s pods to be gone before the new version starts.',
      minimum: 10,
      maximum: 86400,
      default: 120,
    }),
    deployTimeoutSeconds: Type.Integer({
      description: 'Deadline for the new version to be running after it is deployed.',
      minimum: 10,
      maximum: 86400,
      default: 300,
    }),
  },
  { description: 'How spec changes are rolled out.', default: {} },
);

const Stability = Type.Object(
  {
    completedCheckpoints: Type.Integer({
      description: 'Checkpoints that must complete after a deploy before the version counts as stable.',
      minimum: 0,
      maximum: 1000,
      default: 2,
    }),
    requireWatermarkProgress: Type.Boolean({
      description: 'The event-time watermark must advance before the version counts as stable.',
      default: true,
    }),
    maxRestarts: Type.Integer({
      description: 'Job restarts tolerated while the stability gate is measured.',
      minimum: 0,
      maximum: 1000,
      default: 0,
    }),
    minStableSeconds: Type.Integer({
      description: 'Seconds the gate must hold before the version counts as stable.',
      minimum: 0,
      maximum: 86400,
      default: 60,
    }),
  },
  {
    description: 'The stability gate: what "this version works" means. Reaching it records the spec as lastStableSpec.',
    default: {},
  },
);

const Rollback = Type.Object(
  {
    enabled: Type.Boolean({
      description:
        'Roll back to the last stable spec, from the exact pre-upgrade savepoint, when a new version is not stable in time.',
      default: true,
    }),
    readinessTimeoutSeconds: Type.Integer({
      description: 'Seconds a new version has to pass the stability gate before it is rolled back.',
      minimum: 30,
      maximum: 86400,
      default: 300,
    }),
    stability: Stability,
  },
  { description: 'Automatic rollback of upgrades that do not become stable.', default: {} },
);

const Savepoints = Type.Object(
  {
    intervalSeconds: Type.Optional(
      Type.Integer({
        description: 'Take a savepoint every this many seconds while running. Unset: no periodic savepoints.',
        minimum: 60,
        maximum: 2592000,
      }),
    ),
    historyLimit: Type.Integer({
      description: 'Savepoints kept in status and on storage; older ones are disposed of.',
      minimum: 1,
      maximum: 100,
      default: 10,
    }),
    onDelete: Type.Boolean({
      description: 'Take a final savepoint when the StreamApplication is deleted.',
      default: true,
    }),
    onDeleteTimeoutSeconds: Type.Integer({
      description: 'Deletion waits at most this long for the final savepoint, then goes on without it.',
      minimum: 10,
      maximum: 86400,
      default: 300,
    }),
    triggerNonce: Type.Optional(
      Type.Integer({
        description: 'Change this number to take a savepoint now (manual trigger).',
        format: 'int64',
      }),
    ),
  },
  { description: 'User-owned, portable snapshots of the whole application.', default: {} },
);

export const StreamApplicationSpecSchema = Type.Object(
  {
    image: Type.String({
      description:
        'Container image of the application: the Weir runtime image, or a user image built on it that holds the entrypoint module.',
      minLength: 1,
      maxLength: 512,
      pattern: NO_WHITESPACE_PATTERN,
    }),
    imagePullPolicy: Type.Optional(
      StringEnum(['Always', 'IfNotPresent', 'Never'], { description: 'Pull policy of the image.' }),
    ),
    parallelism: Type.Integer({
      description: 'Number of workers; each owns a contiguous range of key groups. `kubectl scale` changes it.',
      minimum: 1,
      maximum: 1024,
      default: 1,
    }),
    maxParallelism: Type.Integer({
      description:
        'Number of key groups, the unit in which keyed state is split and moved; the upper bound of parallelism. Fixed for the life of the application.',
      minimum: 1,
      maximum: 32768,
      default: 128,
      ...rules({
        rule: 'self == oldSelf',
        message:
          'maxParallelism is immutable: keyed state is split into that many key groups for the life of the application',
      }),
    }),
    pipeline: Type.Optional(
      Type.Object(
        {},
        {
          description:
            'The dataflow as an inline declarative pipeline (the same format as `weir run pipeline.yaml`). Exactly one of pipeline and entrypoint.',
          'x-kubernetes-preserve-unknown-fields': true,
        },
      ),
    ),
    entrypoint: Type.Optional(
      Type.String({
        description:
          'The dataflow as a module inside the image, e.g. /app/dist/job.js, that exports the graph. Exactly one of pipeline and entrypoint.',
        minLength: 1,
        maxLength: 1024,
      }),
    ),
    config: Type.Optional(
      StringMap({
        description: 'Runtime configuration passed to the application as key/value pairs.',
        maxProperties: 256,
      }),
    ),
    coordinator: Role('the coordinator', {
      description: 'The coordinator pod: triggers checkpoints, serves the control API the operator calls.',
    }),
    workers: Role('each worker', { description: 'The worker pods, one per unit of parallelism.' }),
    kafka: Type.Optional(Kafka),
    checkpoints: Checkpoints,
    upgrade: Upgrade,
    rollback: Rollback,
    savepoints: Savepoints,
    state: StringEnum(['running', 'suspended'], {
      description:
        'Desired state. suspended stops the job with a savepoint and removes its pods, keeping status; running resumes from that savepoint.',
      default: 'running',
    }),
    restartNonce: Type.Optional(
      Type.Integer({ description: 'Change this number to restart the job (upgrade mode applies).', format: 'int64' }),
    ),
    initialSavepoint: Type.Optional(
      Type.String({
        description: 'Savepoint to start from on the first deployment (path on the snapshot storage).',
        minLength: 1,
        maxLength: 4096,
      }),
    ),
    allowNonRestoredState: Type.Boolean({
      description: 'Allow restoring a savepoint that holds state of operators the new dataflow no longer has.',
      default: false,
    }),
  },
  {
    description: 'Desired state of the StreamApplication.',
    ...rules(
      {
        rule: 'self.maxParallelism >= self.parallelism',
        message: 'maxParallelism must be greater than or equal to parallelism',
      },
      {
        rule: 'has(self.pipeline) != has(self.entrypoint)',
        message: 'exactly one of pipeline and entrypoint must be set',
      },
    ),
  },
);

// ---- status ----

const Time = (description: string) => Type.String({ description, format: 'date-time' });

export const ConditionSchema = Type.Object(
  {
    type: Type.String({ description: 'Ready, Reconciling or Stalled.', maxLength: 316 }),
    status: StringEnum(['True', 'False', 'Unknown'], { description: 'True, False or Unknown.' }),
    reason: Type.String({ description: 'One-word CamelCase reason for the last transition.', maxLength: 1024 }),
    message: Type.String({ description: 'Human-readable details.', maxLength: 32768 }),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'Generation the condition was computed for.', minimum: 0, format: 'int64' }),
    ),
    lastTransitionTime: Time('When the status last changed.'),
  },
  { description: 'A Kubernetes-style condition.' },
);

/** What the runtime reports a job as (its control API's JobSummary.state). */
export const JOB_STATES = JobState;
export const SAVEPOINT_TRIGGERS = SavepointTrigger;
export const OPERATION_TYPES = [
  'deploy',
  'upgrade',
  'rescale',
  'rollback',
  'suspend',
  'resume',
  'restart',
  'savepoint',
  'delete',
  'recover',
] as const;

export const SavepointRecordSchema = Type.Object(
  {
    path: Type.String({ description: 'Location of the savepoint on the snapshot storage.' }),
    time: Time('When the savepoint completed (or failed).'),
    trigger: StringEnum(SAVEPOINT_TRIGGERS, { description: 'What asked for it.' }),
    result: StringEnum(['Succeeded', 'Failed'], { description: 'Outcome.' }),
    message: Type.Optional(Type.String({ description: 'Why it failed, if it did.' })),
  },
  { description: 'One savepoint.' },
);

export const OperationRecordSchema = Type.Object(
  {
    type: StringEnum(OPERATION_TYPES, { description: 'Kind of lifecycle operation.' }),
    trigger: Type.String({ description: 'What started it, e.g. SpecChanged, JobFailed, Unstable, SavepointNonce.' }),
    fromGeneration: Type.Optional(Type.Integer({ description: 'Generation running before.', format: 'int64' })),
    toGeneration: Type.Optional(Type.Integer({ description: 'Generation running after.', format: 'int64' })),
    snapshot: Type.Optional(Type.String({ description: 'Savepoint or checkpoint the new version restored.' })),
    outcome: StringEnum(['InProgress', 'Succeeded', 'Failed'], { description: 'InProgress, Succeeded or Failed.' }),
    startedAt: Time('When it started.'),
    finishedAt: Type.Optional(Time('When it ended.')),
    durationSeconds: Type.Optional(Type.Number({ description: 'How long it took.' })),
    message: Type.Optional(Type.String({ description: 'Details, e.g. why it failed.' })),
  },
  { description: 'One lifecycle operation, kept in a bounded history.' },
);

export const PHASES = [
  'Pending',
  'Deploying',
  'Running',
  'Stable',
  'Savepointing',
  'Cancelling',
  'Upgrading',
  'RollingBack',
  'RolledBack',
  'Suspending',
  'Suspended',
  'Restarting',
  'Failed',
  'Deleting',
] as const;

export const StreamApplicationStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(PHASES, { description: 'Where the application is in its lifecycle.' })),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, {
        description: 'Ready, Reconciling and Stalled (kstatus conventions).',
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The generation of the spec the operator last acted on.', format: 'int64' }),
    ),
    phaseStartedAt: Type.Optional(Time('When the current phase began.')),
    phaseDeadline: Type.Optional(Time('When the current phase is considered stalled.')),
    deployedSpecHash: Type.Optional(Type.String({ description: 'Hash of the spec that is deployed.' })),
    lastReconciledSpec: Type.Optional(Type.String({ description: 'The spec last deployed, as JSON.' })),
    lastStableSpec: Type.Optional(
      Type.String({ description: 'The last spec that passed the stability gate, as JSON; rollbacks return to it.' }),
    ),
    job: Type.Optional(
      Type.Object(
        {
          state: StringEnum(JOB_STATES, { description: 'State reported by the runtime.' }),
          startTime: Type.Optional(Time('When the running job started.')),
          restarts: Type.Integer({ description: 'Restarts since it was deployed.', minimum: 0 }),
        },
        { description: 'The job as the runtime reports it.' },
      ),
    ),
    savepoints: Type.Optional(
      Type.Object(
        {
          last: Type.Optional(SavepointRecordSchema),
          history: Type.Optional(Type.Array(SavepointRecordSchema, { description: 'Newest first.', maxItems: 100 })),
        },
        { description: 'Savepoints taken.' },
      ),
    ),
    pendingSavepoint: Type.Optional(
      Type.Object(
        {
          triggerId: Type.String({ description: 'Id the runtime gave the savepoint request.' }),
          trigger: StringEnum(SAVEPOINT_TRIGGERS, { description: 'Why it was asked for.' }),
          startedAt: Time('When it was asked for.'),
        },
        { description: 'A savepoint under way, so a restarted operator polls the same one.' },
      ),
    ),
    checkpoints: Type.Optional(
      Type.Object(
        {
          lastCompleted: Type.Optional(
            Type.Object(
              {
                id: Type.Integer({ description: 'Checkpoint id (epoch).', format: 'int64' }),
                time: Time('When it completed.'),
                path: Type.String({ description: 'Location on the snapshot storage.' }),
              },
              { description: 'The latest completed checkpoint.' },
            ),
          ),
        },
        { description: 'Checkpoints.' },
      ),
    ),
    eventTime: Type.Optional(
      Type.Object(
        {
          watermark: Type.Optional(Time('The job’s event-time watermark (minimum over its inputs).')),
          lagSeconds: Type.Optional(Type.Integer({ description: 'Wall clock minus watermark, in seconds.' })),
          lag: Type.Optional(Type.String({ description: 'The same lag for people, e.g. 1m5s.' })),
          recordsLag: Type.Optional(
            Type.Integer({ description: 'Records not yet read from the inputs.', format: 'int64' }),
          ),
          observedAt: Type.Optional(
            Time('When the operator read this summary from the runtime (refreshed at most every 15 s).'),
          ),
        },
        { description: 'Watermark and lag summary from the runtime.' },
      ),
    ),
    operations: Type.Optional(
      Type.Array(OperationRecordSchema, { description: 'Recent lifecycle operations, newest first.', maxItems: 20 }),
    ),
    replicas: Type.Optional(Type.Integer({ description: 'Workers running (scale subresource).', minimum: 0 })),
    selector: Type.Optional(Type.String({ description: 'Label selector of the workers (scale subresource).' })),
  },
  { description: 'Observed state of the StreamApplication, written by the operator.' },
);

export const StreamApplicationSchema = Type.Object(
  {
    apiVersion: Type.String({
      description:
        'APIVersion defines the versioned schema of this representation of an object. https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
    }),
    kind: Type.String({
      description:
        'Kind is a string value representing the REST resource this object represents. https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
    }),
    metadata: Type.Object({}, { description: 'Standard object metadata.' }),
    spec: StreamApplicationSpecSchema,
    status: Type.Optional(StreamApplicationStatusSchema),
  },
  {
    description:
      'A stateful streaming application run by Weir: its dataflow, image and parallelism, and how it is upgraded, snapshotted and rolled back.',
    ...rules({
      rule: `self.metadata.name.size() <= ${MAX_NAME_LENGTH}`,
      message: `metadata.name must be at most ${MAX_NAME_LENGTH} characters: it prefixes the names of the application's workloads`,
    }),
  },
);

export type { TSchema };
