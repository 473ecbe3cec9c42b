// The operator's RBAC rules, written once as data: the Helm chart renders them and the RBAC test
// runs the operator under a ServiceAccount bound to exactly these.
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Cluster-wide (or per watched namespace) rules for reconciling StreamApplications. */
export const operatorRules: readonly PolicyRule[] = [
  { apiGroups: ['weir.dev'], resources: ['streamapplications'], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
  { apiGroups: ['weir.dev'], resources: ['streamapplications/status'], verbs: ['get', 'patch', 'update'] },
  { apiGroups: ['weir.dev'], resources: ['streamapplications/finalizers'], verbs: ['update'] },
  {
    apiGroups: ['apps'],
    resources: ['statefulsets', 'deployments'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  {
    apiGroups: [''],
    resources: ['services', 'configmaps', 'persistentvolumeclaims'],
    verbs: ['get', 'create', 'patch'],
  },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
  // The pre-flight compatibility check Jobs (their pods' termination messages are read with pods list).
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['list', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
];

/**
 * Only for an operator outside the cluster (`--runtime-access=proxy`), which reaches the runtime
 * through the API server's service proxy; in the cluster it calls the app's Service directly.
 */
export const serviceProxyRules: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['services/proxy'], verbs: ['get', 'create'] },
];

/** Rules in the operator's own namespace, for leader election. */
export const leaderElectionRules: readonly PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];
