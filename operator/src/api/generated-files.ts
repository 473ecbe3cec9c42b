// Files generated from the operator's own definitions (`make crds` writes them; a test fails when
// one is stale): the CRD at the top level and in the Helm chart, and the chart's RBAC rules, so the
// chart grants exactly what the RBAC test runs the operator under.
import { stringify } from 'yaml';
import { leaderElectionRules, operatorRules, serviceProxyRules } from '../k8s/rbac.ts';
import { CRD_FILE, renderCrdYaml } from './crd.ts';

export const CHART_DIR = 'charts/weir';

export function rbacRulesYaml(): string {
  const header = '# Generated from operator/src/k8s/rbac.ts by `make crds`: do not edit.\n';
  return (
    header +
    stringify({ operator: operatorRules, leaderElection: leaderElectionRules, serviceProxy: serviceProxyRules })
  );
}

/** Repository-relative path → content. */
export function generatedFiles(): Map<string, string> {
  const crd = renderCrdYaml();
  return new Map([
    [CRD_FILE, crd],
    [`${CHART_DIR}/${CRD_FILE}`, crd],
    [`${CHART_DIR}/files/rbac-rules.yaml`, rbacRulesYaml()],
  ]);
}
