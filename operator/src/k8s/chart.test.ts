// The Helm chart (charts/weir), rendered by the pinned helm: lint, what it grants (exactly rbac.ts's
// rules, cluster-wide or per watched namespace), how the operator pod runs, and values it refuses.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { kubernetesTools } from '@weir/e2e';
import { leaderElectionRules, operatorRules } from './rbac.ts';

const run = promisify(execFile);
const chart = fileURLToPath(new URL('../../../charts/weir', import.meta.url));
const buildScript = fileURLToPath(new URL('../../../e2e/infra/kubernetes/build.sh', import.meta.url));
const helm = kubernetesTools().helm;

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: unknown;
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

async function render(...sets: string[]): Promise<Obj[]> {
  const { stdout } = await run(helm, [
    'template',
    'weir',
    chart,
    '--namespace',
    'weir-system',
    ...sets.flatMap((s) => ['--set', s]),
  ]);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const plain = (rules: readonly object[]) => rules.map((r) => ({ ...r }));
const only = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);

describe('Helm chart charts/weir', () => {
  before(async () => {
    // The pinned helm, built (once, cached) if this machine has not yet.
    if (!existsSync(helm)) await run(buildScript, ['helm'], { maxBuffer: 16 << 20 });
  });

  it('passes helm lint --strict', async () => {
    const { stdout } = await run(helm, ['lint', '--strict', chart]);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('by default grants rbac.ts rules cluster-wide, and the Lease rules in its own namespace only', async () => {
    const objs = await render();
    const [clusterRole] = only(objs, 'ClusterRole');
    assert.ok(clusterRole);
    assert.deepEqual(clusterRole.rules, plain(operatorRules));
    const roles = only(objs, 'Role');
    assert.equal(roles.length, 1);
    const [lease] = roles;
    assert.ok(lease);
    assert.equal(lease.metadata.namespace, 'weir-system');
    assert.deepEqual(lease.rules, plain(leaderElectionRules));
    // No access to the API server's service proxy: in the cluster the operator calls Services directly.
    assert.ok(!JSON.stringify(objs).includes('services/proxy'));
  });

  it('with watchNamespaces grants the rules only in those namespaces, and watches only them', async () => {
    const objs = await render('watchNamespaces={team-a,team-b}');
    assert.equal(only(objs, 'ClusterRole').length, 0);
    assert.equal(only(objs, 'ClusterRoleBinding').length, 0);
    const appRoles = only(objs, 'Role').filter((r) => r.metadata.namespace !== 'weir-system');
    assert.deepEqual(appRoles.map((r) => r.metadata.namespace).sort(), ['team-a', 'team-b']);
    for (const r of appRoles) assert.deepEqual(r.rules, plain(operatorRules));
    const bindings = only(objs, 'RoleBinding').filter((r) => r.metadata.namespace !== 'weir-system');
    for (const b of bindings) {
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: 'weir', namespace: 'weir-system' }]);
    }
    const [deployment] = only(objs, 'Deployment');
    assert.ok(JSON.stringify(deployment).includes('--namespaces=team-a,team-b'));
  });

  it('runs the operator non-root, read-only, without capabilities, with leader election, at the chart version', async () => {
    const [deployment] = only(await render('replicas=2'), 'Deployment');
    assert.ok(deployment);
    const pod = (deployment.spec?.template as { spec: Record<string, unknown> }).spec;
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const [container] = pod.containers as { image: string; args: string[]; securityContext: unknown }[];
    assert.ok(container);
    assert.deepEqual(container.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.equal(deployment.spec?.replicas, 2);
    assert.ok(container.args.includes('--leader-elect=true'));
    const { stdout } = await run(helm, ['show', 'chart', chart]);
    const appVersion = /appVersion:\s*"?([^"\s]+)/.exec(stdout)?.[1];
    assert.equal(container.image, `weir/operator:${appVersion}`);
  });

  it('renders a ServiceMonitor only when asked, for the metrics Service', async () => {
    assert.equal(only(await render(), 'ServiceMonitor').length, 0);
    const objs = await render('metrics.serviceMonitor.enabled=true');
    const [monitor] = only(objs, 'ServiceMonitor');
    assert.ok(monitor);
    assert.equal(only(objs, 'Service')[0]?.metadata.name, 'weir-metrics');
  });

  it('refuses values its schema does not allow, naming them', async () => {
    for (const [set, message] of [
      ['replicas=0', /replicas/],
      ['watchNamespaces={Not_A_Namespace}', /watchNamespaces/],
      ['unknownKey=1', /unknownKey/],
      ['replicas=2,leaderElection.enabled=false', /leaderElection/],
    ] as const) {
      await assert.rejects(render(set), message, set);
    }
  });
});
