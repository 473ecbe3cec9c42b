// `make demo`: Weir end to end on a cluster with real pods, for a newcomer.
// Brings up a cluster (kind where Docker can pull its node image, else the local single-node cluster;
// CLUSTER=kind or CLUSTER=local decides) and the Kafka broker, builds and loads the images, installs
// the operator with Helm, starts the example's producer, applies the example app and shows it live; then a savepoint upgrade (a pipeline change) and a
// rescale, each with its phases and the measured downtime; ends with where to look next.
// Environment: DEMO_WATCH_SECONDS (how long to watch the running app before each change, default 75).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

import { cluster, type PodCluster } from '../components/cluster.ts';
import { runInfraScript } from '../components/component.ts';
import { kafka, kafkaClient } from '../components/kafka.ts';
import { kindNodeImage, kubernetesTools } from '../components/kubernetes.ts';
import {
  buildImages,
  installOperator,
  kafkaService,
  restrictedNamespace,
  runtimeGet,
  runtimeToken,
} from '../components/weir.ts';
import { phaseDurations, resultLine, sourceRecords, statusLine, type AppStatus, type OperatorMetrics } from './view.ts';

const NAMESPACE = 'weir-demo';
const APP = 'ad-revenue';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const exampleFile = `${repoRoot}runtime-image/examples/ad-revenue/stream-application.yaml`;
const watchSeconds = Number(process.env.DEMO_WATCH_SECONDS ?? '75');

