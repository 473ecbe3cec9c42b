// Kafka benchmark (`make bench`): 200-byte JSON records, Kafka → keyBy (100k keys) → 1-minute
// tumbling window → Kafka on the local broker, one runtime process. Prints records/s with
// exactly-once and at-least-once sinks, and plain consume → produce (no engine, no transactions)
// through the same port, plus the process CPU, so that numbers per core can be compared.
// First: the port's fixes to kafkajs internals apply only if kafkajs has not loaded yet.
import { KafkajsPort } from '../src/connectors/kafka/kafkajs.ts';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createTopic, kafkaClient, kafkaForTests } from '@weir/e2e';
import { Partitioners } from 'kafkajs';
import { compilePipeline } from '../src/pipeline/compile.ts';
import { startJob } from '../src/runtime/executor.ts';

const RECORDS = Number(process.env.WEIR_BENCH_KAFKA_RECORDS ?? 400_000);
const PARTITIONS = 4;
const KEYS = 100_000;

const broker = await kafkaForTests();
if (!broker.available) {
  console.log(`kafka bench: skipped (${broker.reason})`);
  process.exit(process.env.CI === 'true' ? 1 : 0);
}
const kafka = broker.component;
const tag = randomBytes(4).toString('hex');
const input = `bench-in-${tag}`;
await createTopic(kafka, input, PARTITIONS);

// 200-byte JSON values, event times 1 ms apart (a window per key fires every minute of event time).
const producer = kafkaClient(kafka, 'weir-bench-fill').producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const pad = 'x'.repeat(120);
const t0 = 1_700_000_000_000;
for (let i = 0; i < RECORDS; i += 10_000) {
  const messages = [];
  for (let j = i; j < Math.min(RECORDS, i + 10_000); j++) {
    const value = JSON.stringify({ id: j, key: `k${(j * 7919) % KEYS}`, amount: j % 1000, ts: t0 + j, pad });
    messages.push({ value, partition: j % PARTITIONS });
  }
  await producer.send({ topic: input, messages });
}
await producer.disconnect();
console.log(`kafka bench: ${RECORDS} records of ~200 bytes in ${input} (${PARTITIONS} partitions), ${KEYS} keys`);

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function pipelineRun(delivery: 'exactly-once' | 'at-least-once'): Promise<void> {
  const output = `bench-out-${delivery}-${tag}`;
  await createTopic(kafka, output, PARTITIONS);
  const dir = await mkdtemp(join(tmpdir(), 'weir-kafka-bench-'));
  const compiled = compilePipeline({
    name: `bench-${delivery}`,
    checkpoints: { interval: '2s' },
    source: {
      id: 'in',
      kafka: { topic: input, bootstrapServers: kafka.brokers },
      timestamp: 'e.ts',
      watermarks: { maxOutOfOrderness: '1s' },
    },
    steps: [
      { id: 'by-key', keyBy: 'e.key' },
      { id: 'per-minute', window: { tumbling: '1m', aggregate: { n: { count: true }, amount: { sum: 'e.amount' } } } },
      {
        id: 'out',
        sink: { kafka: { topic: output, bootstrapServers: kafka.brokers, delivery, transactionTimeout: '60s' } },
      },
    ],
  });
  const cpu0 = cpuSeconds();
  const started = performance.now();
  const job = await startJob(compiled.graph, {
    checkpoints: { dir, intervalMs: compiled.checkpointIntervalMs },
    batchSize: 4096,
  });
  let lastReport = performance.now();
  while (job.metrics().recordsIn < RECORDS) {
    await delay(20);
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const m = job.metrics();
      console.log(`kafka bench: ${delivery}: ${m.recordsIn} records in, ${m.recordsOut} out, state ${m.state}`);
      if (m.state !== 'running') throw new Error(`the job is ${m.state}`, { cause: (await job.done).error });
    }
  }
  const result = await job.stop(); // final checkpoint: the last transaction commits
  const s = (performance.now() - started) / 1000;
  const cpu = cpuSeconds() - cpu0;
  const m = job.metrics();
  console.log(
    `kafka bench: ${delivery.padEnd(13)} ${Math.round(RECORDS / s).toLocaleString('en-US')} records/s (${s.toFixed(1)} s, CPU ${cpu.toFixed(1)} s = ${Math.round(RECORDS / cpu).toLocaleString('en-US')} records per CPU-second), ${m.recordsOut.toLocaleString('en-US')} window results, ${m.checkpointsCompleted} checkpoints, ${result.state}`,
  );
  await rm(dir, { recursive: true, force: true });
}

