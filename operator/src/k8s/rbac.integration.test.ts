// The operator under a ServiceAccount with exactly the rules of rbac.ts (what the Helm chart grants).
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node models are plain data */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { kubernetesForTests } from '@weir/e2e';
import { leaderElectionRules, operatorRules } from './rbac.ts';
import { httpStatus } from './kube.ts';
import { OperatorHarness, pollFor, testSpec } from './testing/harness.ts';

const cluster = await kubernetesForTests();

describe(
  'RBAC: the operator works with only the rules the chart grants',
  { skip: cluster.available ? false : cluster.reason },
  () => {
    let h: OperatorHarness;
    let saConfig: KubeConfig;

    before(async () => {
      if (!cluster.available) return;
      h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-op-rbac');
      const ns = h.namespace;
      const core = h.kc.makeApiClient(CoreV1Api);
      const rbac = h.kc.makeApiClient(RbacAuthorizationV1Api);
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'weir-operator' } } });
      await rbac.createNamespacedRole({
        namespace: ns,
        body: {
          metadata: { name: 'weir-operator' },
          rules: [...operatorRules, ...leaderElectionRules].map((r) => ({ ...r })),
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: 'weir-operator' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'weir-operator' },
          subjects: [{ kind: 'ServiceAccount', name: 'weir-operator', namespace: ns }],
        },
      });
      const token = await core.createNamespacedServiceAccountToken({
        name: 'weir-operator',
        namespace: ns,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      });
      const server = h.kc.getCurrentCluster();
      assert.ok(server);
      saConfig = new KubeConfig();
      saConfig.loadFromOptions({
        clusters: [{ ...server, name: 'test' }],
        users: [{ name: 'weir-operator', token: token.status?.token }],
        contexts: [{ name: 'sa', cluster: 'test', user: 'weir-operator', namespace: ns }],
        currentContext: 'sa',
      });
    });
    after(async () => {
      if (cluster.available) await h.close();
    });

    it('really is restricted (cannot read secrets in other namespaces)', async () => {
      const core = saConfig.makeApiClient(CoreV1Api);
      const status = await core.listNamespacedSecret({ namespace: 'kube-system' }).then(
        () => 200,
        (err: unknown) => httpStatus(err),
      );
      assert.equal(status, 403);
    });

    it('create, upgrade and delete an app, electing itself leader', async () => {
      await h.startOperator({
        kubeConfig: saConfig,
        leaderElection: { namespace: h.namespace, name: 'weir-operator', leaseDurationSeconds: 5, renewEveryMs: 500 },
      });
      await h.create('rbac', testSpec());
      await h.waitForPhase('rbac', 'Stable', 30_000);
      await h.patchSpec('rbac', { image: 'weir/app:2' });
      await h.waitFor(
        'rbac',
        'upgraded',
        (a) => a.status?.phase === 'Stable' && h.fake.runsOf(h.key('rbac')).length === 2,
        30_000,
      );
      await h.eventsUntil('rbac', 'recorded under the ServiceAccount', (events) => events.length > 0);
      await h.delete('rbac');
      await pollFor('the app to be gone', async () => ((await h.get('rbac')) === undefined ? true : undefined));
    });
  },
);
