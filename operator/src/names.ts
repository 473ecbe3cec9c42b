// Names, labels and annotations of the objects the operator owns: what the act, k8s, observe and
// runtime modules agree on to find them again.

export const FIELD_MANAGER = 'weir-operator';
export const FINALIZER = 'weir.dev/finalizer';
export const SPEC_HASH_ANNOTATION = 'weir.dev/spec-hash';
export const RESTORE_ANNOTATION = 'weir.dev/restore-from';
export const RUNTIME_API_PORT = 8081;

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller: boolean;
      blockOwnerDeletion: boolean;
    }[];
  };
  [field: string]: unknown;
}

export const names = (app: string) => ({
  config: `${app}-config`,
  token: `${app}-runtime-token`,
  coordinator: `${app}-coordinator`,
  workers: `${app}-worker`,
  workersService: `${app}-workers`,
  state: `${app}-state`,
});

/** Labels selecting every pod of an app, or of one component. */
export function selectorLabels(app: string, component?: 'coordinator' | 'worker'): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'weir-app',
    'app.kubernetes.io/instance': app,
    ...(component === undefined ? {} : { 'app.kubernetes.io/component': component }),
  };
}

export function selectorString(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Exit codes of the runtime's `weir savepoint check` (runtime-image/src/cli/savepoint-check.ts). */
export const CHECK_EXIT = { compatible: 0, incompatible: 3, cannotCheck: 4 } as const;
export const CHECK_COMPONENT = 'compatibility-check';
export const CHECK_SPEC_HASH_LABEL = 'weir.dev/spec-hash';
export const CHECK_ATTEMPT_LABEL = 'weir.dev/check-attempt';

/** `<app>-check-<hash9>-<attempt>`: ≤ 63 characters (a label value) for app names ≤ 45 and attempts 0..9. */
export function compatibilityCheckName(app: string, specHash: string, attempt: number): string {
  if (!Number.isInteger(attempt) || attempt < 0 || attempt > 9) {
    throw new Error(`check attempt must be 0..9, got ${attempt}`);
  }
  return `${app}-check-${specHash.slice(0, 9)}-${attempt}`;
}

/** Labels of check Jobs and their pods. Not `app.kubernetes.io/name=weir-app`: they are not the app's pods. */
export function checkLabels(app: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'weir-compatibility-check',
    'app.kubernetes.io/instance': app,
    'app.kubernetes.io/component': CHECK_COMPONENT,
    'app.kubernetes.io/part-of': 'weir',
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
  };
}
