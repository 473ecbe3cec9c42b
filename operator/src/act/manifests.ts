// The Kubernetes objects one StreamApplication owns, as pure functions of its spec. Applied with
// server-side apply; the Secret with the runtime token is created once and never rewritten.
import { API_VERSION, KIND, type StreamApplicationSpec } from '../model.ts';
import {
  CHECK_ATTEMPT_LABEL,
  CHECK_EXIT,
  CHECK_SPEC_HASH_LABEL,
  FIELD_MANAGER,
  RESTORE_ANNOTATION,
  RUNTIME_API_PORT,
  SPEC_HASH_ANNOTATION,
  checkLabels,
  compatibilityCheckName,
  names,
  selectorLabels,
  type KubeObject,
} from '../names.ts';

const STATE_MOUNT = '/var/lib/weir';
const RUNTIME_UID = 10001;

export interface AppIdentity {
  name: string;
  namespace: string;
  uid: string;
}

function labels(
  app: string,
  spec: StreamApplicationSpec,
  component?: 'coordinator' | 'worker',
): Record<string, string> {
  const tag = /:([\w][\w.-]{0,127})$/.exec(spec.image)?.[1];
  return {
    ...selectorLabels(app, component),
    'app.kubernetes.io/part-of': 'weir',
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
    ...(tag === undefined ? {} : { 'app.kubernetes.io/version': tag }),
  };
}

function meta(id: AppIdentity, name: string, objLabels: Record<string, string>, annotations?: Record<string, string>) {
  return {
    name,
    namespace: id.namespace,
    labels: objLabels,
    ...(annotations === undefined ? {} : { annotations }),
    ownerReferences: [
      { apiVersion: API_VERSION, kind: KIND, name: id.name, uid: id.uid, controller: true, blockOwnerDeletion: true },
    ],
  };
}

