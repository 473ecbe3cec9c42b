// A cluster that runs real pods, for tests and the demo: `cluster()` starts (or reuses) one.
//
// Providers, chosen by the environment:
//  - kubeconfig: WEIR_CLUSTER_KUBECONFIG names a cluster that runs pods (a user's own); images are
//                then assumed pullable by it.
//  - kind:       CLUSTER=kind creates (or reuses) the kind cluster `weir` from the pinned
//                kindest/node image; images go in with `kind load docker-image`.
//  - local (default): the single-node cluster of e2e/infra/kubernetes/node-up.sh (containerd, kubelet,
//                CoreDNS, local-path storage as host processes), images imported into its containerd.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';

import { availableForTests, runDir, runInfraScript, type Availability } from './component.ts';
import { kindNodeImage, kubernetesTools, waitUntilServing } from './kubernetes.ts';

const KIND_CLUSTER = 'weir';

const run = promisify(execFile);
const infraDir = fileURLToPath(new URL('../../infra/', import.meta.url));
// A cold start builds kubelet, CoreDNS and the images; a warm one takes seconds.
const startTimeoutMs = 45 * 60_000;

export interface PodCluster {
  readonly provider: 'local' | 'kind' | 'kubeconfig';
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** Make images built with Docker runnable in the cluster (no registry involved). */
  loadImages(images: readonly string[]): Promise<void>;
  /** Run kubectl against this cluster; resolves with its stdout, rejects with its stderr. */
  kubectl(args: readonly string[], input?: string): Promise<string>;
  /** Run helm against this cluster. */
  helm(args: readonly string[]): Promise<string>;
}

function tool(bin: string, kubeconfigPath: string, args: readonly string[], input?: string): Promise<string> {
  const env = { ...process.env, KUBECONFIG: kubeconfigPath };
  return new Promise((resolve, reject) => {
    const child = execFile(bin, [...args], { env, maxBuffer: 32 << 20 }, (error, stdout, stderr) => {
      const why = stderr.trim() === '' ? error?.message : stderr.trim();
      if (error) reject(new Error(`${bin.split('/').at(-1) ?? bin} ${args.join(' ')}: ${why ?? ''}`, { cause: error }));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

function podCluster(provider: PodCluster['provider'], kubeconfigPath: string): PodCluster {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const tools = kubernetesTools();
  return {
    provider,
    kubeconfigPath,
    kubeConfig,
    loadImages: async (images) => {
      if (images.length === 0) return;
      if (provider === 'local') {
        await runInfraScript(join(infraDir, 'kubernetes', 'load-image.sh'), images, 10 * 60_000);
      } else if (provider === 'kind') {
        await tool(tools.kind, kubeconfigPath, ['load', 'docker-image', '--name', KIND_CLUSTER, ...images]);
      }
    },
    kubectl: (args, input) => tool(tools.kubectl, kubeconfigPath, args, input),
    helm: async (args) => {
      await helmBuilt();
      return tool(tools.helm, kubeconfigPath, args);
    },
  };
}

let helmBuild: Promise<void> | undefined;
/** The pinned helm, built on first use (cached: a no-op when it is there). */
function helmBuilt(): Promise<void> {
  helmBuild ??= runInfraScript(join(infraDir, 'kubernetes', 'build.sh'), ['helm'], startTimeoutMs).catch(
    (error: unknown) => {
      helmBuild = undefined;
      throw error;
    },
  );
  return helmBuild;
}

let shared: Promise<PodCluster> | undefined;

/** The cluster with real pods, started or reused; one per process. */
export function cluster(env: NodeJS.ProcessEnv = process.env): Promise<PodCluster> {
  shared ??= connect(env).catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

async function connect(env: NodeJS.ProcessEnv): Promise<PodCluster> {
  const given = env.WEIR_CLUSTER_KUBECONFIG;
  let c: PodCluster;
  if (given !== undefined && given !== '') {
    c = podCluster('kubeconfig', given);
  } else if (env.CLUSTER === 'kind') {
    c = podCluster('kind', await kindCluster(env));
  } else if (env.CLUSTER !== undefined && env.CLUSTER !== '' && env.CLUSTER !== 'local') {
    throw new Error(`CLUSTER must be "local" or "kind", got "${env.CLUSTER}"`);
  } else {
    await runInfraScript(join(infraDir, 'kubernetes', 'node-up.sh'), [], startTimeoutMs);
    c = podCluster('local', join(runDir(env, 'kubernetes'), 'admin.kubeconfig'));
  }
  await waitUntilServing(c.kubeConfig, 60_000);
  return c;
}

/** The kind cluster `weir` (created from the pinned node image when missing); returns its kubeconfig. */
async function kindCluster(env: NodeJS.ProcessEnv): Promise<string> {
  await runInfraScript(join(infraDir, 'kubernetes', 'build.sh'), ['kind', 'kube'], startTimeoutMs);
  const kind = kubernetesTools(env).kind;
  const kubeconfigPath = join(runDir(env, 'kind'), 'kubeconfig');
  const existing = (await run(kind, ['get', 'clusters'])).stdout.split('\n');
  if (!existing.includes(KIND_CLUSTER)) {
    await run(kind, ['create', 'cluster', '--name', KIND_CLUSTER, '--image', kindNodeImage(), '--wait', '3m'], {
      maxBuffer: 16 << 20,
    });
  }
  await run(kind, ['export', 'kubeconfig', '--name', KIND_CLUSTER, '--kubeconfig', kubeconfigPath]);
  return kubeconfigPath;
}

/** For test files: the cluster, or (outside CI only) a loud reason to skip; in CI a failure to start fails. */
export function clusterForTests(): Promise<Availability<PodCluster>> {
  return availableForTests('a cluster with real pods', () => cluster());
}
