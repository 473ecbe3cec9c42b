// The e2e suite's environment, once per process: the cluster, the broker, the images, and the operator
// installed with Helm. Needs a cluster (cluster.ts: kubeconfig, kind or local) and a broker (kafka.ts:
// KAFKA_BROKERS or the host broker); pods reach the broker at WEIR_E2E_POD_KAFKA (IPv4:port, default: the
// broker's bridge listener).
import { fileURLToPath } from 'node:url';

import { cluster, type PodCluster } from '../components/cluster.ts';
import { runInfraScript } from '../components/component.ts';
import { kafka, type KafkaBroker } from '../components/kafka.ts';
import { buildImages, installOperator, kafkaService, restrictedNamespace } from '../components/weir.ts';

export interface Suite {
  readonly cluster: PodCluster;
  readonly broker: KafkaBroker;
  /** Where the apps live (the operator watches only it). */
  readonly namespace: string;
  readonly operator: { readonly release: string; readonly namespace: string };
}

let shared: Promise<Suite> | undefined;

/** Cluster, broker, images and the operator (Helm release `weir-e2e`), once per process. */
export function suite(): Promise<Suite> {
  shared ??= setUp().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

async function setUp(): Promise<Suite> {
  // Docker first: it builds the images, and the broker's listener for pods is on its bridge.
  await runInfraScript(fileURLToPath(new URL('../../infra/docker.sh', import.meta.url)), ['up'], 10 * 60_000);
  const c = await cluster();
  if (c.provider === 'kind') process.env.WEIR_KAFKA_BRIDGE_NETWORK ??= 'kind';
  const broker = await kafka();
  const images = await buildImages();
  await c.loadImages(images);
  const namespace = 'weir-e2e';
  const operator = { release: 'weir-e2e', namespace: 'weir-e2e-system' };
  await restrictedNamespace(c, namespace);
  const podKafka = process.env.WEIR_E2E_POD_KAFKA ?? broker.bridgeBrokers[0];
  if (podKafka === undefined) throw new Error('no broker address for pods: set WEIR_E2E_POD_KAFKA (IPv4:port)');
  await kafkaService(c, namespace, podKafka);
  await installOperator(c, { ...operator, set: [`watchNamespaces={${namespace}}`] });
  // Apps an interrupted run left behind would compete for the node's CPU.
  await c.kubectl(['-n', namespace, 'delete', 'streamapplications', '--all', '--timeout=300s']);
  return { cluster: c, broker, namespace, operator };
}
