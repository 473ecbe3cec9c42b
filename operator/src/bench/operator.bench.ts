// Benchmark: N StreamApplications against the real kube-apiserver, the fake runtime standing in for
// their pods, the operator as its own process (so its memory is its own). Prints time until all
// are Running, the operator's peak RSS and its reconcile p99 (from its /metrics).
// Usage: npm run bench -w operator   (WEIR_BENCH_APPS=1000, WEIR_BENCH_CONCURRENCY=8, WEIR_BENCH_HEAP_MIB=160)
//
// WEIR_BENCH_CONTROL_PLANE=dedicated (default): a control plane of its own, etcd and kube-apiserver
// only, as controller-runtime's envtest runs them, started for the run and purged after. That
// measures the operator: no controller-manager turning 1,000 Deployments and StatefulSets into
// pods on the same two cores, no other test suite sharing the API server.
// WEIR_BENCH_CONTROL_PLANE=shared: the control plane the tests use, controller-manager included.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { kubernetes } from '@weir/e2e';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type StreamApplication } from '../model.ts';
import { reuseConnections } from '../k8s/connection-reuse.ts';
import { OperatorHarness } from '../k8s/testing/harness.ts';
import { validPipeline } from '../testing/fixtures.ts';

const apps = Number(process.env.WEIR_BENCH_APPS ?? '1000');
// The operator's default. 32 workers finished no sooner (the API server is the limit) and only
// queued more requests in it, so each pass waited longer.
const concurrency = process.env.WEIR_BENCH_CONCURRENCY ?? '8';
// What a 256 MiB container limit leaves for the JS heap; without a limit V8 grows the heap towards
// a quarter of the machine's memory before collecting in earnest, which measures nothing.
const heapMiB = process.env.WEIR_BENCH_HEAP_MIB ?? '160';
const targets = { allRunningSeconds: 60, rssMiB: 256, p99Ms: 500 };

function parseMetric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

const mode = process.env.WEIR_BENCH_CONTROL_PLANE ?? 'dedicated';
if (mode !== 'dedicated' && mode !== 'shared') {
  throw new Error(`WEIR_BENCH_CONTROL_PLANE must be "dedicated" or "shared", got "${mode}"`);
}
const runRoot = process.env.WEIR_RUN ?? join(homedir(), '.cache/weir/run');
const infra = fileURLToPath(new URL('../../../e2e/infra/kubernetes/', import.meta.url));
// Its own state directory and ports, so it never meets the shared control plane.
const dedicatedEnv = {
  ...process.env,
  WEIR_RUN: join(runRoot, 'bench'),
  WEIR_KUBE_APISERVER_PORT: '17443',
  WEIR_KUBE_ETCD_PORT: '13379',
  WEIR_KUBE_ETCD_PEER_PORT: '13380',
  WEIR_KUBE_CONTROLLER_MANAGER: 'false',
};