const restrictedContainer = {
  runAsNonRoot: true,
  runAsUser: RUNTIME_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

const restrictedPod = {
  runAsNonRoot: true,
  runAsUser: RUNTIME_UID,
  runAsGroup: RUNTIME_UID,
  fsGroup: RUNTIME_UID,
  seccompProfile: { type: 'RuntimeDefault' },
};

export interface Deployment {
  specHash: string;
  restoreFrom?: string;
}

/** The runtime's configuration: everything but secrets, which come from Secrets as env or files. */
export function runtimeConfig(id: AppIdentity, spec: StreamApplicationSpec, d: Deployment): Record<string, unknown> {
  return {
    app: { name: id.name, namespace: id.namespace },
    parallelism: spec.parallelism,
    maxParallelism: spec.maxParallelism,
    checkpoints: {
      intervalSeconds: spec.checkpoints.intervalSeconds,
      retained: spec.checkpoints.retained,
      dir: `${STATE_MOUNT}/checkpoints`,
    },
    savepoints: { dir: `${STATE_MOUNT}/savepoints` },
    restoreFrom: d.restoreFrom ?? null,
    allowNonRestoredState: spec.allowNonRestoredState,
    kafka:
      spec.kafka === undefined
        ? null
        : {
            bootstrapServers: spec.kafka.bootstrapServers,
            tls: spec.kafka.tls?.enabled ?? false,
            sasl: spec.kafka.sasl?.mechanism ?? null,
          },
    config: spec.config ?? {},
    controlApi: { port: RUNTIME_API_PORT },
    coordinator: `${names(id.name).coordinator}.${id.namespace}.svc:${RUNTIME_API_PORT}`,
    specHash: d.specHash,
  };
}

function env(id: AppIdentity, spec: StreamApplicationSpec, role: 'coordinator' | 'worker'): unknown[] {
  const n = names(id.name);
  const out: unknown[] = [
    { name: 'WEIR_ROLE', value: role },
    { name: 'WEIR_CONFIG', value: '/etc/weir/runtime.json' },
    { name: 'WEIR_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'WEIR_RUNTIME_TOKEN', valueFrom: { secretKeyRef: { name: n.token, key: 'token' } } },
  ];
  if (spec.entrypoint !== undefined) out.push({ name: 'WEIR_ENTRYPOINT', value: spec.entrypoint });
  const sasl = spec.kafka?.sasl;
  if (sasl !== undefined) {
    out.push(
      {
        name: 'WEIR_KAFKA_USERNAME',
        valueFrom: { secretKeyRef: { name: sasl.secretRef.name, key: sasl.secretRef.usernameKey } },
      },
      {
        name: 'WEIR_KAFKA_PASSWORD',
        valueFrom: { secretKeyRef: { name: sasl.secretRef.name, key: sasl.secretRef.passwordKey } },
      },
    );
  }
  return out;
}

function tlsVolumes(spec: StreamApplicationSpec): { volumes: unknown[]; mounts: unknown[] } {
  const tls = spec.kafka?.tls;
  const refs = [
    ['ca', tls?.caSecretRef],
    ['cert', tls?.certSecretRef],
    ['key', tls?.keySecretRef],
  ] as const;
  const volumes: unknown[] = [];
  const mounts: unknown[] = [];
  for (const [file, ref] of refs) {
    if (ref === undefined) continue;
    volumes.push({
      name: `kafka-${file}`,
      secret: { secretName: ref.name, items: [{ key: ref.key, path: `${file}.pem` }], defaultMode: 0o440 },
    });
    mounts.push({
      name: `kafka-${file}`,
      mountPath: `/etc/weir/kafka/${file}.pem`,
      subPath: `${file}.pem`,
      readOnly: true,
    });
  }
  return { volumes, mounts };
}

function podTemplate(id: AppIdentity, spec: StreamApplicationSpec, d: Deployment, role: 'coordinator' | 'worker') {
  const n = names(id.name);
  const tls = tlsVolumes(spec);
  const claim = spec.checkpoints.storage.existingClaim ?? n.state;
  const resources = role === 'coordinator' ? spec.coordinator.resources : spec.workers.resources;
  return {
    metadata: {
      labels: labels(id.name, spec, role),
      annotations: {
        [SPEC_HASH_ANNOTATION]: d.specHash,
        ...(d.restoreFrom === undefined ? {} : { [RESTORE_ANNOTATION]: d.restoreFrom }),
      },
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: restrictedPod,
      terminationGracePeriodSeconds: 60,
      containers: [
        {
          name: role,
          image: spec.image,
          ...(spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: spec.imagePullPolicy }),
          args: [role],
          env: env(id, spec, role),
          ports:
            role === 'coordinator'
              ? [{ name: 'control', containerPort: RUNTIME_API_PORT }]
              : [{ name: 'exchange', containerPort: 8082 }],
          // The coordinator is ready when it serves the API (the operator must reach it while the job
          // starts); a worker when its job runs, restored (`weir worker` serves both on 8082).
          readinessProbe:
            role === 'coordinator'
              ? { httpGet: { path: '/v1/health', port: 'control' }, periodSeconds: 5 }
              : { httpGet: { path: '/v1/ready', port: 'exchange' }, periodSeconds: 5 },
          ...(resources === undefined ? {} : { resources }),
          securityContext: restrictedContainer,
          volumeMounts: [
            { name: 'config', mountPath: '/etc/weir', readOnly: true },
            { name: 'state', mountPath: STATE_MOUNT },
            { name: 'tmp', mountPath: '/tmp' },
            ...tls.mounts,
          ],
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: n.config } },
        { name: 'state', persistentVolumeClaim: { claimName: claim } },
        { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
        ...tls.volumes,
      ],
    },
  };
}

/** Everything applied for one deployment of the app, in apply order. */
export function appManifests(id: AppIdentity, spec: StreamApplicationSpec, d: Deployment): KubeObject[] {
  const n = names(id.name);
  const ann = {
    [SPEC_HASH_ANNOTATION]: d.specHash,
    ...(d.restoreFrom === undefined ? {} : { [RESTORE_ANNOTATION]: d.restoreFrom }),
  };
  const objects: KubeObject[] = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(id, n.config, labels(id.name, spec)),
      data: {
        'runtime.json': JSON.stringify(runtimeConfig(id, spec, d), null, 2),
        ...(spec.pipeline === undefined ? {} : { 'pipeline.json': JSON.stringify(spec.pipeline, null, 2) }),
      },
    },
  ];
  if (spec.checkpoints.storage.existingClaim === undefined) {
    // Not owned by the app: deleting the app must not delete its savepoints (the final one included).
    const { ownerReferences: _notOwned, ...pvcMeta } = meta(id, n.state, labels(id.name, spec));
    objects.push({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: pvcMeta,
      spec: {
        // Coordinator and workers share it; on a multi-node cluster use a ReadWriteMany class or existingClaim.
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: spec.checkpoints.storage.size } },
        ...(spec.checkpoints.storage.storageClassName === undefined
          ? {}
          : { storageClassName: spec.checkpoints.storage.storageClassName }),
      },
    });
  }
  objects.push(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(id, n.coordinator, labels(id.name, spec, 'coordinator')),
      spec: {
        selector: selectorLabels(id.name, 'coordinator'),
        ports: [{ name: 'control', port: RUNTIME_API_PORT, targetPort: 'control' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(id, n.workersService, labels(id.name, spec, 'worker')),
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: true,
        selector: selectorLabels(id.name, 'worker'),
        ports: [{ name: 'exchange', port: 8082, targetPort: 'exchange' }],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(id, n.coordinator, labels(id.name, spec, 'coordinator'), ann),
      spec: {
        replicas: 1,
        // Never two coordinators of one app: the old pod goes before the new one starts.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selectorLabels(id.name, 'coordinator') },
        template: podTemplate(id, spec, d, 'coordinator'),
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta(id, n.workers, labels(id.name, spec, 'worker'), ann),
      spec: {
        replicas: spec.parallelism,
        serviceName: n.workersService,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selectorLabels(id.name, 'worker') },
        template: podTemplate(id, spec, d, 'worker'),
      },
    },
  );
  return objects;
}

/** The Secret with the runtime API token; created once (never re-applied, so the token is stable). */
export function tokenSecret(id: AppIdentity, token: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(id, names(id.name).token, {
      ...selectorLabels(id.name),
      'app.kubernetes.io/managed-by': FIELD_MANAGER,
    }),
    type: 'Opaque',
    stringData: { token },
  };
}

