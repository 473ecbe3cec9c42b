/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node models are plain data */
// `--runtime-access proxy` for real: the operator's RuntimeClient reaches a runtime through the
// kube-apiserver's service proxy (/api/v1/namespaces/{ns}/services/http:{svc}:{port}/proxy/...).
//
// The API server refuses to proxy to loopback, so the fake runtime listens on the docker bridge
// gateway (docker0, up while the shared infra runs). The 1.34 service proxy resolves the Service
// through its Endpoints object (not EndpointSlices; those are read from 1.35 on) and only proxies
// to addresses that are a Pod's IP, so the test creates what a running coordinator would leave:
// a Pod whose status carries that IP (no node runs it), a selector-less Service, and Endpoints
// naming the Pod. The EndpointSlice mirroring controller derives the slice from them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { availableForTests, kubernetesForTests } from '@weir/e2e';
import { names, RUNTIME_API_PORT } from '../names.ts';
import { RuntimeApiError, RuntimeClient, type AppRef } from '../runtime/client.ts';
import { startFakeRuntime, type FakeRuntime } from '../runtime/testing/fake-runtime.ts';
import { operatorRules, serviceProxyRules } from './rbac.ts';
import { serviceProxyTransport } from './service-proxy.ts';
import { pollFor } from './testing/harness.ts';

/** The IPv4 address of the docker bridge (docker0): non-loopback, on this host, made by this run's infra. */
function dockerBridgeAddress(): string {
  const fromNode = networkInterfaces().docker0?.find((a) => a.family === 'IPv4')?.address;
  if (fromNode !== undefined) return fromNode;
  // An interface without carrier may be missing from Node's list; ask iproute2.
  const out = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'docker0'], { encoding: 'utf8' });
  const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1];
  if (ip === undefined) throw new Error('docker0 has no IPv4 address (is dockerd up? `make infra-up` starts it)');
  return ip;
}

const cluster = await kubernetesForTests();
const bridge = await availableForTests('docker bridge (docker0)', () => Promise.resolve(dockerBridgeAddress()));
const skip = !cluster.available ? cluster.reason : !bridge.available ? bridge.reason : false;

/** A kubeconfig for a new ServiceAccount, bound (unless `bound` is false) to exactly the operator's rules. */
async function operatorServiceAccount(
  admin: KubeConfig,
  namespace: string,
  name = 'weir-operator',
  bound = true,
): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  if (bound) {
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name }, rules: [...operatorRules, ...serviceProxyRules].map((r) => ({ ...r })) },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    });
  }
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const server = admin.getCurrentCluster();
  if (server === null) throw new Error('admin kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...server, name: 'test' }],
    users: [{ name, token: token.status?.token }],
    contexts: [{ name, cluster: 'test', user: name, namespace }],
    currentContext: name,
  });
  return kc;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const TOKEN = 'proxy-test-token';

