// An operator as its own process, for crash tests: the parent SIGKILLs it mid-phase (no graceful
// stop, reconciles in flight are cut off) and starts a fresh one. Settings come from the
// environment; the process reports the phase it last reconciled for each app on stdout.
import { KubeConfig } from '@kubernetes/client-node';
import { OperatorMetrics } from '../../http/metrics.ts';
import { fetchTransport, RuntimeClient } from '../../runtime/client.ts';
import { secretToken } from '../../runtime/token.ts';
import { Controller } from '../controller.ts';
import { fastTuning } from './harness.ts';

function required(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`operator-process: ${name} is not set`);
  return v;
}

const namespace = required('WEIR_TEST_NAMESPACE');
const runtimeUrl = required('WEIR_TEST_RUNTIME_URL');
const kc = new KubeConfig();
kc.loadFromFile(required('WEIR_TEST_KUBECONFIG'));
const controller = new Controller({
  kubeConfig: kc,
  scope: { all: false, namespaces: [namespace] },
  metrics: new OperatorMetrics(),
  runtime: (kube) =>
    new RuntimeClient(
      fetchTransport((app) => `${runtimeUrl}/apps/${app.namespace}/${app.name}`),
      secretToken(kube),
    ),
  tuning: fastTuning,
  resyncMs: 500,
  log: (m) => process.stderr.write(`${m}\n`),
});
setInterval(() => {
  process.stdout.write(`${JSON.stringify({ phases: Object.fromEntries(controller.phases()) })}\n`);
}, 100);
await controller.start();