const t0 = Date.now();
const say = (line: string): void => {
  process.stdout.write(`[demo ${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}s] ${line}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const s = Date.now();
  say(`${name} ...`);
  const result = await fn();
  say(`${name}: done in ${((Date.now() - s) / 1000).toFixed(0)}s`);
  return result;
}

async function appStatus(c: PodCluster): Promise<AppStatus> {
  const out = await c.kubectl(['-n', NAMESPACE, 'get', 'streamapplication', APP, '-o', 'json']);
  return (JSON.parse(out) as { status?: AppStatus }).status ?? {};
}

async function operators(c: PodCluster, token: string | undefined): Promise<OperatorMetrics[] | undefined> {
  if (token === undefined) return undefined;
  try {
    const res = await runtimeGet(c, { namespace: NAMESPACE, name: APP }, '/v1/operators', token);
    return res.status === 200 ? (res.body as { operators: OperatorMetrics[] }).operators : undefined;
  } catch {
    return undefined; // the coordinator is being replaced
  }
}

/** Print the app's state every 2 s until `until` says stop (or the deadline); returns the phases seen. */
async function watch(
  c: PodCluster,
  token: () => Promise<string | undefined>,
  until: (s: AppStatus, ops: OperatorMetrics[] | undefined) => boolean,
  maxSeconds: number,
): Promise<{ at: number; phase: string }[]> {
  const phases: { at: number; phase: string }[] = [];
  const deadline = Date.now() + maxSeconds * 1000;
  for (;;) {
    const s: AppStatus = await appStatus(c).catch(() => ({}));
    const ops = await operators(c, await token());
    const phase = s.phase ?? 'Pending';
    if (phases.at(-1)?.phase !== phase) phases.push({ at: Date.now(), phase });
    say(statusLine(s, ops, new Date()));
    if (until(s, ops)) return phases;
    if (Date.now() > deadline) throw new Error(`the app did not get there in ${maxSeconds}s (phase ${phase})`);
    await sleep(2_000);
  }
}

/** Prints window results as the app commits them (read_committed: only what is exactly-once). */
async function showResults(brokers: readonly string[]): Promise<() => Promise<void>> {
  const consumer = kafkaClient({ brokers }, 'weir-demo-results').consumer({
    groupId: `weir-demo-${Date.now()}`,
    readUncommitted: false,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: 'revenue-per-minute', fromBeginning: false });
  await consumer.run({
    eachMessage: ({ message }) => {
      const line = message.value === null ? undefined : resultLine(JSON.parse(message.value.toString()));
      if (line !== undefined) say(`  result  ${line}`);
      return Promise.resolve();
    },
  });
  return () => consumer.disconnect();
}

/** Apply a change, then watch until the new version runs and reads input again; reports the downtime. */
async function change(c: PodCluster, title: string, patch: object, token: () => Promise<string | undefined>) {
  say(`---- ${title} ----`);
  const before = await appStatus(c);
  const opsBefore = before.operations?.length ?? 0;
  const changedAt = Date.now();
  await c.kubectl(['-n', NAMESPACE, 'patch', 'streamapplication', APP, '--type', 'merge', '-p', JSON.stringify(patch)]);
  let flowingAt = 0;
  const phases = await watch(
    c,
    token,
    (s, ops) => {
      const done = (s.operations?.length ?? 0) > opsBefore && s.phase === 'Running';
      if (done && ops !== undefined && sourceRecords(ops) > 0 && flowingAt === 0) flowingAt = Date.now();
      return flowingAt > 0;
    },
    600,
  );
  const s = await appStatus(c);
  const op = s.operations?.[0]; // newest first
  say(`${title}: phases ${phaseDurations(phases, flowingAt)}`);
  say(
    `${title}: ${op?.type ?? '?'} ${op?.outcome ?? ''} in ${op?.durationSeconds ?? '?'}s (operator's record); ` +
      `downtime ${((flowingAt - changedAt) / 1000).toFixed(1)}s from the spec change until the new job read input again`,
  );
}

/**
 * CLUSTER=kind or CLUSTER=local decides; unset, kind when Docker has or can pull the pinned kindest/node
 * (so a user's machine gets kind), else the local cluster (our machines reach no registry).
 */
async function chooseCluster(): Promise<boolean> {
  await runInfraScript(`${repoRoot}e2e/infra/docker.sh`, ['up'], 10 * 60_000);
  const chosen = process.env.CLUSTER;
  if (chosen !== undefined && chosen !== '') return chosen === 'kind';
  const image = kindNodeImage();
  const docker = (args: string[], timeout: number) =>
    new Promise<boolean>((resolve) => {
      execFile('docker', args, { timeout }, (error) => {
        resolve(error === null);
      });
    });
  const kind = (await docker(['image', 'inspect', image], 30_000)) || (await docker(['pull', image], 180_000));
  process.env.CLUSTER = kind ? 'kind' : 'local';
  return kind;
}

async function main(): Promise<void> {
  const kind = await step('Docker, and which cluster: kind where Docker can pull its node image', chooseCluster);
  say(kind ? `kind (${kindNodeImage()})` : 'the local single-node cluster (e2e/infra/kubernetes/node-up.sh)');
  const c = await step('cluster', () => cluster());
  // Pods in kind reach the host's broker on the kind network's gateway.
  if (kind) process.env.WEIR_KAFKA_BRIDGE_NETWORK ??= 'kind';
  const broker = await step('Kafka broker', () => kafka());
  const images = await step('images: build weir/runtime and weir/operator', () => buildImages(say));
  await step(`images: load into the ${c.provider} cluster`, () => c.loadImages(images));
  await step(`clean start: a previous demo's app, namespace and topics deleted`, async () => {
    const deleted = await c
      .kubectl(['-n', NAMESPACE, 'delete', 'streamapplication', APP, '--ignore-not-found', '--timeout=120s'])
      .then(
        () => true,
        () => false,
      );
    if (!deleted) {
      // No operator left to take the final savepoint (it was uninstalled): let the app go without it.
      await c.kubectl([
        '-n',
        NAMESPACE,
        'patch',
        'streamapplication',
        APP,
        '--type',
        'merge',
        '-p',
        '{"metadata":{"finalizers":[]}}',
      ]);
    }
    await c.kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--timeout=180s']);
    const admin = kafkaClient(broker, 'weir-demo-admin').admin();
    await admin.connect();
    const ours = (await admin.listTopics()).filter(
      (t) =>
        ['ad-events', 'revenue-per-minute', 'ad-events-dead-letters'].includes(t) || t.startsWith(`weir.${NAMESPACE}.`),
    );
    if (ours.length > 0) await admin.deleteTopics({ topics: ours, timeout: 30_000 });
    await admin.disconnect();
    await sleep(2_000); // topic deletion completes asynchronously on the broker
  });
  await step(`namespace ${NAMESPACE} (Pod Security "restricted" enforced), Service kafka`, async () => {
    await restrictedNamespace(c, NAMESPACE);
    const bridge = broker.bridgeBrokers[0];
    if (bridge === undefined) throw new Error('the broker has no address that pods can reach (bridge listener)');
    await kafkaService(c, NAMESPACE, bridge);
  });

  // Watching only the demo's namespace, so the demo's operator never meets the apps of tests on the same cluster.
  await step(`operator: helm upgrade --install weir charts/weir (namespace weir-system, watching ${NAMESPACE})`, () =>
    installOperator(c, { set: [`watchNamespaces={${NAMESPACE}}`] }),
  );

  say('producer: runtime-image/examples/ad-revenue/producer.ts, ~500 ad events/s');
  const producer: ChildProcess = spawn(
    process.execPath,
    [
      '--conditions=source',
      `${repoRoot}runtime-image/examples/ad-revenue/producer.ts`,
      '--brokers',
      broker.brokers.join(','),
      '--rate',
      '500',
      '--seconds',
      '3600',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const stopProducer = () => producer.kill('SIGINT');
  process.on('exit', stopProducer);
  await sleep(3_000); // the producer creates the topics

  const app = parse(readFileSync(exampleFile, 'utf8')) as object;
  await c.kubectl(['-n', NAMESPACE, 'apply', '-f', '-'], JSON.stringify(app));
  say(`applied ${exampleFile.slice(repoRoot.length)}: StreamApplication ${NAMESPACE}/${APP}`);
  let token: string | undefined;
  const getToken = async () => (token ??= await runtimeToken(c, NAMESPACE, APP).catch(() => undefined));
  const stopResults = await showResults(broker.brokers);

  const deployed = Date.now();
  const phases = await watch(
    c,
    getToken,
    (s, ops) => s.phase === 'Running' && ops !== undefined && sourceRecords(ops) > 0,
    600,
  );
  say(
    `deploy: phases ${phaseDurations(phases, Date.now())}; ${((Date.now() - deployed) / 1000).toFixed(1)}s until it read input`,
  );
  say(`watching for ${watchSeconds}s: results appear as each minute closes in event time`);
  await watch(c, getToken, () => false, watchSeconds).catch(() => undefined);

  await change(
    c,
    'savepoint upgrade: a pipeline change (drop events without a campaign)',
    {
      spec: {
        pipeline: {
          ...(app as { spec: { pipeline: { steps: object[] } } }).spec.pipeline,
          steps: [
            { id: 'with-campaign', filter: 'e.campaign != ""' },
            ...(app as { spec: { pipeline: { steps: object[] } } }).spec.pipeline.steps,
          ],
        },
      },
    },
    getToken,
  );
  await watch(c, getToken, () => false, Math.min(30, watchSeconds)).catch(() => undefined);
  await change(c, 'rescale: parallelism 2 → 3', { spec: { parallelism: 3 } }, getToken);
  await watch(c, getToken, () => false, Math.min(30, watchSeconds)).catch(() => undefined);

  await stopResults();
  stopProducer();
  // The pinned kubectl this machine built, with the cluster's kubeconfig (a user's own kubectl works too).
  const kc = c.provider === 'local' ? `KUBECONFIG=${c.kubeconfigPath} ${kubernetesTools().kubectl}` : 'kubectl';
  say('done. Where to look next:');
  for (const line of [
    `${kc} -n ${NAMESPACE} get sapp                 # phase, readiness, lag, last savepoint`,
    `${kc} -n ${NAMESPACE} describe sapp ${APP}     # conditions, operations, events`,
    `${kc} -n ${NAMESPACE} get events --sort-by .lastTimestamp`,
    `live preview of the last records at an operator, while input flows (the runtime's API needs its token;`,
    `sampling starts with the first request, so ask twice):`,
    `  ${kc} -n ${NAMESPACE} port-forward svc/${APP}-coordinator 8081 &`,
    `  curl -H "X-Weir-Token: $(${kc} -n ${NAMESPACE} get secret ${APP}-runtime-token -o jsonpath='{.data.token}' | base64 -d)" localhost:8081/v1/operators/revenue-per-minute/preview`,
    `tear down: make cluster-down   (or kind delete cluster --name weir)`,
  ]) {
    process.stdout.write(`    ${line}\n`);
  }
  say(`total ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`make demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
