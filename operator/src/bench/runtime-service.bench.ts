// Benchmark: the runtime as the operator deploys it (coordinator and worker processes from the
// manifests) on the Kafka issue's workload: ads from a topic, keyed through the Kafka exchange into
// 1 s windows, written exactly once to Kafka. Prints, for 1, 2 and 4 workers: time from process
// start to RUNNING, records/s over the backlog, checkpoint duration across workers; and the cost
// of the live preview (the same run at 1 worker with a client polling the preview).
// Usage: npm run bench -w operator   (WEIR_BENCH_SERVICE_RECORDS=200000, WEIR_BENCH_SKIP_SERVICE=1)
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { createTopic, kafka, kafkaClient, type KafkaBroker } from '@weir/e2e';
import type { OperatorList } from '@weir/runtime/api';
import { names } from '../names.ts';
import { spec } from '../testing/fixtures.ts';
import { fetchTransport, RuntimeClient, type AppRef } from '../runtime/client.ts';
import { LocalRuntime } from '../runtime/testing/local-runtime.ts';

const records = Number(process.env.WEIR_BENCH_SERVICE_RECORDS ?? '200000');
const PARTITIONS = 8;
const TOKEN = 'bench-token';

async function produce(broker: KafkaBroker, topic: string): Promise<void> {
  const producer = kafkaClient(broker, 'weir-bench-input').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  const base = 1_700_000_000_000;
  for (let i = 0; i < records; i += 5000) {
    const messages = [];
    for (let j = i; j < Math.min(records, i + 5000); j++) {
      const ad = { id: `ad-${j}`, campaign: `c${j % 50}`, amount: j % 1000, ts: base + j * 2 };
      messages.push({ key: ad.id, value: JSON.stringify(ad), partition: j % PARTITIONS });
    }
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
}

interface RunResult {
  workers: number;
  readyMs: number;
  recordsPerSecond: number;
  checkpointMs: number[];
}

async function run(broker: KafkaBroker, input: string, workers: number, preview: boolean): Promise<RunResult> {
  const tag = randomBytes(3).toString('hex');
  const app: AppRef = { namespace: `bench-${tag}`, name: 'revenue' };
  const output = `bench-out-${tag}`;
  await createTopic(broker, output, 4);
  const stateDir = await mkdtemp(join(tmpdir(), 'weir-bench-service-'));
  const startedAt = Date.now();
  const rt = await LocalRuntime.start({
    id: { ...app, uid: `uid-${tag}` },
    spec: spec({
      parallelism: workers,
      maxParallelism: 32,
      kafka: { bootstrapServers: [...broker.brokers] },
      checkpoints: { ...spec().checkpoints, intervalSeconds: 1 },
      pipeline: {
        name: 'revenue',
        source: {
          id: 'ads',
          kafka: { topic: input, startFrom: 'earliest' },
          timestamp: 'e.ts',
          watermarks: { maxOutOfOrderness: '200ms' },
        },
        steps: [
          { id: 'by-campaign', keyBy: 'e.campaign' },
          {
            id: 'per-second',
            window: { tumbling: '1s', aggregate: { count: { count: true }, revenue: { sum: 'e.amount' } } },
          },
          { id: 'out', sink: { kafka: { topic: output, transactionTimeout: '60s' } } },
        ],
      },
    }),
    deployment: { specHash: `bench-${tag}` },
    secrets: { [names(app.name).token]: { token: TOKEN } },
    stateDir,
  });
  const client = new RuntimeClient(
    fetchTransport(() => rt.url, 10_000),
    () => Promise.resolve(TOKEN),
  );
  const get = async <T>(path: string): Promise<T> =>
    (await fetch(`${rt.url}${path}`, { headers: { 'x-weir-token': TOKEN } })).json() as Promise<T>;
  try {
    let readyAt = 0;
    while (readyAt === 0) {
      if ((await client.view(app))?.job.state === 'RUNNING') readyAt = Date.now();
      else await new Promise((r) => setTimeout(r, 50));
    }
    const checkpointMs: number[] = [];
    let lastCheckpointAt = '';
    // Records into the window operator (after the exchange): the whole job has done them.
    for (;;) {
      if (preview) await get('/v1/operators/per-second/preview?limit=100');
      const ops = await get<OperatorList>('/v1/operators');
      const window = ops.operators.find((o) => o.operatorId === 'per-second');
      const cps = await client.view(app);
      const last = cps?.checkpoints.lastCompleted?.time ?? '';
      if (last !== lastCheckpointAt && window?.checkpointDurationMs !== undefined) {
        checkpointMs.push(window.checkpointDurationMs);
        lastCheckpointAt = last;
      }
      if ((window?.recordsIn ?? 0) >= records) break;
      if (Date.now() - readyAt > 600_000) throw new Error('the backlog was not processed within 10 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    const doneAt = Date.now();
    return {
      workers,
      readyMs: readyAt - startedAt,
      recordsPerSecond: Math.round(records / ((doneAt - readyAt) / 1000)),
      checkpointMs,
    };
  } finally {
    await rt.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

if (process.env.WEIR_BENCH_SKIP_SERVICE === '1') {
  process.stdout.write('runtime service bench: skipped (WEIR_BENCH_SKIP_SERVICE=1)\n');
} else {
  const broker = await kafka();
  try {
    const input = `bench-in-${randomBytes(3).toString('hex')}`;
    await createTopic(broker, input, PARTITIONS);
    await produce(broker, input);
    process.stdout.write(
      `runtime service: ${records.toLocaleString('en-US')} ads, ${PARTITIONS} partitions, keyed 1 s windows through the Kafka exchange, exactly-once Kafka sink; ${cpus().length} cores\n`,
    );
    const results: RunResult[] = [];
    for (const w of [1, 2, 4]) {
      const r = await run(broker, input, w, false);
      results.push(r);
      process.stdout.write(
        `  ${w} worker(s): start to RUNNING ${(r.readyMs / 1000).toFixed(1)} s; ${r.recordsPerSecond.toLocaleString('en-US')} records/s; checkpoint (slowest worker) median ${median(r.checkpointMs)} ms, max ${Math.max(0, ...r.checkpointMs)} ms over ${r.checkpointMs.length}\n`,
      );
    }
    const base = results[0]?.recordsPerSecond ?? 1;
    process.stdout.write(
      `  scaling vs 1 worker: ${results.map((r) => `${r.workers}: ${(r.recordsPerSecond / base).toFixed(2)}×`).join(', ')} (all workers share these cores)\n`,
    );
    const withPreview = await run(broker, input, 1, true);
    process.stdout.write(
      `  live preview polled every 200 ms at 1 worker: ${withPreview.recordsPerSecond.toLocaleString('en-US')} records/s (${((withPreview.recordsPerSecond / base) * 100).toFixed(0)}% of without)\n`,
    );
  } finally {
    await broker.stop();
  }
}
