// Event time across Kafka, against the real broker: in-band watermarks through two chained
// pipelines, idle partitions, and event-time alignment.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createTopic, kafkaClient, kafkaForTests, waitFor, type Availability, type KafkaBroker } from '@weir/e2e';
import { Partitioners } from 'kafkajs';
import { compilePipeline } from '../../pipeline/compile.ts';
import { startJob, type Job } from '../../runtime/executor.ts';
import { BASE_TS, expectedWindows, lcg, readTopic, type Ad, brokerOrSkip } from '../../testing/kafka.ts';

describe('event time across Kafka (real broker)', () => {
  let broker: Availability<KafkaBroker>;
  let base: string;
  const jobs: Job[] = [];

  before(async () => {
    broker = await kafkaForTests();
    base = await mkdtemp(join(tmpdir(), 'weir-event-time-'));
  });

  after(async () => {
    await Promise.all(jobs.map((j) => j.cancel()));
    await rm(base, { recursive: true, force: true });
    if (broker.available) await broker.component.stop();
  });

  async function produce(
    kafka: KafkaBroker,
    topic: string,
    messages: { value: string; partition: number; timestamp?: string }[],
  ): Promise<void> {
    const producer = kafkaClient(kafka, 'weir-event-time').producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      // Idempotent: a retried send never duplicates test input.
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    for (let i = 0; i < messages.length; i += 5000)
      await producer.send({ topic, messages: messages.slice(i, i + 5000) });
    await producer.disconnect();
  }

  async function run(pipeline: object): Promise<Job> {
    const compiled = compilePipeline(pipeline);
    const job = await startJob(compiled.graph, {
      parallelism: compiled.parallelism,
      checkpoints: { dir: join(base, randomBytes(4).toString('hex')), intervalMs: compiled.checkpointIntervalMs },
    });
    jobs.push(job);
    return job;
  }

  function windowsOf(seen: { value: string }[]): Map<string, { count: number; revenue: number }> {
    const out = new Map<string, { count: number; revenue: number }>();
    for (const s of seen) {
      const v = JSON.parse(s.value) as { id: string; value: { count: number; revenue: number } };
      assert.ok(!out.has(v.id), `${v.id} twice`);
      out.set(v.id, v.value);
    }
    return out;
  }

  it(
    'in-band watermarks: a second pipeline reading the first one’s output has exact event time (nothing late, every window right)',
    { timeout: 300_000 },
    async (t) => {
      const kafka = brokerOrSkip(broker, t);
      if (kafka === undefined) return;
      const tag = randomBytes(4).toString('hex');
      const [input, mid, output] = [`wm-in-${tag}`, `wm-mid-${tag}`, `wm-out-${tag}`];
      await createTopic(kafka, input, 2);
      await createTopic(kafka, mid, 3);
      await createTopic(kafka, output, 2);
      const rand = lcg(5);
      const ads: Ad[] = [];
      // Disordered by up to 300 ms in each input partition; the first pipeline's bound (400 ms) covers it.
      for (let i = 0; i < 20_000; i++) {
        ads.push({
          id: `a${i}`,
          campaign: `c${i % 13}`,
          amount: Math.floor(rand() * 100),
          ts: BASE_TS + i * 2 + Math.floor(rand() * 300),
        });
      }
      await produce(
        kafka,
        input,
        ads.map((a, i) => ({ value: JSON.stringify(a), partition: i % 2 })),
      );
      // Far ahead in event time on each input partition: every data window closes.
      await produce(
        kafka,
        input,
        [0, 1].map((p) => ({
          value: JSON.stringify({ id: `end${p}`, campaign: 'zz', amount: 0, ts: BASE_TS + 10_000_000 }),
          partition: p,
        })),
      );
      const brokers = kafka.brokers;
      await run({
        name: `wm-first-${tag}`,
        parallelism: 2,
        checkpoints: { interval: '300ms' },
        source: {
          id: 'in',
          kafka: { topic: input, bootstrapServers: brokers },
          timestamp: 'e.ts',
          watermarks: { maxOutOfOrderness: '400ms' },
        },
        // A keyed hop: the records leave in another order than they came, over 3 partitions.
        steps: [
          { id: 'tag', map: '{"id": e.id, "campaign": e.campaign, "amount": e.amount, "ts": e.ts, "hop": 1}' },
          {
            id: 'mid',
            sink: {
              kafka: {
                topic: mid,
                bootstrapServers: brokers,
                key: 'e.campaign',
                inBandWatermarks: true,
                watermarkInterval: '100ms',
                transactionTimeout: '30s',
              },
            },
          },
        ],
      });
      const second = await run({
        name: `wm-second-${tag}`,
        parallelism: 2,
        checkpoints: { interval: '300ms' },
        // No out-of-orderness bound at all: event time comes only from the first pipeline's watermarks.
        source: { id: 'mid', kafka: { topic: mid, bootstrapServers: brokers, inBandWatermarks: true } },
        steps: [
          { id: 'by-campaign', keyBy: 'e.campaign' },
          {
            id: 'per-second',
            window: { tumbling: '1s', aggregate: { count: { count: true }, revenue: { sum: 'e.amount' } } },
          },
          { id: 'out', sink: { kafka: { topic: output, bootstrapServers: brokers, transactionTimeout: '30s' } } },
        ],
      });
      const expected = expectedWindows(ads);
      const got = windowsOf(await readTopic(kafka, output, (n) => n >= expected.size, 120_000));
      const m = second.metrics();
      t.diagnostic(
        `${expected.size} windows expected, ${got.size} received; second pipeline: ${m.lateDropped} late, watermark ${m.watermark}`,
      );
      assert.equal(m.lateDropped, 0, 'nothing is late downstream');
      assert.deepEqual(Object.fromEntries(got), Object.fromEntries(expected));
    },
  );

  it('an idle partition stops holding event time back after its idleness timeout', { timeout: 120_000 }, async (t) => {
    const kafka = brokerOrSkip(broker, t);
    if (kafka === undefined) return;
    const tag = randomBytes(4).toString('hex');
    const [input, output] = [`idle-in-${tag}`, `idle-out-${tag}`];
    await createTopic(kafka, input, 2);
    await createTopic(kafka, output, 1);
    const ads: Ad[] = [];
    for (let i = 0; i < 3000; i++)
      ads.push({ id: `a${i}`, campaign: `c${i % 5}`, amount: i % 10, ts: BASE_TS + i * 3 });
    // Only partition 0 gets data; partition 1 stays empty.
    await produce(
      kafka,
      input,
      [...ads, { id: 'end', campaign: 'zz', amount: 0, ts: BASE_TS + 10_000_000 }].map((a) => ({
        value: JSON.stringify(a),
        partition: 0,
      })),
    );
    const pipeline = (idle: string | undefined): object => ({
      name: `idle-${tag}`,
      checkpoints: { interval: '300ms' },
      source: {
        id: 'in',
        kafka: { topic: input, bootstrapServers: kafka.brokers },
        timestamp: 'e.ts',
        watermarks: { maxOutOfOrderness: '10ms', ...(idle === undefined ? {} : { idleTimeout: idle }) },
      },
      steps: [
        { id: 'by-campaign', keyBy: 'e.campaign' },
        {
          id: 'per-second',
          window: { tumbling: '1s', aggregate: { count: { count: true }, revenue: { sum: 'e.amount' } } },
        },
        { id: 'out', sink: { kafka: { topic: output, bootstrapServers: kafka.brokers, transactionTimeout: '30s' } } },
      ],
    });
    // Without idleness the empty partition holds the watermark at its minimum: no window fires.
    const held = await run(pipeline(undefined));
    await waitFor(
      () => (held.metrics().recordsIn >= ads.length + 1 ? Promise.resolve() : Promise.reject(new Error('reading'))),
      60_000,
    );
    await delay(1500);
    assert.equal(held.metrics().recordsOut, 0, 'no window fires while the empty partition holds time back');
    await held.cancel();
    const job = await run(pipeline('1s'));
    const expected = expectedWindows(ads);
    const got = windowsOf(await readTopic(kafka, output, (n) => n >= expected.size, 60_000));
    assert.deepEqual(Object.fromEntries(got), Object.fromEntries(expected));
    assert.ok(job.metrics().watermark >= BASE_TS + 9_000, 'the watermark follows the busy partition');
  });

  it(
    'alignment pauses the partition that runs ahead and resumes it when the other catches up or goes idle; window state stays smaller',
    { timeout: 180_000 },
    async (t) => {
      const kafka = brokerOrSkip(broker, t);
      if (kafka === undefined) return;
      const tag = randomBytes(4).toString('hex');
      const input = `align-in-${tag}`;
      await createTopic(kafka, input, 2);
      // A replayed backlog: partition 0 holds the next 100 s of event time, partition 1 the 100 s before it.
      const messages: { value: string; partition: number }[] = [];
      for (let i = 0; i < 20_000; i++) {
        messages.push({ value: JSON.stringify({ k: `k${i % 500}`, ts: BASE_TS + 100_000 + i * 5 }), partition: 0 });
        messages.push({ value: JSON.stringify({ k: `k${i % 500}`, ts: BASE_TS + i * 5 }), partition: 1 });
      }
      await produce(kafka, input, messages);
      const measure = async (
        drift: string | undefined,
      ): Promise<{ peakState: number; pauses: number; sawPaused: boolean }> => {
        const job = await run({
          name: `align-${tag}-${drift ?? 'none'}`,
          source: {
            id: 'in',
            kafka: { topic: input, bootstrapServers: kafka.brokers },
            timestamp: 'e.ts',
            watermarks: {
              maxOutOfOrderness: '1s',
              idleTimeout: '2s',
              ...(drift === undefined ? {} : { maxDrift: drift }),
            },
          },
          steps: [
            { id: 'by-k', keyBy: 'e.k' },
            { id: 'per-second', window: { tumbling: '1s', aggregate: { n: { count: true } } } },
            { id: 'out', sink: { discard: {} } },
          ],
        });
        let peakState = 0;
        let sawPaused = false;
        await waitFor(
          () => {
            const m = job.metrics();
            peakState = Math.max(peakState, m.timers);
            sawPaused ||= m.splitsPaused > 0;
            return m.recordsIn >= messages.length
              ? Promise.resolve()
              : Promise.reject(new Error(`read ${m.recordsIn}`));
          },
          120_000,
          5,
        );
        const pauses = job.metrics().alignmentPauses;
        await job.cancel();
        return { peakState, pauses, sawPaused };
      };
      const free = await measure(undefined);
      const aligned = await measure('10s');
      t.diagnostic(
        `peak open windows (timers): ${free.peakState} without alignment, ${aligned.peakState} with maxDrift 10s (${aligned.pauses} pauses)`,
      );
      assert.equal(free.pauses, 0);
      assert.ok(aligned.pauses >= 1 && aligned.sawPaused, 'the partition ahead was paused');
      assert.ok(aligned.peakState < free.peakState, 'alignment keeps less window state in memory');
    },
  );

  it(
    'partitions added to a topic while the job runs are picked up and read from their beginning',
    { timeout: 120_000 },
    async (t) => {
      const kafka = brokerOrSkip(broker, t);
      if (kafka === undefined) return;
      const tag = randomBytes(4).toString('hex');
      const [input, output] = [`grow-in-${tag}`, `grow-out-${tag}`];
      await createTopic(kafka, input, 1);
      await createTopic(kafka, output, 1);
      const batch = (prefix: string, partition: number): { value: string; partition: number }[] =>
        Array.from({ length: 100 }, (_, i) => ({ value: JSON.stringify({ id: `${prefix}${i}` }), partition }));
      await produce(kafka, input, batch('p0-', 0));
      await run({
        name: `grow-${tag}`,
        checkpoints: { interval: '200ms' },
        source: { id: 'in', kafka: { topic: input, bootstrapServers: kafka.brokers, partitionDiscovery: '300ms' } },
        steps: [
          { id: 'out', sink: { kafka: { topic: output, bootstrapServers: kafka.brokers, transactionTimeout: '30s' } } },
        ],
      });
      assert.equal((await readTopic(kafka, output, (n) => n >= 100, 30_000)).length, 100);
      const admin = kafkaClient(kafka, 'weir-grow').admin();
      await admin.connect();
      await admin.createPartitions({ topicPartitions: [{ topic: input, count: 3 }] });
      await admin.disconnect();
      await produce(kafka, input, [...batch('p1-', 1), ...batch('p2-', 2)]);
      const seen = await readTopic(kafka, output, (n) => n >= 300, 60_000);
      const ids = seen.map((s) => (JSON.parse(s.value) as { id: string }).id);
      assert.equal(new Set(ids).size, 300, 'every record once');
      assert.ok(ids.some((id) => id.startsWith('p2-')));
      // Lag tools see the progress: the source's group has offsets at the end of every partition,
      // committed in the transactions of the output (never ahead of it).
      const lag = kafkaClient(kafka, 'weir-grow-lag').admin();
      await lag.connect();
      try {
        await waitFor(
          async () => {
            // Lag 0: the committed offsets are the end of every partition (the producer may have retried a send).
            const [offsets] = await lag.fetchOffsets({ groupId: `weir.grow-${tag}.in`, topics: [input] });
            const committed = Object.fromEntries(
              (offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
            );
            const ends = Object.fromEntries(
              (await lag.fetchTopicOffsets(input)).map((p) => [p.partition, Number(p.high)]),
            );
            assert.equal(Object.keys(ends).length, 3);
            if (JSON.stringify(committed) !== JSON.stringify(ends))
              throw new Error(`committed ${JSON.stringify(committed)}, ends ${JSON.stringify(ends)}`);
          },
          30_000,
          250,
        );
      } finally {
        await lag.disconnect();
      }
    },
  );

  it(
    'catch-up policy: records older than dropOlderThan are dropped and counted, the rest is processed',
    { timeout: 60_000 },
    async (t) => {
      const kafka = brokerOrSkip(broker, t);
      if (kafka === undefined) return;
      const tag = randomBytes(4).toString('hex');
      const [input, output] = [`old-in-${tag}`, `old-out-${tag}`];
      await createTopic(kafka, input, 1);
      await createTopic(kafka, output, 1);
      const now = Date.now();
      const old = Array.from({ length: 30 }, (_, i) => ({
        value: JSON.stringify({ id: `old${i}` }),
        partition: 0,
        timestamp: String(now - 2 * 3_600_000),
      }));
      const recent = Array.from({ length: 20 }, (_, i) => ({
        value: JSON.stringify({ id: `new${i}` }),
        partition: 0,
        timestamp: String(now),
      }));
      await produce(kafka, input, [...old, ...recent]);
      const job = await run({
        name: `old-${tag}`,
        checkpoints: { interval: '200ms' },
        // Event time from the record timestamp (no timestamp expression).
        source: { id: 'in', kafka: { topic: input, bootstrapServers: kafka.brokers, dropOlderThan: '1h' } },
        steps: [
          { id: 'out', sink: { kafka: { topic: output, bootstrapServers: kafka.brokers, transactionTimeout: '30s' } } },
        ],
      });
      const seen = await readTopic(kafka, output, (n) => n >= 20, 30_000);
      assert.deepEqual(
        seen.map((s) => (JSON.parse(s.value) as { id: string }).id).sort(),
        recent.map((r) => (JSON.parse(r.value) as { id: string }).id).sort(),
      );
      assert.equal(job.metrics().droppedTooOld, 30);
    },
  );
});
