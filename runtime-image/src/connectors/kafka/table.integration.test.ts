// Tables against the real broker: a compacted topic as keyed rows, joined to a stream, across updates, deletes and a restore.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTopic, kafkaClient, kafkaForTests, waitFor, type Availability, type KafkaBroker } from '@weir/e2e';
import { Partitioners, type Producer } from 'kafkajs';
import { compilePipeline } from '../../pipeline/compile.ts';
import { startJob, type Job } from '../../runtime/executor.ts';
import { readTopic, brokerOrSkip } from '../../testing/kafka.ts';

interface Enriched {
  id: string;
  campaign: string;
  info: { name: string } | null;
}

describe('tables (real broker)', () => {
  let broker: Availability<KafkaBroker>;
  let base: string;

  before(async () => {
    broker = await kafkaForTests();
    base = await mkdtemp(join(tmpdir(), 'weir-table-'));
  });

  after(async () => {
    await rm(base, { recursive: true, force: true });
    if (broker.available) await broker.component.stop();
  });

  it(
    'a lookup join sees the current row: after updates and deletes, and across a restore',
    { timeout: 240_000 },
    async (t) => {
      const kafka = brokerOrSkip(broker, t);
      if (kafka === undefined) return;
      const tag = randomBytes(4).toString('hex');
      const [stream, table, output] = [`tbl-ads-${tag}`, `tbl-campaigns-${tag}`, `tbl-out-${tag}`];
      await createTopic(kafka, stream, 2);
      await createTopic(kafka, table, 2);
      await createTopic(kafka, output, 1);
      const producer: Producer = kafkaClient(kafka, 'weir-table').producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        // Idempotent: a retried send never duplicates test input.
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      const row = (campaign: string, name: string | null): Promise<unknown> =>
        producer.send({
          topic: table,
          messages: [{ key: campaign, value: name === null ? null : JSON.stringify({ name }) }],
        });
      const ads = (prefix: string, n: number): Promise<unknown> =>
        producer.send({
          topic: stream,
          messages: Array.from({ length: n }, (_, i) => ({
            value: JSON.stringify({ id: `${prefix}${i}`, campaign: `c${i % 4}` }),
            partition: i % 2,
          })),
        });
      const checkpoints = join(base, 'chk');
      const pipeline = compilePipeline.bind(undefined, {
        name: `tables-${tag}`,
        checkpoints: { interval: '200ms' },
        source: { id: 'ads', kafka: { topic: stream, bootstrapServers: kafka.brokers } },
        tables: [{ id: 'campaigns', kafka: { topic: table, bootstrapServers: kafka.brokers } }],
        steps: [
          { id: 'enrich', lookup: { table: 'campaigns', key: 'e.campaign', as: 'info' } },
          { id: 'out', sink: { kafka: { topic: output, bootstrapServers: kafka.brokers, transactionTimeout: '30s' } } },
        ],
      });
      const run = async (restore: boolean): Promise<Job> =>
        startJob(pipeline().graph, {
          checkpoints: { dir: checkpoints, intervalMs: 200 },
          restoreFrom: restore ? checkpoints : undefined,
        });
      const outputs = async (n: number): Promise<Map<string, Enriched>> => {
        const seen = await readTopic(kafka, output, (k) => k >= n, 60_000);
        const byId = new Map(seen.map((s) => JSON.parse(s.value) as Enriched).map((e) => [e.id, e]));
        assert.equal(byId.size, seen.length, 'no record twice');
        return byId;
      };
      const names = (all: Map<string, Enriched>, prefix: string): Record<string, string | null> => {
        const out: Record<string, string | null> = {};
        for (const e of all.values()) if (e.id.startsWith(prefix)) out[e.campaign] = e.info?.name ?? null;
        return out;
      };
      try {
        for (let c = 0; c < 4; c++) await row(`c${c}`, `campaign ${c} v1`);
        let job = await run(false);
        // The table is loaded before the first record: every campaign has its row.
        await ads('a', 40);
        let all = await outputs(40);
        assert.deepEqual(names(all, 'a'), {
          c0: 'campaign 0 v1',
          c1: 'campaign 1 v1',
          c2: 'campaign 2 v1',
          c3: 'campaign 3 v1',
        });
        // An update and a delete; probes show when the job has applied them (poll, no sleeps).
        await row('c1', 'campaign 1 v2');
        await row('c2', null);
        let probes = 0;
        await waitFor(
          async () => {
            await producer.send({
              topic: stream,
              messages: [{ value: JSON.stringify({ id: `p${probes++}`, campaign: 'c2' }) }],
            });
            const got = await outputs(40 + probes);
            if ([...got.values()].some((e) => e.id.startsWith('p') && e.info === null)) return;
            throw new Error('the delete is not applied yet');
          },
          60_000,
          200,
        );
        await ads('b', 40);
        all = await outputs(80 + probes);
        assert.deepEqual(names(all, 'b'), { c0: 'campaign 0 v1', c1: 'campaign 1 v2', c2: null, c3: 'campaign 3 v1' });
        // Stop with a final checkpoint; the table changes while the job is down; the restored job has both.
        assert.equal((await job.stop()).state, 'stopped');
        await row('c3', 'campaign 3 v3');
        job = await run(true);
        await ads('r', 40);
        all = await outputs(120 + probes);
        assert.deepEqual(names(all, 'r'), { c0: 'campaign 0 v1', c1: 'campaign 1 v2', c2: null, c3: 'campaign 3 v3' });
        assert.equal(all.size, 120 + probes, 'every record once');
        await job.cancel();
      } finally {
        await producer.disconnect();
      }
    },
  );
});
