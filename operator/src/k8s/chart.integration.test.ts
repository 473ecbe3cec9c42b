// The Helm chart on a cluster with real pods: `helm install`, an app run by the operator under the
// chart's RBAC only (watching one namespace), every pod admitted by namespaces that enforce the Pod
// Security Standard `restricted`, the runtime's API refusing a request without its token from inside
// the cluster, `helm upgrade` without touching the running app, and `helm uninstall`.
// Needs the local cluster (make cluster-up, started here if missing) and Docker; under CI=true a
// cluster that cannot start fails the test.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildImages, clusterForTests, installOperator, restrictedNamespace, runtimeImage, waitFor } from '@weir/e2e';

const available = await clusterForTests();
const OPERATOR_NS = 'weir-chart-test';
const APP_NS = 'weir-chart-apps';
const OTHER_NS = 'weir-chart-other';
const RELEASE = 'weir-chart';

describe('Helm chart on a real cluster', { skip: available.available ? false : available.reason }, () => {
  if (!available.available) return;
  const c = available.component;
  const kubectl = (...args: string[]) => c.kubectl(args);
  const phase = async (ns: string, name: string) =>
    (await kubectl('-n', ns, 'get', 'streamapplication', name, '-o', 'jsonpath={.status.phase}')).trim();

  before(async () => {
    await c.loadImages(await buildImages());
    for (const ns of [APP_NS, OTHER_NS]) await restrictedNamespace(c, ns);
    await installOperator(c, { release: RELEASE, namespace: OPERATOR_NS, set: [`watchNamespaces={${APP_NS}}`] });
  });

  after(async () => {
    // Apps first, while the operator still runs to clear their finalizers.
    await kubectl('-n', APP_NS, 'delete', 'streamapplication', '--all', '--timeout=120s').catch(() => '');
    await c.helm(['uninstall', RELEASE, '--namespace', OPERATOR_NS, '--wait']).catch(() => '');
    for (const ns of [APP_NS, OTHER_NS, OPERATOR_NS]) {
      await kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=false').catch(() => '');
    }
  });

  const app = (name: string) => ({
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'StreamApplication',
    metadata: { name },
    spec: {
      image: runtimeImage,
      imagePullPolicy: 'IfNotPresent',
      parallelism: 1,
      checkpoints: { intervalSeconds: 2, storage: { size: '100Mi' } },
      pipeline: {
        name,
        source: { id: 'events', generator: { seed: 1, ratePerSecond: 100 } },
        steps: [
          { id: 'by-campaign', keyBy: 'e.campaign' },
          { id: 'out', sink: { console: {} } },
        ],
      },
    },
  });

  it('installs an operator that runs an app in its watched namespace, under the chart RBAC and restricted pods', async () => {
    await c.kubectl(['-n', APP_NS, 'apply', '-f', '-'], JSON.stringify(app('chart-app')));
    await waitFor(
      async () => {
        assert.equal(await phase(APP_NS, 'chart-app'), 'Running');
      },
      240_000,
      2_000,
    );
    // Every pod there passed the namespace's enforced `restricted` admission.
    const labels = JSON.parse(await kubectl('get', 'namespace', APP_NS, '-o', 'json')) as {
      metadata: { labels: Record<string, string> };
    };
    assert.equal(labels.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    const pods = (await kubectl('-n', APP_NS, 'get', 'pods', '-o', 'name')).trim().split('\n');
    assert.ok(pods.length >= 2, `coordinator and worker pods, got ${pods.join(' ')}`);
  });

  it('grants the operator nothing outside its watched namespace', async () => {
    const sa = `system:serviceaccount:${OPERATOR_NS}:${RELEASE}`;
    // `auth can-i --quiet` answers with its exit status only: 0 yes, 1 no.
    const can = (...args: string[]) =>
      kubectl('auth', 'can-i', '--quiet', ...args, '--as', sa).then(
        () => true,
        () => false,
      );
    assert.equal(await can('create', 'statefulsets', '-n', APP_NS), true, 'statefulsets in the watched namespace');
    assert.equal(await can('get', 'secrets', '-n', OTHER_NS), false, 'secrets elsewhere');
    assert.equal(await can('list', 'streamapplications', '--all-namespaces'), false, 'apps cluster-wide');
    assert.equal(await can('create', 'services', '--subresource=proxy', '-n', APP_NS), false, 'the service proxy');
  });

  it('ignores apps outside its watched namespace', async () => {
    await c.kubectl(['-n', OTHER_NS, 'apply', '-f', '-'], JSON.stringify(app('unwatched')));
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal(await phase(OTHER_NS, 'unwatched'), '');
    await kubectl('-n', OTHER_NS, 'delete', 'streamapplication', 'unwatched', '--wait=false');
  });

  it('from inside the cluster, the runtime API refuses a request without the token', async () => {
    const probe = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'token-probe' },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'probe',
            image: runtimeImage,
            imagePullPolicy: 'IfNotPresent',
            command: ['node', '-e'],
            args: [
              `const base = 'http://chart-app-coordinator.${APP_NS}.svc:8081';
               Promise.all([fetch(base + '/v1/health'), fetch(base + '/v1/job')]).then(([h, j]) => {
                 console.log(JSON.stringify({ health: h.status, job: j.status }));
               });`,
            ],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          },
        ],
      },
    };
    await c.kubectl(['-n', APP_NS, 'apply', '-f', '-'], JSON.stringify(probe));
    const statuses = await waitFor(
      async () => {
        const out = (await kubectl('-n', APP_NS, 'logs', 'token-probe')).trim();
        return JSON.parse(out) as { health: number; job: number };
      },
      120_000,
      1_000,
    );
    assert.deepEqual(statuses, { health: 200, job: 401 });
    await kubectl('-n', APP_NS, 'delete', 'pod', 'token-probe', '--wait=false');
  });

  it('helm upgrade rolls the operator and leaves the running app alone', async () => {
    const workersUid = () =>
      kubectl('-n', APP_NS, 'get', 'statefulset', 'chart-app-worker', '-o', 'jsonpath={.metadata.uid}');
    const before = await workersUid();
    await installOperator(c, {
      release: RELEASE,
      namespace: OPERATOR_NS,
      set: [`watchNamespaces={${APP_NS}}`, 'concurrency=4'],
    });
    const args = await kubectl(
      '-n',
      OPERATOR_NS,
      'get',
      'deployment',
      RELEASE,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].args}',
    );
    assert.match(args, /--concurrency=4/);
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal(await phase(APP_NS, 'chart-app'), 'Running');
    const after = await workersUid();
    assert.equal(after, before, 'the workers were not recreated');
  });

  it('helm uninstall removes the operator and keeps the CRD (and so the users’ apps)', async () => {
    await kubectl('-n', APP_NS, 'delete', 'streamapplication', 'chart-app', '--timeout=120s');
    await c.helm(['uninstall', RELEASE, '--namespace', OPERATOR_NS, '--wait']);
    const left = (await kubectl('-n', OPERATOR_NS, 'get', 'deployment', '-o', 'name')).trim();
    assert.equal(left, '');
    assert.match(await kubectl('get', 'crd', 'streamapplications.weir.dev', '-o', 'name'), /streamapplications/);
  });
});
