/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
   @kubernetes/client-node models are plain data classes that its API methods accept as object literals. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { AppsV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';

import {
  defaultK3sImage,
  kubernetesForTests,
  kubernetesTools,
  parsePinnedVersions,
  pinnedVersions,
  pollUntil,
  selectKubernetesProvider,
} from './kubernetes.ts';

describe('selectKubernetesProvider', () => {
  it('runs the host control plane by default', () => {
    assert.deepEqual(selectKubernetesProvider({}), { kind: 'host' });
    assert.deepEqual(selectKubernetesProvider({ WEIR_COMPONENTS: 'host', WEIR_TEST_KUBECONFIG: '' }), {
      kind: 'host',
    });
  });

  it('uses an existing cluster when WEIR_TEST_KUBECONFIG names one, whatever the components', () => {
    assert.deepEqual(
      selectKubernetesProvider({ WEIR_TEST_KUBECONFIG: '/k/config', WEIR_COMPONENTS: 'testcontainers' }),
      { kind: 'kubeconfig', kubeconfigPath: '/k/config' },
    );
  });

  it('runs K3s in a container only when asked to, with an overridable image', () => {
    assert.deepEqual(selectKubernetesProvider({ WEIR_COMPONENTS: 'testcontainers' }), {
      kind: 'testcontainers',
      image: defaultK3sImage,
    });
    assert.deepEqual(selectKubernetesProvider({ WEIR_COMPONENTS: 'testcontainers', WEIR_K3S_IMAGE: 'k3s:x' }), {
      kind: 'testcontainers',
      image: 'k3s:x',
    });
  });

  it('rejects an unknown WEIR_COMPONENTS value by name', () => {
    assert.throws(() => selectKubernetesProvider({ WEIR_COMPONENTS: 'docker' }), /WEIR_COMPONENTS .*"docker"/);
  });
});

describe('parsePinnedVersions', () => {
  it('reads KEY=value lines and ignores comments', () => {
    const text = '# pins\nK8S_VERSION=v1.34.4\n\nETCD_VERSION=v3.5.35\nHELM_VERSION=v3.19.5\nKIND_VERSION=v0.30.0\n';
    assert.deepEqual(parsePinnedVersions(text), {
      kubernetes: 'v1.34.4',
      etcd: 'v3.5.35',
      helm: 'v3.19.5',
      kind: 'v0.30.0',
    });
  });

  it('names a missing or malformed version', () => {
    assert.throws(
      () => parsePinnedVersions('K8S_VERSION=1.34\n'),
      /K8S_VERSION must be a version like v1\.2\.3, got 1\.34/,
    );
    assert.throws(
      () => parsePinnedVersions('K8S_VERSION=v1.34.4\nETCD_VERSION=v3.5.35\nHELM_VERSION=v3.19.5\n'),
      /KIND_VERSION .* got nothing/,
    );
    assert.throws(() => parsePinnedVersions('K8S_VERSION v1\n'), /expected KEY=value/);
  });

  it('matches the versions the Go wrapper modules pin', () => {
    const pinned = pinnedVersions();
    const goMod = (dir: string) =>
      readFileSync(new URL(`../../infra/kubernetes/build/${dir}/go.mod`, import.meta.url), 'utf8');
    const kube = goMod('kubernetes');
    assert.match(kube, new RegExp(`k8s\\.io/kubernetes ${pinned.kubernetes.replaceAll('.', '\\.')}\\b`));
    // Every staging module is replaced by the published v0.<minor>.<patch> of the same release.
    const staging = pinned.kubernetes.replace(/^v1\./, 'v0.');
    const replaced = [...kube.matchAll(/^\t(k8s\.io\/\S+) => \1 (\S+)$/gm)];
    assert.ok(replaced.length > 20, 'expected the staging modules to be replaced');
    for (const [, module, version] of replaced)
      assert.equal(version, staging, `${module ?? ''} pinned at ${version ?? ''}`);
    assert.match(goMod('etcd'), new RegExp(`go\\.etcd\\.io/etcd/server/v3 ${pinned.etcd.replaceAll('.', '\\.')}\\b`));
  });
});

describe('pollUntil', () => {
  it('retries until the attempt succeeds', async () => {
    let calls = 0;
    const value = await pollUntil(
      () => {
        calls += 1;
        return calls < 3 ? Promise.reject(new Error(`not yet (${calls})`)) : Promise.resolve('ready');
      },
      5_000,
      1,
    );
    assert.equal(value, 'ready');
    assert.equal(calls, 3);
  });

  it('gives up after the deadline with the last error', async () => {
    let calls = 0;
    await assert.rejects(
      pollUntil(
        () => {
          calls += 1;
          return Promise.reject(new Error(`attempt ${calls} failed`));
        },
        // Long enough for several attempts even on a stalled machine (20 ms once allowed only one).
        500,
        5,
      ),
      (error: Error) => error.message === `attempt ${calls} failed` && calls > 1,
    );
  });
});

const cluster = await kubernetesForTests();

describe('kubernetes() against a real control plane', { skip: cluster.available ? false : cluster.reason }, () => {
  if (!cluster.available) return;
  const { kubeConfig } = cluster.component;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const namespace = `weir-kube-${randomBytes(4).toString('hex')}`;

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await core.deleteNamespace({ name: namespace });
  });

  it('serves the pinned Kubernetes version (unless an external cluster was given)', () => {
    if (cluster.component.provider === 'host') assert.equal(cluster.component.version, pinnedVersions().kubernetes);
    else assert.match(cluster.component.version, /^v1\.\d+\.\d+/);
  });

  it(
    'reuses the running control plane on a second start',
    { skip: cluster.component.provider !== 'host' },
    async () => {
      const started = Date.now();
      const { stdout, stderr } = await promisify(execFile)(
        fileURLToPath(new URL('../../infra/kubernetes/up.sh', import.meta.url)),
      );
      assert.equal(stdout.trim(), cluster.component.kubeconfigPath);
      assert.match(stderr, /control plane already up/);
      assert.ok(Date.now() - started < 5_000, 'reusing a running control plane should take well under 5 s');
    },
  );

  it('refuses anonymous requests', { skip: cluster.component.provider !== 'host' }, async () => {
    const anonymous = new KubeConfig();
    const current = kubeConfig.getCurrentCluster();
    assert.ok(current);
    anonymous.loadFromClusterAndUser(current, { name: 'anonymous' });
    await assert.rejects(anonymous.makeApiClient(CoreV1Api).listNamespace(), { code: 401 });
  });

  it('signs service-account tokens and authorizes them with RBAC', async () => {
    const name = 'reader';
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    const { status } = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = status?.token;
    assert.ok(token, 'TokenRequest returned no token');
    const asReader = new KubeConfig();
    const current = kubeConfig.getCurrentCluster();
    assert.ok(current);
    asReader.loadFromClusterAndUser(current, { name, token });
    const readerCore = asReader.makeApiClient(CoreV1Api);

    // Authenticated but not yet authorized: RBAC denies.
    await assert.rejects(readerCore.listNamespacedConfigMap({ namespace }), { code: 403 });

    const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    });
    const list = await pollUntil(() => readerCore.listNamespacedConfigMap({ namespace }), 10_000);
    // The controller manager publishes the cluster CA into every namespace.
    assert.ok(list.items.some((cm) => cm.metadata?.name === 'kube-root-ca.crt'));
  });

  it('runs the Deployment and ReplicaSet controllers: a Deployment gets its ReplicaSet and Pods', async () => {
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const labels = { app: 'smoke' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'smoke' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'main', image: 'weir/none:0' }] } },
        },
      },
    });
    const pods = await pollUntil(async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=smoke' });
      if (list.items.length !== 2) throw new Error(`${list.items.length} pods so far`);
      return list.items;
    }, 30_000);
    const owner = pods[0]?.metadata?.ownerReferences?.[0];
    assert.equal(owner?.kind, 'ReplicaSet');
    const rs = await apps.readNamespacedReplicaSet({ namespace, name: owner.name });
    assert.equal(rs.metadata?.ownerReferences?.[0]?.name, 'smoke');
  });
});

describe('helm and kind, built from the Go module proxy', () => {
  const run = promisify(execFile);
  const tools = kubernetesTools();
  const pinned = pinnedVersions();

  it('helm is the pinned version', async () => {
    const { stdout } = await run(tools.helm, ['version', '--short']);
    assert.match(stdout, new RegExp(`^${pinned.helm.replaceAll('.', '\\.')}\\b`));
  });

  it('kind is the pinned version', async () => {
    const { stdout } = await run(tools.kind, ['version']);
    assert.match(stdout, new RegExp(`^kind ${pinned.kind.replaceAll('.', '\\.')} `));
  });
});
