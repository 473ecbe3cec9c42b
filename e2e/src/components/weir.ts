// Weir on a cluster with real pods, as a user runs it: images built with Docker and loaded, the
// operator installed with Helm into a namespace that enforces the Pod Security Standard
// `restricted`, the broker reachable from pods as the Service `kafka`, and the runtime's REST API
// reached through the API server's service proxy (so it works from any machine with a kubeconfig).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';

import type { PodCluster } from './cluster.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const chartDir = `${repoRoot}charts/weir`;
/** The version the images are tagged with: the chart's appVersion, so the chart's defaults find them. */
export const weirVersion =
  /^appVersion:\s*["']?([^"'\s]+)/m.exec(readFileSync(`${chartDir}/Chart.yaml`, 'utf8'))?.[1] ?? '';
export const runtimeImage = `weir/runtime:${weirVersion}`;
export const operatorImage = `weir/operator:${weirVersion}`;
// The runtime's control API port (operator/src/names.ts).
const RUNTIME_API_PORT = 8081;

/** Build the runtime and operator images (Docker's layer cache makes a warm build take seconds). */
export async function buildImages(log?: (line: string) => void): Promise<string[]> {
  for (const [image, dockerfile] of [
    [runtimeImage, 'runtime-image/Dockerfile'],
    [operatorImage, 'operator/Dockerfile'],
  ] as const) {
    const t0 = Date.now();
    await run('docker', ['build', '-q', '-f', dockerfile, '-t', image, '.'], { cwd: repoRoot, maxBuffer: 16 << 20 });
    log?.(`built ${image} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  return [runtimeImage, operatorImage];
}

/** A namespace whose pods must meet the Pod Security Standard `restricted` (enforced, not only warned). */
export async function restrictedNamespace(cluster: PodCluster, namespace: string): Promise<void> {
  const manifest = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      },
    },
  };
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
}

/** `helm upgrade --install` of charts/weir, waiting until the operator is ready. */
export async function installOperator(
  cluster: PodCluster,
  options: { release?: string; namespace?: string; set?: readonly string[] } = {},
): Promise<void> {
  const namespace = options.namespace ?? 'weir-system';
  await restrictedNamespace(cluster, namespace);
  const sets = (options.set ?? []).flatMap((s) => ['--set', s]);
  // The image's id as a pod annotation: a rebuilt image under the same tag rolls the operator.
  const imageId = await run('docker', ['image', 'inspect', '-f', '{{.Id}}', operatorImage]).then(
    (r) => r.stdout.trim().replace('sha256:', '').slice(0, 16),
    () => 'unknown',
  );
  await cluster.helm([
    'upgrade',
    '--install',
    options.release ?? 'weir',
    chartDir,
    '--namespace',
    namespace,
    '--set',
    `image.tag=${weirVersion}`,
    '--set-string',
    `podAnnotations.weir\\.dev/image-id=${imageId}`,
    ...sets,
    '--wait',
    '--timeout',
    '3m',
  ]);
}

/** The Service `kafka` (port 9092) in `namespace`, pointing at a broker outside the cluster. */
export async function kafkaService(cluster: PodCluster, namespace: string, bridgeBroker: string): Promise<void> {
  const [host, port] = bridgeBroker.split(':');
  if (host === undefined || port === undefined || !/^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    throw new Error(`the broker's address for pods must be IPv4:port, got "${bridgeBroker}"`);
  }
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kafka', namespace },
    spec: { ports: [{ name: 'kafka', port: 9092, targetPort: Number(port) }] },
  };
  const endpoints = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'kafka-external', namespace, labels: { 'kubernetes.io/service-name': 'kafka' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [host] }],
    ports: [{ name: 'kafka', port: Number(port) }],
  };
  await cluster.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [service, endpoints] }),
  );
}

/** The app's runtime API token, from the Secret the operator created. */
export async function runtimeToken(cluster: PodCluster, namespace: string, app: string): Promise<string> {
  const secret = await cluster.kubeConfig
    .makeApiClient(CoreV1Api)
    .readNamespacedSecret({ name: `${app}-runtime-token`, namespace });
  const token = secret.data?.token;
  if (token === undefined) throw new Error(`Secret ${namespace}/${app}-runtime-token has no token`);
  return Buffer.from(token, 'base64').toString('utf8');
}

/**
 * GET a path of an app's runtime API through the API server's service proxy; `token` undefined sends
 * none (to check that the runtime refuses). Resolves with the status and the parsed body.
 */
export async function runtimeGet(
  cluster: PodCluster,
  app: { namespace: string; name: string },
  path: string,
  token: string | undefined,
): Promise<{ status: number; body: unknown }> {
  const server = cluster.kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(
    `${server.replace(/\/$/, '')}/api/v1/namespaces/${app.namespace}/services/http:${app.name}-coordinator:${RUNTIME_API_PORT}/proxy${path}`,
  );
  const opts: RequestOptions = { method: 'GET', timeout: 5_000 };
  await cluster.kubeConfig.applyToHTTPSOptions(opts);
  opts.headers = { ...(opts.headers as Record<string, string>), accept: 'application/json' };
  if (token !== undefined) opts.headers['x-weir-token'] = token;
  return new Promise((resolve, reject) => {
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // The proxy's own errors are plain text.
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} of ${app.namespace}/${app.name} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
