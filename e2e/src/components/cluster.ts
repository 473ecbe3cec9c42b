// A cluster that runs real pods, for tests and the demo: `cluster()` starts (or reuses) one.
//
// Providers, chosen by the environment:
//  - kubeconfig: WEIR_CLUSTER_KUBECONFIG names a cluster that runs pods (kind, a user's own); images
//                are then loaded with `kind load` when CLUSTER=kind, else assumed pullable.
//  - local (default): the single-node cluster of e2e/infra/kubernetes/node-up.sh (containerd, kubelet,
//                CoreDNS, local-path storage as host processes), images imported into its containerd.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';

import { availableForTests, runDir, runInfraScript, type Availability } from './component.ts';
import { kubernetesTools, waitUntilServing } from './kubernetes.ts';

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

async function tool(bin: string, kubeconfigPath: string, args: readonly string[], input?: string): Promise<string> {
  const env = { ...process.env, KUBECONFIG: kubeconfigPath };
  if (input === undefined) {
    try {
      return (await run(bin, [...args], { env, maxBuffer: 32 << 20 })).stdout;
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`${bin.split('/').at(-1) ?? bin} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, {
        cause: error,
      });
    }
  }
  return new Promise((resolve, reject) => {
    const child = execFile(bin, [...args], { env, maxBuffer: 32 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${bin.split('/').at(-1) ?? bin} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

function podCluster(provider: PodCluster['provider'], kubeconfigPath: string, kindName?: string): PodCluster {
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
        await tool(tools.kind, kubeconfigPath, ['load', 'docker-image', '--name', kindName ?? 'weir', ...images]);
      }
    },
    kubectl: (args, input) => tool(tools.kubectl, kubeconfigPath, args, input),
    helm: (args) => tool(tools.helm, kubeconfigPath, args),
  };
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
    c = podCluster(env.CLUSTER === 'kind' ? 'kind' : 'kubeconfig', given, env.KIND_CLUSTER_NAME);
  } else {
    await runInfraScript(join(infraDir, 'kubernetes', 'node-up.sh'), [], startTimeoutMs);
    c = podCluster('local', join(runDir(env, 'kubernetes'), 'admin.kubeconfig'));
  }
  await waitUntilServing(c.kubeConfig, 60_000);
  return c;
}

/** For test files: the cluster, or (outside CI only) a loud reason to skip; in CI a failure to start fails. */
export function clusterForTests(): Promise<Availability<PodCluster>> {
  return availableForTests('a cluster with real pods', () => cluster());
}
