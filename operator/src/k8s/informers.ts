// Informers on StreamApplications and the workloads they own. Events only enqueue keys; a failed
// watch is restarted with backoff (the process never exits because of it).
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1Deployment,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../names.ts';
import { GROUP, PLURAL, VERSION } from '../model.ts';

/**
 * The informer caches hold metadata only (see `keepMetadata`): reconcile needs presence, labels,
 * annotations and owners of the workloads, never their spec or status.
 */
export type CachedMetadata = Pick<KubernetesObject, 'apiVersion' | 'kind' | 'metadata'>;

export interface WorkloadCaches {
  statefulSets: ObjectCache<CachedMetadata>;
  deployments: ObjectCache<CachedMetadata>;
  pods: ObjectCache<CachedMetadata>;
}

/**
 * client-node's informers have no transform hook, but the first `add`/`update` listener receives
 * the very object the cache stores: trimming it there is the transform. Without it, 1,000 apps
 * keep ~3,000 full objects with their managedFields (most of their bytes) alive for nothing.
 */
export function keepMetadata(obj: KubernetesObject): void {
  const o = obj as unknown as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'apiVersion' && key !== 'kind' && key !== 'metadata') Reflect.deleteProperty(o, key);
  }
  if (obj.metadata !== undefined) Reflect.deleteProperty(obj.metadata, 'managedFields');
}

// The API server's metadata-only representation (what controller-runtime's metadata informers
// ask for): it sends each workload's metadata and nothing else, so neither side spends time on
// specs and statuses that reconcile never reads.
const PARTIAL_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const metadataOnly = setHeaderOptions('Accept', 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');

/** The same KubeConfig, whose watches ask for metadata only. */
function metadataOnlyWatches(kc: KubeConfig): KubeConfig {
  const wrapped = Object.create(kc) as KubeConfig;
  wrapped.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    context.setHeaderParam('Accept', PARTIAL_METADATA);
  };
  return wrapped;
}

/** Namespaces to watch: every namespace, or a list. */
export type WatchScope = { all: true } | { all: false; namespaces: string[] };

interface Managed<T extends KubernetesObject> {
  informer: Informer<T> & ObjectCache<T>;
  name: string;
}

