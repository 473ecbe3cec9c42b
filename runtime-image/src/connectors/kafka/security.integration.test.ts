// SASL against the real broker's SASL listener (e2e/infra/kafka.sh): credentials from the
// environment variables the operator writes into pods, as a user's pipeline gets them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTopic, kafkaClient, kafkaForTests, type Availability, type KafkaBroker } from '@weir/e2e';
import { Partitioners } from 'kafkajs';
import { compilePipeline } from '../../pipeline/compile.ts';
import { startJob } from '../../runtime/executor.ts';
import { readTopic, brokerOrSkip } from '../../testing/kafka.ts';

describe('Kafka over SASL (real broker)', () => {
  let broker: Availability<KafkaBroker>;

  before(async () => {
    broker = await kafkaForTests();
  });

  after(async () => {
    delete process.env.WEIR_KAFKA_USERNAME;
    delete process.env.WEIR_KAFKA_PASSWORD;
    if (broker.available) await broker.component.stop();
  });

  const copyPipeline = (
    name: string,
    brokers: readonly string[],
    sasl: string,
    input: string,
    output: string,
  ): object => ({
    name,
    checkpoints: { interval: '200ms' },
    source: { id: 'in', kafka: { topic: input, bootstrapServers: brokers, sasl } },
    steps: [
      { id: 'copy', map: '{"id": e.id, "copied": true}' },
      { id: 'out', sink: { kafka: { topic: output, bootstrapServers: brokers, sasl, transactionTimeout: '30s' } } },
    ],
  });

  for (const mechanism of ['scram-sha-512', 'plain']) {
    it(
      `${mechanism}: a pipeline reads and writes exactly once with the credentials from WEIR_KAFKA_USERNAME / WEIR_KAFKA_PASSWORD; a wrong password is refused`,
      { timeout: 180_000 },
      async (t) => {
        const kafka = brokerOrSkip(broker, t);
        if (kafka === undefined) return;
        const sasl = kafka.sasl;
        if (sasl === undefined) {
          assert.notEqual(process.env.CI, 'true', `the ${kafka.provider} broker has no SASL listener`);
          t.skip(`the ${kafka.provider} broker has no SASL listener`);
          return;
        }
        const tag = randomBytes(4).toString('hex');
        const [input, output] = [`sasl-in-${tag}`, `sasl-out-${tag}`];
        await createTopic(kafka, input, 2);
        await createTopic(kafka, output, 1);
        const producer = kafkaClient(kafka, 'weir-sasl').producer({
          createPartitioner: Partitioners.DefaultPartitioner,
          // Idempotent: a retried send never duplicates test input.
          idempotent: true,
          maxInFlightRequests: 1,
        });
        await producer.connect();
        await producer.send({
          topic: input,
          messages: Array.from({ length: 500 }, (_, i) => ({ value: JSON.stringify({ id: `r${i}` }) })),
        });
        await producer.disconnect();

        process.env.WEIR_KAFKA_USERNAME = sasl.username;
        process.env.WEIR_KAFKA_PASSWORD = 'not-the-password';
        await assert.rejects(
          startJob(compilePipeline(copyPipeline(`sasl-bad-${tag}`, sasl.brokers, mechanism, input, output)).graph),
          /authentication failed|SASL/i,
        );

        process.env.WEIR_KAFKA_PASSWORD = sasl.password;
        const dir = await mkdtemp(join(tmpdir(), 'weir-sasl-'));
        const job = await startJob(
          compilePipeline(copyPipeline(`sasl-${tag}`, sasl.brokers, mechanism, input, output)).graph,
          { checkpoints: { dir, intervalMs: 200 } },
        );
        try {
          const seen = await readTopic(kafka, output, (n) => n >= 500, 60_000);
          assert.equal(seen.length, 500);
          assert.equal(new Set(seen.map((s) => (JSON.parse(s.value) as { id: string }).id)).size, 500);
        } finally {
          await job.cancel();
          await rm(dir, { recursive: true, force: true });
        }
      },
    );
  }
});
