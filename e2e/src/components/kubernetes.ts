// A real Kubernetes API for tests: `kubernetes()` starts (or reuses) one and says how to reach it.
//
// Providers, chosen by the environment (see `selectKubernetesProvider`):
//  - kubeconfig:      WEIR_TEST_KUBECONFIG names an existing cluster's kubeconfig; used as is.
//  - host (default):  etcd + kube-apiserver + kube-controller-manager as loopback host processes,
//                     built from the Go module proxy by e2e/infra/kubernetes/up.sh.
//  - testcontainers:  WEIR_COMPONENTS=testcontainers runs a K3s container (needs Docker that can pull).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { PathLike } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadYaml,
  PatchStrategy,
  VersionApi,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';

import { availableForTests, waitFor, type Availability } from './component.ts';

export const KubernetesProviderKind = {
  kubeconfig: 'kubeconfig',
  host: 'host',
  testcontainers: 'testcontainers',
} as const;
export type KubernetesProviderKind = (typeof KubernetesProviderKind)[keyof typeof KubernetesProviderKind];

export type KubernetesProvider =
  | { readonly kind: 'kubeconfig'; readonly kubeconfigPath: string }
  | { readonly kind: 'host' }
  | { readonly kind: 'testcontainers'; readonly image: string };

export interface KubernetesCluster {
  readonly provider: KubernetesProviderKind;
  /** A kubeconfig file for a cluster admin; pass it to kubectl/helm with --kubeconfig. */
  readonly kubeconfigPath: string;
  /** The same credentials, loaded for @kubernetes/client-node. */
  readonly kubeConfig: KubeConfig;
  /** The apiserver's URL. */
  readonly server: string;
  /** The apiserver's version as reported by /version, e.g. "v1.34.4". */
  readonly version: string;
}

/** The versions the infra scripts pin (e2e/infra/kubernetes/versions.env). */
export interface PinnedVersions {
  readonly kubernetes: string;
  readonly etcd: string;
  readonly helm: string;
  readonly kind: string;
}

const infraDir = fileURLToPath(new URL('../../infra/kubernetes/', import.meta.url));
// A cold start compiles Kubernetes from source; the infra budget for that is 40 minutes.
const hostStartTimeoutMs = 45 * 60_000;
const readyTimeoutMs = 60_000;
/** Matches the Kubernetes minor version the control plane is built at. */
export const defaultK3sImage = 'rancher/k3s:v1.34.4-k3s1';

/** Decide which cluster to use from the environment; bad values are errors, not silent defaults. */
export function selectKubernetesProvider(env: NodeJS.ProcessEnv): KubernetesProvider {
  const kubeconfigPath = env.WEIR_TEST_KUBECONFIG;
  const components = env.WEIR_COMPONENTS ?? 'host';
  if (components !== 'host' && components !== 'testcontainers') {
    throw new Error(`WEIR_COMPONENTS must be "host" or "testcontainers", got "${components}"`);
  }
  if (kubeconfigPath !== undefined && kubeconfigPath !== '') {
    return { kind: 'kubeconfig', kubeconfigPath };
  }
  if (components === 'testcontainers') {
    return { kind: 'testcontainers', image: env.WEIR_K3S_IMAGE ?? defaultK3sImage };
  }
  return { kind: 'host' };
}

/** The KEY=value lines of versions.env (# comments). */
export function parseVersionsEnv(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`versions.env: expected KEY=value, got "${line}"`);
    values.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return values;
}

/** The pinned tool versions in versions.env. */
export function parsePinnedVersions(text: string): PinnedVersions {
  const values = parseVersionsEnv(text);
  const get = (key: string): string => {
    const value = values.get(key);
    if (value === undefined || !/^v\d+\.\d+\.\d+$/.test(value)) {
      throw new Error(`versions.env: ${key} must be a version like v1.2.3, got ${value ?? 'nothing'}`);
    }
    return value;
  };
  return {
    kubernetes: get('K8S_VERSION'),
    etcd: get('ETCD_VERSION'),
    helm: get('HELM_VERSION'),
    kind: get('KIND_VERSION'),
  };
}

export function pinnedVersions(): PinnedVersions {
  return parsePinnedVersions(readFileSync(join(infraDir, 'versions.env'), 'utf8'));
}

/** The kindest/node image kind clusters are created from (versions.env KIND_NODE_IMAGE). */
export function kindNodeImage(): string {
  const image = parseVersionsEnv(readFileSync(join(infraDir, 'versions.env'), 'utf8')).get('KIND_NODE_IMAGE');
  if (image === undefined) throw new Error('versions.env: KIND_NODE_IMAGE is missing');
  return image;
}

/**
 * Paths of the pinned kubectl, helm and kind builds (`make kube-build helm kind` creates them).
 * The files may not exist yet; `kubernetes()` guarantees kubectl for the host provider.
 */