/** Merges one informer per namespace into one cache. */
class MultiCache<T extends KubernetesObject> implements ObjectCache<T> {
  readonly #parts: (ObjectCache<T> & { ns: string | undefined })[] = [];
  add(ns: string | undefined, cache: ObjectCache<T>): void {
    this.#parts.push(Object.assign(cache, { ns }));
  }
  get(name: string, namespace?: string): T | undefined {
    for (const p of this.#parts) {
      if (p.ns !== undefined && p.ns !== namespace) continue;
      const hit = p.get(name, namespace);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
  list(namespace?: string): readonly T[] {
    return this.#parts
      .filter((p) => p.ns === undefined || namespace === undefined || p.ns === namespace)
      .flatMap((p) => p.list(namespace));
  }
}

/** Apps are cached whole (reconcile reads them from here), only without their managedFields. */
export function dropManagedFields(obj: KubernetesObject): void {
  if (obj.metadata !== undefined) Reflect.deleteProperty(obj.metadata, 'managedFields');
}

export interface InformerSet {
  caches: WorkloadCaches;
  /** The apps, as last seen by the watch. */
  apps: ObjectCache<KubernetesObject>;
  /** Names of the watches that have been failing for longer than `ms` (empty when all are well). */
  failingFor(ms: number): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

const ownedSelector = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;

export function makeInformers(
  kc: KubeConfig,
  scope: WatchScope,
  enqueue: (key: string) => void,
  log: (msg: string) => void,
): InformerSet {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const metadataKc = metadataOnlyWatches(kc);
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const namespaces: (string | undefined)[] = scope.all ? [undefined] : scope.namespaces;
  const managed: Managed<KubernetesObject>[] = [];
  const appCache = new MultiCache<KubernetesObject>();
  const stsCache = new MultiCache<CachedMetadata>();
  const depCache = new MultiCache<CachedMetadata>();
  const podCache = new MultiCache<CachedMetadata>();

  const keyOfOwner = (obj: KubernetesObject): string | undefined => {
    const owner = obj.metadata?.ownerReferences?.find((o) => o.kind === 'StreamApplication' && o.controller === true);
    const instance = obj.metadata?.labels?.['app.kubernetes.io/instance'];
    const name = owner?.name ?? instance;
    return name === undefined ? undefined : `${obj.metadata?.namespace ?? ''}/${name}`;
  };

  for (const ns of namespaces) {
    const where = ns === undefined ? '' : `/namespaces/${ns}`;
    const appInformer = makeInformer<KubernetesObject>(
      kc,
      `/apis/${GROUP}/${VERSION}${where}/${PLURAL}`,
      () =>
        (ns === undefined
          ? custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
          : custom.listNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace: ns,
              plural: PLURAL,
            })) as Promise<KubernetesListObject<KubernetesObject>>,
    );
    const onApp = (obj: KubernetesObject) => {
      enqueue(`${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`);
    };
    appInformer.on('add', dropManagedFields);
    appInformer.on('update', dropManagedFields);
    appInformer.on('add', onApp);
    appInformer.on('update', onApp);
    appInformer.on('delete', onApp);
    appCache.add(ns, appInformer);
    managed.push({
      informer: appInformer,
      name: `streamapplications${where}`,
    });

    const sts = makeInformer<V1StatefulSet>(
      metadataKc,
      `/apis/apps/v1${where}/statefulsets`,
      () =>
        ns === undefined
          ? apps.listStatefulSetForAllNamespaces({ labelSelector: ownedSelector }, metadataOnly)
          : apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: ownedSelector }, metadataOnly),
      ownedSelector,
    );
    const dep = makeInformer<V1Deployment>(
      metadataKc,
      `/apis/apps/v1${where}/deployments`,
      () =>
        ns === undefined
          ? apps.listDeploymentForAllNamespaces({ labelSelector: ownedSelector }, metadataOnly)
          : apps.listNamespacedDeployment({ namespace: ns, labelSelector: ownedSelector }, metadataOnly),
      ownedSelector,
    );
    const podSelector = 'app.kubernetes.io/name=weir-app';
    const pods = makeInformer<V1Pod>(
      metadataKc,
      `/api/v1${where}/pods`,
      () =>
        ns === undefined
          ? core.listPodForAllNamespaces({ labelSelector: podSelector }, metadataOnly)
          : core.listNamespacedPod({ namespace: ns, labelSelector: podSelector }, metadataOnly),
      podSelector,
    );
    for (const [inf, cache, label] of [
      [sts, stsCache, 'statefulsets'],
      [dep, depCache, 'deployments'],
      [pods, podCache, 'pods'],
    ] as const) {
      const onOwned = (obj: KubernetesObject) => {
        const key = keyOfOwner(obj);
        if (key !== undefined) enqueue(key);
      };
      const i = inf as unknown as Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
      i.on('add', keepMetadata);
      i.on('update', keepMetadata);
      i.on('add', onOwned);
      i.on('update', onOwned);
      i.on('delete', onOwned);
      cache.add(ns, i);
      managed.push({ informer: i, name: `${label}${where}` });
    }
  }

  let stopped = false;
  const restartDelays = new Map<string, number>();
  // Since when each watch has been failing: a watch that never comes back makes /healthz fail, so
  // the kubelet restarts a wedged operator instead of leaving it blind.
  const failingSince = new Map<string, number>();
  const lastError = new Map<string, number>();
  for (const m of managed) {
    m.informer.on('error', (err: unknown) => {
      if (stopped) return;
      lastError.set(m.name, Date.now());
      if (!failingSince.has(m.name)) failingSince.set(m.name, Date.now());
      const delay = Math.min(30_000, (restartDelays.get(m.name) ?? 500) * 2);
      restartDelays.set(m.name, delay);
      log(`watch of ${m.name} failed (${err instanceof Error ? err.message : String(err)}); relisting in ${delay} ms`);
      setTimeout(() => {
        if (!stopped)
          m.informer.start().catch((e: unknown) => {
            log(`relist of ${m.name} failed: ${e instanceof Error ? e.message : String(e)}`);
          });
      }, delay).unref();
    });
    m.informer.on('connect', () => {
      restartDelays.delete(m.name);
      // 'connect' comes before the relist: the watch is well again only if no error follows soon.
      const at = Date.now();
      setTimeout(() => {
        if ((lastError.get(m.name) ?? 0) < at) failingSince.delete(m.name);
      }, 5_000).unref();
    });
  }

  return {
    caches: { statefulSets: stsCache, deployments: depCache, pods: podCache },
    apps: appCache,
    failingFor(ms) {
      const now = Date.now();
      return [...failingSince].filter(([, since]) => now - since > ms).map(([name]) => name);
    },
    async start() {
      // Workload caches first, so the first reconciles see what already exists.
      const workloadInformers = managed.filter((m) => !m.name.startsWith('streamapplications'));
      await Promise.all(workloadInformers.map((m) => m.informer.start()));
      await Promise.all(managed.filter((m) => m.name.startsWith('streamapplications')).map((m) => m.informer.start()));
    },
    async stop() {
      stopped = true;
      await Promise.all(managed.map((m) => m.informer.stop()));
    },
  };
}
