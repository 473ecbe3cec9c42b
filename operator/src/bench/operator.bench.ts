// Benchmark: N StreamApplications against the real kube-apiserver, the fake runtime standing in for
// their pods, the operator as its own process (so its memory is its own). Prints time until all
// are Running, the operator's peak RSS and its reconcile p99 (from its /metrics).
// Usage: npm run bench -w operator   (WEIR_BENCH_APPS=1000, WEIR_BENCH_CONCURRENCY=32, WEIR_BENCH_HEAP_MIB=160)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { kubernetes } from '@weir/e2e';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type StreamApplication } from '../model.ts';
import { reuseConnections } from '../k8s/connection-reuse.ts';
import { OperatorHarness } from '../k8s/testing/harness.ts';
import { validPipeline } from '../testing/fixtures.ts';

const apps = Number(process.env.WEIR_BENCH_APPS ?? '1000');
// 32 workers: with 8 (the operator's default) the run was slower still on this loaded machine.
const concurrency = process.env.WEIR_BENCH_CONCURRENCY ?? '32';
// What a 256 MiB container limit leaves for the JS heap; without a limit V8 grows the heap towards
// a quarter of the machine's memory before collecting in earnest, which measures nothing.
const heapMiB = process.env.WEIR_BENCH_HEAP_MIB ?? '160';
const targets = { allRunningSeconds: 60, rssMiB: 256, p99Ms: 500 };

function parseMetric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** p99 from the reconcile duration histogram: the smallest bucket bound holding 99 % of passes. */
function p99FromHistogram(text: string): number | undefined {
  const buckets = text
    .split('\n')
    .filter((l) => l.startsWith('weir_operator_reconcile_duration_seconds_bucket'))
    .map((l) => ({ le: /le="([^"]+)"/.exec(l)?.[1] ?? '', count: Number(l.split(' ').at(-1)) }));
  const total = buckets.find((b) => b.le === '+Inf')?.count ?? 0;
  if (total === 0) return undefined;
  return Number(buckets.find((b) => b.count >= total * 0.99)?.le ?? Infinity);
}

async function main(): Promise<void> {
  const cluster = await kubernetes();
  // The harness's own clients (creating apps, the pod simulator) need a kept-alive connection too,
  // or the harness measures TLS handshakes instead of the operator.
  reuseConnections(cluster.kubeConfig);
  const h = await OperatorHarness.start(cluster.kubeConfig, 'weir-bench');
  // A watch, not polling: listing 1,000 StatefulSets every tick would make the harness the bottleneck.
  h.sim.stop();
  await h.sim.watch();
  const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  // The operator as users run it: compiled JavaScript (the package script runs `tsc -b` first), not
  // type-stripped TypeScript, whose transpiler would count against the operator's memory.
  const mainJs = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build first with \`npx tsc -b\``);
  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${heapMiB}`,
      mainJs,
      '--namespaces',
      h.namespace,
      '--leader-elect',
      'false',
      '--http-port',
      '0',
      '--concurrency',
      concurrency,
      '--runtime-access',
      'url',
      '--runtime-url',
      `${h.fake.url}/apps/{namespace}/{name}`,
    ],
    { env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath }, stdio: ['ignore', 'inherit', 'pipe'] },
  );
  let errors = 0;
  const metricsUrl = new Promise<string>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (process.env.WEIR_BENCH_VERBOSE === '1') process.stderr.write(text);
      const m = /http on (http:\/\/[^\s]+)/.exec(text);
      if (m?.[1] !== undefined) resolve(`${m[1].replace('0.0.0.0', '127.0.0.1')}/metrics`);
      if (text.includes('failed')) errors++;
    });
  });
  try {
    const url = await metricsUrl;
    let peakRss = 0;
    const sampleRss = async () => {
      const text = await (await fetch(url)).text();
      peakRss = Math.max(peakRss, parseMetric(text, 'weir_operator_process_resident_memory_bytes') ?? 0);
      return text;
    };
    const started = Date.now();
    const names = Array.from({ length: apps }, (_, i) => `app-${String(i).padStart(4, '0')}`);
    // A pool of creators, each taking the next name: a slow create holds up one creator, not a batch.
    const pending = [...names];
    const creator = async () => {
      for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
        await custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: h.namespace,
          plural: PLURAL,
          body: {
            apiVersion: API_VERSION,
            kind: KIND,
            metadata: { name },
            spec: { image: 'weir/app:1', pipeline: validPipeline() },
          },
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, creator));
    const created = (Date.now() - started) / 1000;
    // Progress from the operator's own gauge (set after the status write): listing 1,000 whole
    // objects every tick would load the apiserver more than the operator does. The API has the
    // last word below.
    const runningIn = (text: string) =>
      (parseMetric(text, 'weir_operator_apps{phase="Running"}') ?? 0) +
      (parseMetric(text, 'weir_operator_apps{phase="Stable"}') ?? 0);
    const deadline = started + 300_000;
    while (runningIn(await sampleRss()) < apps && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    const allRunning = (Date.now() - started) / 1000;
    const list = (await custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: h.namespace,
      plural: PLURAL,
    })) as { items: StreamApplication[] };
    const running = list.items.filter((a) => a.status?.phase === 'Running' || a.status?.phase === 'Stable').length;
    // Keep the operator busy a little longer (stability checks, resyncs) before reading memory and latency.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      await sampleRss();
    }
    const metrics = await sampleRss();
    const p99 = p99FromHistogram(metrics);
    const reconciles = metrics.split('\n').filter((l) => l.startsWith('weir_operator_reconciles_total'));
    const result = {
      apps,
      running,
      createSeconds: Number(created.toFixed(1)),
      allRunningSeconds: Number(allRunning.toFixed(1)),
      operatorPeakRssMiB: Number((peakRss / 2 ** 20).toFixed(1)),
      operatorHeapUsedMiB: Number(
        ((parseMetric(metrics, 'weir_operator_nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20).toFixed(1),
      ),
      loadAverage: (await import('node:os')).loadavg().map((l) => Number(l.toFixed(1))),
      reconcileP99MsAtMost: p99 === undefined ? undefined : Number.isFinite(p99) ? p99 * 1000 : 'over 30000',
      reconciles,
      errorLines: errors,
      targets,
      met: {
        allRunning: running === apps && allRunning <= targets.allRunningSeconds,
        memory: peakRss / 2 ** 20 <= targets.rssMiB,
        p99: p99 !== undefined && p99 * 1000 <= targets.p99Ms,
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    // Let the operator finish its passes first: one still running could re-add a finalizer the
    // harness drops, leaving the namespace terminating (and the apiserver busy) for good.
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    await h.close();
  }
}

await main();
// The harness's watches keep the event loop alive; the benchmark is over.
process.exit(0);