function purgeDedicated(): void {
  execFileSync(join(infra, 'down.sh'), ['--purge'], { env: dedicatedEnv, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** CPU seconds of the local control plane's processes (when the project's scripts started them). */
function controlPlaneCpuSeconds(): Record<string, number> {
  const run = join(mode === 'dedicated' ? dedicatedEnv.WEIR_RUN : runRoot, 'kubernetes');
  const out: Record<string, number> = {};
  for (const name of ['etcd', 'kube-apiserver', 'kube-controller-manager']) {
    try {
      const pid = readFileSync(join(run, `${name}.pid`), 'utf8').trim();
      // utime and stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      out[name] = (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // Not started by the project's scripts (another cluster): nothing to report.
    }
  }
  return out;
}

/** The API server's request counters by verb and resource, to count what each app costs it. */
async function apiserverRequests(kc: KubeConfig): Promise<Map<string, number>> {
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(new URL('/metrics', kc.getCurrentCluster()?.server), opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve(body);
      });
    });
    req.on('error', reject);
    req.end();
  });
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([^"]*)"/.exec(line)?.[1] ?? '';
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    const sub = /subresource="([^"]*)"/.exec(line)?.[1] ?? '';
    const key = `${verb} ${resource}${sub === '' ? '' : `/${sub}`}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.split(' ').at(-1)));
  }
  return counts;
}

interface Quantile {
  /** The smallest bucket bound holding 99 % of passes: a bound the p99 cannot exceed. */
  atMost: number;
  /** Linear interpolation inside that bucket, as Prometheus' histogram_quantile() estimates it. */
  estimate: number;
}

/** p99 of the reconcile duration histogram. */
function p99FromHistogram(text: string): Quantile | undefined {
  const buckets = text
    .split('\n')
    .filter((l) => l.startsWith('weir_operator_reconcile_duration_seconds_bucket'))
    .map((l) => ({ le: Number(/le="([^"]+)"/.exec(l)?.[1] ?? 'NaN'), count: Number(l.split(' ').at(-1)) }))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = total * 0.99;
  const i = buckets.findIndex((b) => b.count >= rank);
  const upper = buckets[i];
  if (upper === undefined || !Number.isFinite(upper.le)) return { atMost: Infinity, estimate: Infinity };
  const lower = buckets[i - 1] ?? { le: 0, count: 0 };
  const estimate = lower.le + ((upper.le - lower.le) * (rank - lower.count)) / (upper.count - lower.count);
  return { atMost: upper.le, estimate };
}

async function main(): Promise<void> {
  let cluster: Cluster;
  if (mode === 'dedicated') {
    // Purged first too: a run that was killed may have left its cluster behind.
    purgeDedicated();
    const kubeconfig = execFileSync(join(infra, 'up.sh'), { env: dedicatedEnv, stdio: ['ignore', 'pipe', 'inherit'] })
      .toString()
      .trim();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfig);
    cluster = { kubeConfig, kubeconfigPath: kubeconfig };
  } else {
    cluster = await kubernetes();
  }
  try {
    await measure(cluster);
  } finally {
    if (mode === 'dedicated') {
      purgeDedicated();
    }
  }
}

interface Cluster {
  kubeConfig: KubeConfig;
  kubeconfigPath: string;
}

async function measure(cluster: Cluster): Promise<void> {
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
  const cpuBefore = controlPlaneCpuSeconds();
  const harnessCpuBefore = process.cpuUsage();
  const requestsBefore = await apiserverRequests(cluster.kubeConfig);
  const mainJs = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build first with \`npx tsc -b\``);
  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${heapMiB}`,
      // V8 sizes the young generation from the heap limit: with 160 MiB it gets a few MiB, and a
      // burst of API responses is then promoted and collected as old garbage (GC took half the
      // operator's CPU). 16 MiB semi-spaces keep short-lived garbage young.
      ...(process.env.WEIR_BENCH_NODE_FLAGS ?? '--max-semi-space-size=16').split(' ').filter((f) => f !== ''),
      ...(process.env.WEIR_BENCH_CPU_PROF === undefined
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${process.env.WEIR_BENCH_CPU_PROF}`]),
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
  const errorSamples: string[] = [];
  const metricsUrl = new Promise<string>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (process.env.WEIR_BENCH_VERBOSE === '1') process.stderr.write(text);
      const m = /http on (http:\/\/[^\s]+)/.exec(text);
      if (m?.[1] !== undefined) resolve(`${m[1].replace('0.0.0.0', '127.0.0.1')}/metrics`);
      for (const line of text.split('\n').filter((l) => l.includes('failed'))) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(line.slice(0, 300));
      }
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
    const requestsAfter = await apiserverRequests(cluster.kubeConfig);
    const cpuAfter = controlPlaneCpuSeconds();
    const harnessCpu = process.cpuUsage(harnessCpuBefore);
    const writeVerbs = ['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE'];
    const requestDelta = [...requestsAfter]
      .map(([k, v]) => [k, v - (requestsBefore.get(k) ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]);
    const writes = requestDelta.filter(([k]) => writeVerbs.includes(k.split(' ')[0] ?? ''));
    const perApp = (n: number) => Number((n / apps).toFixed(2));
    const p99 = p99FromHistogram(metrics);
    const reconciles = metrics.split('\n').filter((l) => l.startsWith('weir_operator_reconciles_total'));
    const result = {
      controlPlane:
        mode === 'dedicated'
          ? 'dedicated: etcd + kube-apiserver only (envtest-like)'
          : 'shared: etcd + kube-apiserver + kube-controller-manager',
      apps,
      running,
      createSeconds: Number(created.toFixed(1)),
      allRunningSeconds: Number(allRunning.toFixed(1)),
      operatorPeakRssMiB: Number((peakRss / 2 ** 20).toFixed(1)),
      operatorHeapUsedMiB: Number(
        ((parseMetric(metrics, 'weir_operator_nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20).toFixed(1),
      ),
      loadAverage: loadavg().map((l) => Number(l.toFixed(1))),
      cpuSeconds: {
        operator: parseMetric(metrics, 'weir_operator_process_cpu_seconds_total'),
        harness: Number(((harnessCpu.user + harnessCpu.system) / 1e6).toFixed(1)),
        ...Object.fromEntries(
          Object.entries(cpuAfter).map(([k, v]) => [k, Number((v - (cpuBefore[k] ?? 0)).toFixed(1))]),
        ),
      },
      // Everyone's requests (operator, controller-manager, harness) during the run, per app.
      apiserverRequestsPerApp: perApp(requestDelta.reduce((n, [, v]) => n + v, 0)),
      apiserverWritesPerApp: perApp(writes.reduce((n, [, v]) => n + v, 0)),
      topWritesPerApp: Object.fromEntries(writes.slice(0, 12).map(([k, v]) => [k, perApp(v)])),
      reconcileP99Ms:
        p99 === undefined
          ? undefined
          : Number.isFinite(p99.atMost)
            ? { atMost: p99.atMost * 1000, estimate: Math.round(p99.estimate * 1000) }
            : 'over 30000',
      reconciles,
      reconcileSecondsHistogram: Object.fromEntries(
        metrics
          .split('\n')
          .filter((l) => l.startsWith('weir_operator_reconcile_duration_seconds_bucket'))
          .map((l) => [/le="([^"]+)"/.exec(l)?.[1] ?? '', Number(l.split(' ').at(-1))]),
      ),
      errorLines: errors,
      errorSamples,
      targets,
      met: {
        allRunning: running === apps && allRunning <= targets.allRunningSeconds,
        memory: peakRss / 2 ** 20 <= targets.rssMiB,
        // The bucket bound, not the estimate: met only if it holds for certain.
        p99: p99 !== undefined && p99.atMost * 1000 <= targets.p99Ms,
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    // Let the operator finish its passes first: one still running could re-add a finalizer the
    // harness drops, leaving the namespace terminating (and the apiserver busy) for good.
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (mode === 'dedicated') {
      // The whole control plane is purged next: no need to empty the namespace first.
      h.sim.stop();
      await h.fake.close();
    } else {
      await h.close();
    }
  }
}

await main();
// The harness's watches keep the event loop alive; the benchmark is over.
process.exit(0);