async function plainCopy(): Promise<void> {
  const output = `bench-out-plain-${tag}`;
  await createTopic(kafka, output, PARTITIONS);
  const port = new KafkajsPort({ brokers: [...kafka.brokers] });
  const cpu0 = cpuSeconds();
  const started = performance.now();
  const reader = await port.reader({
    clientId: `weir-bench-plain-${tag}`,
    starts: [...Array(PARTITIONS).keys()].map((partition) => ({ topic: input, partition, offset: 0 })),
    maxBufferedPerPartition: 20_000,
  });
  const writer = await port.plainWriter();
  let copied = 0;
  while (copied < RECORDS) {
    let got = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const records = reader.take(input, p, 4096);
      got += records.length;
      if (records.length > 0) await writer.send(records.map((r) => ({ topic: output, key: r.key, value: r.value })));
    }
    copied += got;
    if (got === 0) await delay(1);
  }
  const s = (performance.now() - started) / 1000;
  const cpu = cpuSeconds() - cpu0;
  console.log(
    `kafka bench: plain copy     ${Math.round(RECORDS / s).toLocaleString('en-US')} records/s (${s.toFixed(1)} s, CPU ${cpu.toFixed(1)} s) — kafkajs consume → produce, no engine, no transactions`,
  );
  await port.close();
}

if (process.env.WEIR_BENCH_SKIP_PLAIN !== '1') await plainCopy();
await pipelineRun('at-least-once');
await pipelineRun('exactly-once');
/**
 * End-to-end latency: a producer writes 5,000 records/s stamped with their send time; the job
 * (Kafka → map → Kafka) commits every `interval`; a read_committed consumer measures arrival − send.
 */
async function latency(delivery: 'exactly-once' | 'at-least-once', interval: string): Promise<void> {
  const run = `${delivery}-${interval}-${tag}`;
  const [src, dst] = [`lat-in-${run}`, `lat-out-${run}`];
  await createTopic(kafka, src, PARTITIONS);
  await createTopic(kafka, dst, PARTITIONS);
  const dir = await mkdtemp(join(tmpdir(), 'weir-kafka-latency-'));
  const compiled = compilePipeline({
    name: `latency-${delivery}`,
    checkpoints: { interval },
    source: { id: 'in', kafka: { topic: src, bootstrapServers: kafka.brokers, startFrom: 'latest' } },
    steps: [
      { id: 'pass', map: '{"sentAt": e.sentAt}' },
      {
        id: 'out',
        sink: { kafka: { topic: dst, bootstrapServers: kafka.brokers, delivery, transactionTimeout: '60s' } },
      },
    ],
  });
  const job = await startJob(compiled.graph, { checkpoints: { dir, intervalMs: compiled.checkpointIntervalMs } });
  const consumer = kafkaClient(kafka, 'weir-bench-latency').consumer({
    groupId: `lat-${run}`,
    readUncommitted: false,
    maxWaitTimeInMs: 20,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: dst, fromBeginning: true });
  const latencies: number[] = [];
  await consumer.run({
    eachBatch: ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages)
        latencies.push(now - (JSON.parse(m.value?.toString() ?? '{}') as { sentAt: number }).sentAt);
      return Promise.resolve();
    },
  });
  const p = kafkaClient(kafka, 'weir-bench-latency-in').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await p.connect();
  const end = Date.now() + 10_000;
  let sent = 0;
  while (Date.now() < end) {
    const tick = Date.now();
    await p.send({
      topic: src,
      messages: Array.from({ length: 100 }, () => ({ value: JSON.stringify({ sentAt: Date.now() }) })),
    });
    sent += 100;
    await delay(Math.max(0, 20 - (Date.now() - tick)));
  }
  while (latencies.length < sent && Date.now() < end + 15_000) await delay(50);
  await p.disconnect();
  await consumer.disconnect();
  await job.cancel();
  await rm(dir, { recursive: true, force: true });
  const sorted = [...latencies].sort((a, b) => a - b);
  const q = (f: number): number => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))] ?? NaN;
  console.log(
    `kafka bench: latency ${delivery.padEnd(13)} checkpoint ${interval.padEnd(5)} p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${sorted.at(-1) ?? NaN} ms (${latencies.length}/${sent} records at ~5,000/s)`,
  );
}

if (process.env.WEIR_BENCH_SKIP_LATENCY !== '1') await latency('at-least-once', '1s');
if (process.env.WEIR_BENCH_SKIP_LATENCY !== '1') await latency('exactly-once', '1s');
if (process.env.WEIR_BENCH_SKIP_LATENCY !== '1') await latency('exactly-once', '200ms');
await broker.component.stop();