// ---- the pre-flight compatibility check, run as a Job with the NEW image ----

const CHECK_CONTAINER = 'check';
const CHECK_PIPELINE_DIR = '/etc/weir-check';
/** A finished check Job (and its pod and ConfigMap) is removed by Kubernetes after this, if not by the operator. */
export const CHECK_TTL_SECONDS = 3600;

export interface CompatibilityCheck {
  specHash: string;
  attempt: number;
  /** The snapshot (a checkpoint or savepoint directory on the state volume) the new version must restore. */
  snapshot: string;
}

/**
 * The check Job (the new image runs `weir savepoint check` on the new pipeline and the current
 * snapshot, mounted read-only) and its ConfigMap, which the Job owns.
 */
export function compatibilityCheckManifests(
  id: AppIdentity,
  spec: StreamApplicationSpec,
  c: CompatibilityCheck,
): { job: KubeObject; configMapFor: (jobUid: string) => KubeObject } {
  if (spec.pipeline === undefined) throw new Error('spec.pipeline: the compatibility check Job needs a pipeline');
  const name = compatibilityCheckName(id.name, c.specHash, c.attempt);
  const jobLabels = {
    ...checkLabels(id.name),
    [CHECK_SPEC_HASH_LABEL]: c.specHash,
    [CHECK_ATTEMPT_LABEL]: String(c.attempt),
  };
  const claim = spec.checkpoints.storage.existingClaim ?? names(id.name).state;
  const job: KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(id, name, jobLabels),
    spec: {
      // A crash may be a node's fault: one more try; a verdict (incompatible, cannot check) is final at once.
      backoffLimit: 1,
      activeDeadlineSeconds: spec.upgrade.savepointTimeoutSeconds,
      ttlSecondsAfterFinished: CHECK_TTL_SECONDS,
      podFailurePolicy: {
        rules: [
          {
            action: 'FailJob',
            onExitCodes: {
              containerName: CHECK_CONTAINER,
              operator: 'In',
              values: [CHECK_EXIT.incompatible, CHECK_EXIT.cannotCheck],
            },
          },
          // An evicted or preempted pod is not the check's fault.
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
        ],
      },
      template: {
        metadata: { labels: jobLabels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: restrictedPod,
          containers: [
            {
              name: CHECK_CONTAINER,
              image: spec.image,
              ...(spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: spec.imagePullPolicy }),
              args: [
                'savepoint',
                'check',
                `${CHECK_PIPELINE_DIR}/pipeline.json`,
                c.snapshot,
                ...(spec.allowNonRestoredState ? ['--allow-non-restored-state'] : []),
                '--report',
                '/dev/termination-log',
              ],
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'FallbackToLogsOnError',
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: restrictedContainer,
              volumeMounts: [
                { name: 'pipeline', mountPath: CHECK_PIPELINE_DIR, readOnly: true },
                { name: 'state', mountPath: STATE_MOUNT, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'pipeline', configMap: { name } },
            { name: 'state', persistentVolumeClaim: { claimName: claim, readOnly: true } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  };
  const pipeline = JSON.stringify(spec.pipeline, null, 2);
  const configMapFor = (jobUid: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: id.namespace,
      labels: jobLabels,
      ownerReferences: [
        { apiVersion: 'batch/v1', kind: 'Job', name, uid: jobUid, controller: true, blockOwnerDeletion: false },
      ],
    },
    data: { 'pipeline.json': pipeline },
  });
  return { job, configMapFor };
}
