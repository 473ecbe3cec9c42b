// Reading apps from the watch cache must never hand a pass a status older than the one this
// operator wrote: checked against the real kube-apiserver with a cache the test holds back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CustomObjectsApi, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { kubernetesForTests } from '@weir/e2e';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type StreamApplication } from '../model.ts';
import type { WorkloadCaches } from './informers.ts';
import { httpStatus, KubeClient } from './kube.ts';
import { OperatorHarness, testSpec } from './testing/harness.ts';

const cluster = await kubernetesForTests();
const skip = cluster.available ? false : cluster.reason;

/** A watch cache that shows exactly what the test puts in it, however far behind the server. */
class HeldBackCache implements ObjectCache<KubernetesObject> {
  readonly #objects = new Map<string, KubernetesObject>();
  show(app: StreamApplication): void {
    // The app's own types allow string timestamps, which client-node's KubernetesObject does not.
    this.#objects.set(app.metadata.name ?? '', structuredClone(app) as unknown as KubernetesObject);
  }
  get(name: string): KubernetesObject | undefined {
    return this.#objects.get(name);
  }
  list(): readonly KubernetesObject[] {
    return [...this.#objects.values()];
  }
}

const empty: ObjectCache<KubernetesObject> = { get: () => undefined, list: () => [] };
const noWorkloads: WorkloadCaches = { statefulSets: empty, deployments: empty, pods: empty };

describe('KubeClient reads apps from the watch cache, never behind its own writes', { skip }, () => {
  let h: OperatorHarness;
  let custom: CustomObjectsApi;

  before(async () => {
    if (!cluster.available) return;
    h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-kube');
    custom = h.kc.makeApiClient(CustomObjectsApi);
  });
  after(async () => {
    if (cluster.available) await h.close();
  });

  it('cache when it shows the last own write, the server while it lags, a conflict for others’ writes', async () => {
    const cache = new HeldBackCache();
    const kube = new KubeClient(h.kc, noWorkloads, 'test', cache);
    const created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: h.namespace,
      plural: PLURAL,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'cached' }, spec: testSpec() },
    })) as StreamApplication;
    cache.show(created);

    // Nothing written yet: the cache answers, with a copy the pass may change freely.
    const first = await kube.getApp(h.namespace, 'cached');
    assert.equal(first?.metadata.resourceVersion, created.metadata.resourceVersion);
    if (first !== undefined) first.metadata.labels = { changed: 'by the pass' };
    assert.equal(cache.get('cached')?.metadata?.labels, undefined);

    // Our own write, not yet in the cache: the next read comes from the server.
    const written = await kube.writeStatus(created, { phase: 'Deploying' }, []);
    const afterWrite = await kube.getApp(h.namespace, 'cached');
    assert.equal(afterWrite?.status?.phase, 'Deploying');
    assert.equal(afterWrite.metadata.resourceVersion, written.metadata.resourceVersion);

    // The cache caught up: it answers again.
    cache.show({ ...written, metadata: { ...written.metadata, labels: { seen: 'in cache' } } });
    assert.deepEqual((await kube.getApp(h.namespace, 'cached'))?.metadata.labels, { seen: 'in cache' });

    // Someone else wrote since, and the cache has not seen it: the read is stale, as with any
    // informer, but the resourceVersion guard turns the stale write into a conflict.
    await custom.patchNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      namespace: h.namespace,
      plural: PLURAL,
      name: 'cached',
      body: [{ op: 'replace', path: '/status/phase', value: 'Running' }],
    });
    const stale = await kube.getApp(h.namespace, 'cached');
    assert.equal(stale?.status?.phase, 'Deploying');
    await assert.rejects(kube.writeStatus(stale, { phase: 'Failed' }, []), (err: unknown) => httpStatus(err) === 409);
  });
});
