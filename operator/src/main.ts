// The operator process: flags/env → controller + HTTP server; SIGTERM/SIGINT stop it gracefully.
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from './k8s/controller.ts';
import { serviceProxyTransport, serviceUrl } from './k8s/service-proxy.ts';
import { OperatorMetrics } from './http/metrics.ts';
import { buildApp } from './http/server.ts';
import { fetchTransport, RuntimeClient } from './runtime/client.ts';
import { secretToken } from './runtime/token.ts';
import type { WatchScope } from './k8s/informers.ts';

export interface OperatorConfig {
  scope: WatchScope;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  /** service: in-cluster via the app's Service; proxy: via the API server; url: a template (development, benchmarks). */
  runtimeAccess: 'service' | 'proxy' | 'url';
  runtimeUrl: string | undefined;
  httpPort: number;
  concurrency: number;
}

/** Flags win over environment variables; bad values are errors that name the flag. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      namespaces: { type: 'string' },
      'leader-elect': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      'runtime-access': { type: 'string' },
      'runtime-url': { type: 'string' },
      'http-port': { type: 'string' },
      concurrency: { type: 'string' },
    },
    strict: true,
  });
  const namespaces = (values.namespaces ?? env.WEIR_NAMESPACES ?? 'all').trim();
  const scope: WatchScope =
    namespaces === 'all' || namespaces === ''
      ? { all: true }
      : {
          all: false,
          namespaces: namespaces
            .split(',')
            .map((n) => n.trim())
            .filter((n) => n !== ''),
        };
  const access = values['runtime-access'] ?? env.WEIR_RUNTIME_ACCESS ?? 'service';
  if (access !== 'service' && access !== 'proxy' && access !== 'url') {
    throw new Error(`--runtime-access must be "service", "proxy" or "url", got "${access}"`);
  }
  const runtimeUrl = values['runtime-url'] ?? env.WEIR_RUNTIME_URL;
  if (access === 'url' && !runtimeUrl?.includes('{name}')) {
    throw new Error(
      '--runtime-access=url needs --runtime-url with {namespace} and {name}, e.g. http://127.0.0.1:9000/apps/{namespace}/{name}',
    );
  }
  const int = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
  const elect = values['leader-elect'] ?? env.WEIR_LEADER_ELECT ?? 'true';
  if (elect !== 'true' && elect !== 'false') throw new Error(`--leader-elect must be true or false, got "${elect}"`);
  return {
    scope,
    leaderElect: elect === 'true',
    leaseNamespace: values['lease-namespace'] ?? env.POD_NAMESPACE ?? 'weir-system',
    leaseName: values['lease-name'] ?? 'weir-operator',
    runtimeAccess: access,
    runtimeUrl,
    httpPort: int('http-port', values['http-port'] ?? env.WEIR_HTTP_PORT, 8080, 0),
    concurrency: int('concurrency', values.concurrency, 8, 1),
  };
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2), process.env);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const metrics = new OperatorMetrics();
  const controller = new Controller({
    kubeConfig: kc,
    scope: config.scope,
    metrics,
    concurrency: config.concurrency,
    runtime: (kube) =>
      new RuntimeClient(
        config.runtimeAccess === 'proxy'
          ? serviceProxyTransport(kc)
          : fetchTransport(
              config.runtimeAccess === 'url'
                ? (app) => (config.runtimeUrl ?? '').replace('{namespace}', app.namespace).replace('{name}', app.name)
                : serviceUrl,
            ),
        secretToken(kube),
      ),
    ...(config.leaderElect
      ? {
          leaderElection: {
            namespace: config.leaseNamespace,
            name: config.leaseName,
            leaseDurationSeconds: 15,
            renewEveryMs: 5_000,
          },
        }
      : {}),
    onLostLeadership: () => process.exit(1),
  });
  const http = buildApp({
    registry: metrics.registry,
    healthy: () => controller.healthy(),
    ready: () => controller.ready,
  });
  const address = await http.listen({ host: '0.0.0.0', port: config.httpPort });
  process.stderr.write(`weir-operator: http on ${address}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping\n`);
    void controller
      .stop()
      .then(() => http.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
  await controller.start();
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`weir-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
