// KubePort over @kubernetes/client-node: reads the app fresh, workloads from informer caches,
// writes with server-side apply and resourceVersion-guarded merge patches.
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import {
  checkLabels,
  FIELD_MANAGER,
  names,
  selectorLabels,
  selectorString,
  SPEC_HASH_ANNOTATION,
  type KubeObject,
} from '../names.ts';
import { GROUP, PLURAL, VERSION, type StreamApplication, type StreamApplicationStatus } from '../model.ts';
import type { CheckJobState, KubePort, Workloads } from '../ports.ts';
import type { WorkloadCaches } from './informers.ts';

export function httpStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class KubeClient implements KubePort {
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #apps: AppsV1Api;
  readonly #objects: KubernetesObjectApi;
  readonly #batch: BatchV1Api;
  readonly #caches: WorkloadCaches;
  readonly #appCache: ObjectCache<KubernetesObject> | undefined;
  readonly #identity: string;
  /** The resourceVersion of this operator's latest write to each app, until the cache shows it. */
  readonly #written = new Map<string, string>();

  constructor(kc: KubeConfig, caches: WorkloadCaches, identity: string, apps?: ObjectCache<KubernetesObject>) {
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
    this.#batch = kc.makeApiClient(BatchV1Api);
    this.#caches = caches;
    this.#appCache = apps;
    this.#identity = identity;
  }

  /**
   * From the watch cache when it already shows this operator's own latest write (the usual case:
   * that write's event is what queued the pass); otherwise fresh from the API server, so a pass
   * never decides on a status older than the one it wrote. Other writers' changes may still be
   * a moment late, as with any informer; the resourceVersion guard on writes catches that.
   */
  async getApp(namespace: string, name: string): Promise<StreamApplication | undefined> {
    const key = `${namespace}/${name}`;
    const cached = this.#appCache?.get(name, namespace);
    const written = this.#written.get(key);
    if (cached !== undefined && (written === undefined || cached.metadata?.resourceVersion === written)) {
      this.#written.delete(key);
      // A copy: the pass may change what it reads, the cache must not change with it.
      return structuredClone(cached) as StreamApplication;
    }
    this.#written.delete(key);
    return this.#readApp(namespace, name);
  }

  #remember(app: StreamApplication): StreamApplication {
    const rv = app.metadata.resourceVersion;
    if (rv !== undefined) this.#written.set(`${app.metadata.namespace ?? ''}/${app.metadata.name ?? ''}`, rv);
    return app;
  }

  async #readApp(namespace: string, name: string): Promise<StreamApplication | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      })) as StreamApplication;
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw err;
    }
  }

  workloads(namespace: string, name: string): Workloads {
    const n = names(name);
    const sts = this.#caches.statefulSets.get(n.workers, namespace);
    const dep = this.#caches.deployments.get(n.coordinator, namespace);
    const specHash =
      sts?.metadata?.annotations?.[SPEC_HASH_ANNOTATION] ?? dep?.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
    const podsRemaining = this.#caches.pods
      .list(namespace)
      .filter(
        (p) =>
          p.metadata?.labels?.['app.kubernetes.io/instance'] === name &&
          p.metadata.labels['app.kubernetes.io/name'] === 'weir-app',
      ).length;
    return {
      present: sts !== undefined || dep !== undefined,
      podsRemaining,
      ...(specHash === undefined ? {} : { specHash }),
    };
  }

  async apply(objects: KubeObject[]): Promise<void> {
    // Independent objects: apply them concurrently (the pods wait for their ConfigMap and PVC anyway).
    await Promise.all(
      objects.map((obj) =>
        this.#objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
      ),
    );
  }

  async createIfAbsent(object: KubeObject): Promise<void> {
    try {
      await this.#objects.create(object);
    } catch (err) {
      if (httpStatus(err) !== 409) throw err;
    }
  }

  async deleteWorkloads(namespace: string, name: string): Promise<void> {
    const n = names(name);
    const ignore404 = (err: unknown) => {
      if (httpStatus(err) !== 404) throw err;
    };
    // The garbage collector removes their pods; decide waits until none is left.
    await Promise.all([
      this.#apps
        .deleteNamespacedStatefulSet({ name: n.workers, namespace, propagationPolicy: 'Background' })
        .catch(ignore404),
      this.#apps
        .deleteNamespacedDeployment({ name: n.coordinator, namespace, propagationPolicy: 'Background' })
        .catch(ignore404),
    ]);
  }

  async writeStatus(
    app: StreamApplication,
    status: StreamApplicationStatus,
    removed: string[],
  ): Promise<StreamApplication> {
    const body: Record<string, unknown> = { ...status };
    for (const key of removed) body[key] = null;
    return this.#patchApp(app, { status: body }, 'status');
  }

  /** A merge patch guarded by the resourceVersion the pass read; remembered for getApp. */
  async #patchApp(
    app: StreamApplication,
    body: { status?: Record<string, unknown>; metadata?: Record<string, unknown> },
    subresource?: 'status',
  ): Promise<StreamApplication> {
    const params = {
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: app.metadata.namespace ?? '',
      name: app.metadata.name ?? '',
      body: { ...body, metadata: { resourceVersion: app.metadata.resourceVersion, ...(body.metadata ?? {}) } },
      fieldManager: FIELD_MANAGER,
    };
    const patched: unknown =
      subresource === 'status'
        ? await this.#custom.patchNamespacedCustomObjectStatus(params, mergePatch)
        : await this.#custom.patchNamespacedCustomObject(params, mergePatch);
    return this.#remember(patched as StreamApplication);
  }

  async setFinalizer(
    app: StreamApplication,
    finalizer: string,
    present: boolean,
  ): Promise<StreamApplication | undefined> {
    const current = app.metadata.finalizers ?? [];
    const finalizers = present ? [...new Set([...current, finalizer])] : current.filter((f) => f !== finalizer);
    try {
      return await this.#patchApp(app, { metadata: { finalizers } });
    } catch (err) {
      if (!present && httpStatus(err) === 404) return undefined;
      throw err;
    }
  }

  async event(
    app: StreamApplication,
    e: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void> {
    const now = new Date();
    const namespace = app.metadata.namespace ?? 'default';
    /* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node's models are plain data */
    await this.#core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${app.metadata.name ?? 'app'}.`, namespace },
        involvedObject: {
          apiVersion: app.apiVersion,
          kind: app.kind,
          name: app.metadata.name,
          namespace,
          uid: app.metadata.uid,
          resourceVersion: app.metadata.resourceVersion,
        },
        type: e.type,
        reason: e.reason,
        message: e.message.slice(0, 1024),
        source: { component: FIELD_MANAGER },
        reportingComponent: `weir.dev/${FIELD_MANAGER}`,
        reportingInstance: this.#identity,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    /* eslint-enable @typescript-eslint/no-unsafe-class-instance-assignment */
  }

  async compatibilityChecks(namespace: string, app: string): Promise<CheckJobState[]> {
    // Read directly (no informer): only apps waiting for a check ask, every poll while they wait.
    const jobs = await this.#batch.listNamespacedJob({ namespace, labelSelector: selectorString(checkLabels(app)) });
    return Promise.all(
      jobs.items.map(async (job): Promise<CheckJobState> => {
        const name = job.metadata?.name ?? '';
        const conditions = (job.status?.conditions ?? []).map((c) => ({
          type: c.type,
          status: c.status,
          ...(c.reason === undefined ? {} : { reason: c.reason }),
          ...(c.message === undefined ? {} : { message: c.message }),
          ...(c.lastTransitionTime === undefined
            ? {}
            : { lastTransitionTime: new Date(c.lastTransitionTime).toISOString() }),
        }));
        const finished = conditions.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
        const terminated = finished ? await this.#checkTermination(namespace, name) : undefined;
        return {
          name,
          labels: job.metadata?.labels ?? {},
          conditions,
          ...(terminated === undefined ? {} : { terminated }),
        };
      }),
    );
  }

  async podRestarts(namespace: string, app: string, specHash: string | undefined): Promise<number> {
    const pods = await this.#core.listNamespacedPod({ namespace, labelSelector: selectorString(selectorLabels(app)) });
    let n = 0;
    for (const p of pods.items) {
      if (specHash !== undefined && p.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== specHash) continue;
      for (const c of p.status?.containerStatuses ?? []) n += c.restartCount;
    }
    return n;
  }

  /** The newest terminated check container of a Job's pods: where the verdict is. */
  async #checkTermination(namespace: string, job: string): Promise<CheckJobState['terminated']> {
    const pods = await this.#core.listNamespacedPod({
      namespace,
      labelSelector: `batch.kubernetes.io/job-name=${job}`,
    });
    const ends = pods.items
      .flatMap((p) => p.status?.containerStatuses ?? [])
      .map((c) => c.state?.terminated)
      .filter((t) => t !== undefined)
      .sort((a, b) => (b.finishedAt?.getTime() ?? 0) - (a.finishedAt?.getTime() ?? 0));
    const t = ends[0];
    if (t === undefined) return undefined;
    return {
      exitCode: t.exitCode,
      ...(t.reason === undefined ? {} : { reason: t.reason }),
      ...(t.message === undefined ? {} : { message: t.message }),
    };
  }

  async startCompatibilityCheck(job: KubeObject, configMapFor: (jobUid: string) => KubeObject): Promise<void> {
    const applied = await this.#objects.patch(
      job,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    const uid = (applied.metadata as { uid?: string }).uid;
    if (uid === undefined) throw new Error(`the API server returned Job ${job.metadata.name} without a uid`);
    await this.#objects.patch(
      configMapFor(uid),
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  async deleteCompatibilityCheck(namespace: string, name: string): Promise<void> {
    try {
      // Background: the garbage collector removes its pods and its ConfigMap.
      await this.#batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' });
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
  }

  async readSecretValue(namespace: string, name: string, key: string): Promise<string | undefined> {
    try {
      const secret = await this.#core.readNamespacedSecret({ name, namespace });
      const value = secret.data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw err;
    }
  }
}
