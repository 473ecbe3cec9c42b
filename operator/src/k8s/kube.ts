// KubePort over @kubernetes/client-node: reads the app fresh, workloads from informer caches,
// writes with server-side apply and resourceVersion-guarded merge patches.
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { FIELD_MANAGER, names, SPEC_HASH_ANNOTATION, type KubeObject } from '../act/manifests.ts';
import { GROUP, PLURAL, VERSION, type StreamApplication, type StreamApplicationStatus } from '../model.ts';
import type { KubePort, Workloads } from '../ports.ts';
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
  readonly #caches: WorkloadCaches;
  readonly #identity: string;

  constructor(kc: KubeConfig, caches: WorkloadCaches, identity: string) {
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
    this.#caches = caches;
    this.#identity = identity;
  }

  async getApp(namespace: string, name: string): Promise<StreamApplication | undefined> {
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
    return (await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: app.metadata.namespace ?? '',
        name: app.metadata.name ?? '',
        body: { metadata: { resourceVersion: app.metadata.resourceVersion }, status: body },
        fieldManager: FIELD_MANAGER,
      },
      mergePatch,
    )) as StreamApplication;
  }

  async setFinalizer(
    app: StreamApplication,
    finalizer: string,
    present: boolean,
  ): Promise<StreamApplication | undefined> {
    const current = app.metadata.finalizers ?? [];
    const finalizers = present ? [...new Set([...current, finalizer])] : current.filter((f) => f !== finalizer);
    try {
      return (await this.#custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: app.metadata.namespace ?? '',
          name: app.metadata.name ?? '',
          body: { metadata: { resourceVersion: app.metadata.resourceVersion, finalizers } },
          fieldManager: FIELD_MANAGER,
        },
        mergePatch,
      )) as StreamApplication;
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