describe('the runtime API through the kube-apiserver service proxy', { skip }, () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let fake: FakeRuntime;
  let client: RuntimeClient;
  let ip: string;
  const namespace = `weir-proxy-${randomBytes(3).toString('hex')}`;
  const app: AppRef = { namespace, name: 'orders' };
  const key = `${namespace}/orders`;
  const service = names(app.name).coordinator;

  before(async () => {
    if (!cluster.available || !bridge.available) return;
    kc = cluster.component.kubeConfig;
    ip = bridge.component;
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    fake = await startFakeRuntime({ checkpointIntervalMs: 20, savepointDelayMs: 20, rootApp: app }, ip);
    fake.startJob(key, { image: 'weir/app:1', specHash: 'h1', token: TOKEN });
    client = new RuntimeClient(serviceProxyTransport(kc), () => Promise.resolve(TOKEN));
    await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: service },
        // No selector: the endpoints are ours, not the endpoints controller's.
        spec: { ports: [{ name: 'control', port: RUNTIME_API_PORT, targetPort: 'control' }] },
      },
    });
  });
  after(async () => {
    if (!cluster.available || !bridge.available) return;
    await fake.close();
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('a Service without endpoints is an unreachable runtime, not an error', async () => {
    assert.equal(await client.view(app), undefined);
    assert.equal(await client.savepoint(app, 'any'), undefined);
  });

  it('reaches the runtime once the Service has a ready endpoint', async () => {
    const pod = `${service}-0`;
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: pod, labels: { app: 'orders' } },
        // On a cluster with a node (make cluster-up), a selector no node matches keeps it unscheduled.
        spec: {
          nodeSelector: { 'weir.dev/no-such-node': 'true' },
          containers: [{ name: 'coordinator', image: 'weir/app:1' }],
        },
      },
    });
    // What a kubelet would report; no node runs this pod, so nobody overwrites it.
    await core.patchNamespacedPodStatus(
      { namespace, name: pod, body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } },
      mergePatch,
    );
    const address = new URL(fake.url);
    await core.createNamespacedEndpoints({
      namespace,
      body: {
        metadata: { name: service },
        subsets: [
          {
            addresses: [{ ip, targetRef: { kind: 'Pod', namespace, name: pod } }],
            ports: [{ name: 'control', port: Number(address.port), protocol: 'TCP' }],
          },
        ],
      },
    });
    const view = await pollFor('the runtime through the proxy', () => client.view(app), 15_000);
    assert.equal(view.job.state, 'RUNNING');
    assert.equal(view.job.specHash, 'h1');
    const seen = fake.requests.findLast((r) => r.app === key && r.operationId === 'getJob');
    assert.ok(seen !== undefined, 'the request reached the fake runtime');
    assert.equal(seen.headers['x-weir-token'], TOKEN, 'the token header reached the runtime');
  });

  it('carries the token header to the runtime; a wrong token is refused by the runtime', async () => {
    const before = fake.requests.length;
    const wrong = new RuntimeClient(serviceProxyTransport(kc), () => Promise.resolve('not-the-token'));
    await assert.rejects(
      wrong.triggerSavepoint(app, { requestId: 'm-0', stop: false, trigger: 'manual' }),
      (err) => err instanceof RuntimeApiError && err.status === 401,
    );
    // The 401 is the runtime's (it saw the request), not the API server's.
    assert.ok(fake.requests.slice(before).some((r) => r.operationId === 'triggerSavepoint'));
    assert.equal(fake.jobs.get(key)?.savepoints.has('m-0'), false);
  });

  it('triggers a savepoint with a JSON body and polls it to completion', async () => {
    const triggered = await client.triggerSavepoint(app, { requestId: 'm-1', stop: false, trigger: 'manual' });
    assert.equal(triggered.id, 'm-1');
    const done = await pollFor(
      'savepoint m-1',
      async () => {
        const sp = await client.savepoint(app, 'm-1');
        return sp?.state === 'COMPLETED' ? sp : undefined;
      },
      10_000,
    );
    assert.equal(done.path, `file:///weir/savepoints/${key}/m-1`);
    assert.deepEqual(fake.savepointsTaken.get(key), [done.path]);
    assert.equal((await client.cancelSavepoint(app, 'm-1'))?.state, 'COMPLETED', 'too late to cancel');
    assert.equal(await client.savepoint(app, 'never-asked'), undefined, "the runtime's 404 passes through");
    assert.equal((await client.view(app))?.job.state, 'RUNNING', 'a savepoint without stop keeps the job');
  });

  it("works under the operator's ServiceAccount with only rbac.ts's rules, whose credentials never reach the runtime", async () => {
    const sa = await operatorServiceAccount(kc, namespace);
    const restricted = new RuntimeClient(serviceProxyTransport(sa), () => Promise.resolve(TOKEN));
    const from = fake.requests.length;
    assert.equal((await restricted.view(app))?.job.state, 'RUNNING', 'GET needs services/proxy get');
    const sp = await restricted.triggerSavepoint(app, { requestId: 'm-sa', stop: false, trigger: 'manual' });
    assert.equal(sp.id, 'm-sa', 'POST needs services/proxy create');
    const seen = fake.requests.slice(from);
    assert.ok(seen.length >= 4);
    for (const r of seen) {
      assert.equal(r.headers['x-weir-token'], TOKEN);
      assert.equal(r.headers.authorization, undefined, "the API server does not forward the operator's bearer token");
    }
    // Without the role, the API server refuses before the runtime sees anything.
    const stranger = await operatorServiceAccount(kc, namespace, 'stranger', false);
    const before = fake.requests.length;
    await assert.rejects(
      new RuntimeClient(serviceProxyTransport(stranger), () => Promise.resolve(TOKEN)).view(app),
      (err) => err instanceof RuntimeApiError && err.status === 403,
    );
    assert.equal(fake.requests.length, before);
  });

  it('cancels a stuck savepoint through the proxy', async () => {
    fake.faults(key).savepoint = 'slow';
    await client.triggerSavepoint(app, { requestId: 'm-2', stop: true, trigger: 'upgrade' });
    assert.equal((await client.savepoint(app, 'm-2'))?.state, 'IN_PROGRESS');
    assert.equal((await client.cancelSavepoint(app, 'm-2'))?.state, 'CANCELED');
    assert.equal((await client.view(app))?.job.state, 'RUNNING');
    fake.faults(key).savepoint = 'ok';
  });
});