export function kubernetesTools(env: NodeJS.ProcessEnv = process.env): {
  readonly kubectl: string;
  readonly helm: string;
  readonly kind: string;
} {
  const cache = env.WEIR_CACHE ?? join(env.HOME ?? tmpdir(), '.cache', 'weir');
  const v = pinnedVersions();
  return {
    kubectl: join(cache, `kubernetes-${v.kubernetes}`, 'bin', 'kubectl'),
    helm: join(cache, `helm-${v.helm}`, 'bin', 'helm'),
    kind: join(cache, `kind-${v.kind}`, 'bin', 'kind'),
  };
}

let shared: Promise<KubernetesCluster> | undefined;

/**
 * Start or reuse the test cluster and wait until it serves: the `default` namespace exists and
 * the service-account controller has created its `default` ServiceAccount. One cluster per process.
 */
export function kubernetes(): Promise<KubernetesCluster> {
  shared ??= connect(selectKubernetesProvider(process.env)).catch((error: unknown) => {
    shared = undefined; // let a later call retry rather than remember the failure
    throw error;
  });
  return shared;
}

async function connect(provider: KubernetesProvider): Promise<KubernetesCluster> {
  const kubeconfigPath =
    provider.kind === 'kubeconfig'
      ? provider.kubeconfigPath
      : provider.kind === 'host'
        ? await startHostControlPlane()
        : await startK3sContainer(provider.image);
  if (!existsSync(kubeconfigPath)) throw new Error(`kubeconfig ${kubeconfigPath} does not exist`);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new Error(`kubeconfig ${kubeconfigPath} has no current cluster`);
  const version = await waitUntilServing(kubeConfig, readyTimeoutMs);
  return { provider: provider.kind, kubeconfigPath, kubeConfig, server, version };
}

/** Runs up.sh (idempotent, locked): builds on first use, then starts or reuses the processes. */
function startHostControlPlane(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(infraDir, 'up.sh'),
      { timeout: hostStartTimeoutMs, maxBuffer: 1 << 20 },
      (error, stdout) => {
        if (error) {
          reject(
            new Error(`could not start the Kubernetes control plane (e2e/infra/kubernetes/up.sh): ${error.message}`),
          );
          return;
        }
        const path = stdout.trim().split('\n').at(-1);
        if (path === undefined || path === '') reject(new Error('up.sh printed no kubeconfig path'));
        else resolve(path);
      },
    );
    // Progress (build steps, durations) goes to our stderr as it happens.
    child.stderr?.pipe(process.stderr);
  });
}

async function startK3sContainer(image: string): Promise<string> {
  // Loaded lazily: only this provider needs a Docker client.
  const { K3sContainer } = await import('@testcontainers/k3s');
  const container = await new K3sContainer(image).start();
  const dir = await mkdtemp(join(tmpdir(), 'weir-k3s-'));
  const path = join(dir, 'kubeconfig');
  await writeFile(path, container.getKubeConfig(), { mode: 0o600 });
  return path;
}

/** Poll until the cluster answers as a usable cluster would; returns its version. */
export async function waitUntilServing(kubeConfig: KubeConfig, timeoutMs: number): Promise<string> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const versionApi = kubeConfig.makeApiClient(VersionApi);
  const server = kubeConfig.getCurrentCluster()?.server ?? '?';
  try {
    return await pollUntil(async () => {
      await core.readNamespace({ name: 'default' });
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return (await versionApi.getCode()).gitVersion;
    }, timeoutMs);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cluster at ${server} not serving after ${timeoutMs} ms: ${reason}`, { cause: error });
  }
}

/** Retry `attempt` until it resolves; after `timeoutMs`, rethrow its last error. */
export const pollUntil = waitFor;

/**
 * Install a CRD from a YAML file (server-side apply, so concurrent test files and reruns agree),
 * then wait until the API server serves it.
 */
export async function installCrd(kubeConfig: KubeConfig, file: PathLike, timeoutMs = 30_000): Promise<void> {
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(file, 'utf8'));
  const name = crd.metadata?.name;
  if (crd.kind !== 'CustomResourceDefinition' || name === undefined) {
    throw new Error(`${String(file)} is not a CustomResourceDefinition with a metadata.name`);
  }
  await KubernetesObjectApi.makeApiClient(kubeConfig).patch(
    crd,
    undefined,
    undefined,
    'weir-tests',
    true,
    PatchStrategy.ServerSideApply,
  );
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  await pollUntil(async () => {
    const current = await api.readCustomResourceDefinition({ name });
    const established = current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    if (established !== true) throw new Error(`CRD ${name} is not established after ${timeoutMs} ms`);
  }, timeoutMs);
}

/**
 * For test files: the cluster, or (outside CI only) a loud reason to skip. With CI=true a cluster
 * that cannot start fails the run instead.
 */
export function kubernetesForTests(): Promise<Availability<KubernetesCluster>> {
  return availableForTests('Kubernetes', kubernetes);
}
