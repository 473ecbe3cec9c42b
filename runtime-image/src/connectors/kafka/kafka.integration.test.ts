// The Kafka connectors against the real broker (e2e/infra/kafka.sh; fails under CI=true when it cannot start).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createTopic,
  kafkaClient,
  kafkaForTests,
  listTransactions,
  waitFor,
  type Availability,
  type KafkaBroker,
} from '@weir/e2e';
import { KafkajsPort } from './kafkajs.ts';
import { KafkaWriteScope, transactionalIdFor } from './transactions.ts';
import { Partitioners } from 'kafkajs';
import { compilePipeline } from '../../pipeline/compile.ts';
import { startJob } from '../../runtime/executor.ts';

import { BASE_TS, expectedWindows, lcg, readTopic, type Ad, brokerOrSkip } from '../../testing/kafka.ts';

const child = fileURLToPath(new URL('../../testing/kafka-crash-child.ts', import.meta.url));

function pipelineFor(
  brokers: readonly string[],
  input: string,
  output: string,
  dlq: string,
  intervalMs: number,
): object {
  return {
    name: 'kafka-eos-test',
    parallelism: 2,
    maxParallelism: 32,
    checkpoints: { interval: intervalMs },
    source: {
      id: 'ads',
      kafka: { topic: input, bootstrapServers: brokers, deadLetterTopic: dlq },
      timestamp: 'e.ts',
      watermarks: { maxOutOfOrderness: '200ms' },
    },
    steps: [
      // Fails (goes to the dead letters) for an amount that is not a number.
      { id: 'normalize', map: '{"id": e.id, "campaign": e.campaign, "amount": e.amount + 0.0, "ts": e.ts}' },
      { id: 'by-campaign', keyBy: 'e.campaign' },
      {
        id: 'per-second',
        window: { tumbling: '1s', aggregate: { count: { count: true }, revenue: { sum: 'e.amount' } } },
      },
      { id: 'out', sink: { kafka: { topic: output, bootstrapServers: brokers, transactionTimeout: '60s' } } },
    ],
  };
}

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly started: boolean;
  /** The child killed itself at its fault point (it says so first). */
  readonly faulted: boolean;
}

function runChild(
  dir: string,
  pipeline: object,
  env: Record<string, string>,
  killAfterStartMs: number | undefined,
  hardMs: number,
): Promise<ChildRun> {
  return startChild(dir, pipeline, env, killAfterStartMs, hardMs).done;
}

function startChild(
  dir: string,
  pipeline: object,
  env: Record<string, string>,
  killAfterStartMs: number | undefined,
  hardMs: number,
): { done: Promise<ChildRun>; kill: () => void } {
  let kill = (): void => undefined;
  const done = new Promise<ChildRun>((resolve, reject) => {
    const p = spawn(process.execPath, ['--conditions=source', child], {
      env: { ...process.env, WEIR_CRASH_DIR: dir, WEIR_PIPELINE: JSON.stringify(pipeline), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let started = false;
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    const hard = setTimeout(() => p.kill('SIGKILL'), hardMs);
    p.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!started && d.toString().includes('started')) {
        started = true;
        if (killAfterStartMs !== undefined) timer = setTimeout(() => p.kill('SIGKILL'), killAfterStartMs);
      }
    });
    kill = () => p.kill('SIGKILL');
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ code, signal, stderr, started, faulted: /^fault /m.test(out) });
    });
  });
  return {
    done,
    kill: () => {
      kill();
    },
  };
}

describe('Kafka connectors (real broker)', () => {
  let broker: Availability<KafkaBroker>;

  before(async () => {
    broker = await kafkaForTests();
  });

  after(async () => {
    if (broker.available) await broker.component.stop();
  });

  it(
    'exactly once: SIGKILLed 30+ times (10+ at the dangerous points), the committed output is every expected window exactly once, and every malformed record is dead-lettered once',
    { timeout: 900_000 },
    async (t) => {
      const kafka = brokerOrSkip(broker, t);
      if (kafka === undefined) return;
      const tag = randomBytes(4).toString('hex');
      const [input, output, dlq] = [`eos-in-${tag}`, `eos-out-${tag}`, `eos-dlq-${tag}`];
      await createTopic(kafka, input, 3);
      await createTopic(kafka, output, 2);
      await createTopic(kafka, dlq, 1);
      const producer = kafkaClient(kafka, 'weir-eos-input').producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        // Idempotent: a retried send never duplicates test input.
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      const base = await mkdtemp(join(tmpdir(), 'weir-kafka-eos-'));
      const rand = lcg(9);
      const ads: Ad[] = [];
      let malformed = 0;
      let failing = 0;
      // Input arrives throughout: a chunk before every run, so kills land while data flows.
      const produceChunk = async (chunk: number, n: number): Promise<void> => {
        const messages: { key: string; value: string; partition: number }[] = [];
        for (let i = 0; i < n; i++) {
          const seq = ads.length;
          const ad: Ad = {
            id: `ad-${seq}`,
            campaign: `c${Math.floor(rand() * 25)}`,
            amount: Math.floor(rand() * 1000),
            ts: BASE_TS + seq * 4 + Math.floor(rand() * 100),
          };
          ads.push(ad);
          messages.push({ key: ad.id, value: JSON.stringify(ad), partition: seq % 3 });
          if (i % 500 === 250) {
            malformed++;
            messages.push({ key: `bad-${chunk}-${i}`, value: `{"not json ${i}`, partition: i % 3 });
          }
          if (i % 750 === 100) {
            // valid JSON that fails later: in an expression (amount), or without an event time
            failing += 2;
            const id = `fail-${chunk}-${i}`;
            messages.push({
              key: `${id}-a`,
              value: JSON.stringify({ ...ad, id: `${id}-a`, amount: 'oops' }),
              partition: i % 3,
            });
            messages.push({
              key: `${id}-t`,
              value: JSON.stringify({ id: `${id}-t`, campaign: ad.campaign, amount: 1 }),
              partition: (i + 1) % 3,
            });
          }
        }
        await producer.send({ topic: input, messages });
      };
      try {
        const pipeline = pipelineFor(kafka.brokers, input, output, dlq, 150);
        const dir = join(base, 'work');
        const kills: Record<string, number> = {};
        const dangerous = ['manifest-written', 'committed', 'sinks-recovered', 'state-loaded'];
        let runs = 0;
        for (let chunk = 0; chunk < 36; chunk++) {
          await produceChunk(chunk, 1500);
          // Every third run dies at a dangerous point; the others at a random moment.
          const phase = chunk % 3 === 0 ? dangerous[(chunk / 3) % dangerous.length] : undefined;
          const env: Record<string, string> =
            phase === undefined
              ? {}
              : { WEIR_FAULT_CRASH_PHASE: phase, WEIR_FAULT_CRASH_AT_CHECKPOINT: String(1 + (chunk % 2)) };
          const killAfter = phase === undefined ? 300 + Math.floor(rand() * 1500) : 20_000;
          const r = await runChild(dir, pipeline, env, killAfter, 60_000);
          runs++;
          assert.equal(r.signal, 'SIGKILL', `run ${runs} ended without a kill (${String(r.code)}): ${r.stderr}`);
          if (phase !== undefined)
            assert.ok(r.faulted, `run ${runs} did not reach its fault point ${phase}: ${r.stderr}`);
          const key = phase ?? 'random';
          kills[key] = (kills[key] ?? 0) + 1;
        }
        // The sentinel: one record per partition far ahead in event time, so that every data window fires.
        await producer.send({
          topic: input,
          messages: [0, 1, 2].map((p) => ({
            key: `end-${p}`,
            value: JSON.stringify({ id: `end-${p}`, campaign: 'zz-end', amount: 0, ts: BASE_TS + 10_000_000 }),
            partition: p,
          })),
        });
        const expected = expectedWindows(ads);
        const last = startChild(dir, pipeline, {}, undefined, 240_000);
        let seen: Awaited<ReturnType<typeof readTopic>>;
        let dead: Awaited<ReturnType<typeof readTopic>>;
        try {
          seen = await readTopic(kafka, output, (n) => n >= expected.size, 180_000);
          dead = await readTopic(kafka, dlq, (n) => n >= malformed + failing, 60_000);
        } finally {
          last.kill();
        }
        const final = await last.done;
        assert.equal(final.signal, 'SIGKILL', `the final run ended by itself: ${final.stderr}`);
        const counts = new Map<string, number>();
        const wrong: string[] = [];
        for (const s of seen) {
          const v = JSON.parse(s.value) as { id: string; value: { count: number; revenue: number }; revision: number };
          counts.set(v.id, (counts.get(v.id) ?? 0) + 1);
          const e = expected.get(v.id);
          if (e === undefined) wrong.push(`unexpected ${v.id}`);
          else if (e.count !== v.value.count || e.revenue !== v.value.revenue)
            wrong.push(`${v.id}: ${JSON.stringify(v.value)} != ${JSON.stringify(e)}`);
          if (s.key !== v.id) wrong.push(`${v.id} has key ${String(s.key)}`);
        }
        const missing = [...expected.keys()].filter((k) => !counts.has(k));
        const duplicated = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
        t.diagnostic(
          `${runs} kills ${JSON.stringify(kills)}; ${ads.length} records, ${malformed} malformed, ${failing} failing; ${expected.size} windows expected, ${seen.length} committed; ${missing.length} missing, ${duplicated.length} duplicated`,
        );
        assert.deepEqual(
          { missing: missing.slice(0, 5), duplicated: duplicated.slice(0, 5), wrong: wrong.slice(0, 5) },
          { missing: [], duplicated: [], wrong: [] },
        );
        assert.equal(seen.length, expected.size);
        assert.ok(
          runs >= 30 &&
            Object.entries(kills)
              .filter(([k]) => k !== 'random')
              .reduce((a, [, n]) => a + n, 0) >= 10,
        );
        // Dead letters: exactly the malformed and failing records, once each, with the error, the operator and the origin in headers.
        assert.equal(
          dead.length,
          malformed + failing,
          `dead letters: ${dead.length} for ${malformed} malformed and ${failing} failing records`,
        );
        // Undecodable records keep their raw key; the others carry the failing value (with its id) as JSON.
        const identity = (d: (typeof dead)[number]): string => d.key ?? (JSON.parse(d.value) as { id: string }).id;
        const byOperator = new Map<string, number>();
        for (const d of dead) {
          const op = d.headers['weir.operator'] ?? '?';
          byOperator.set(op, (byOperator.get(op) ?? 0) + 1);
          assert.equal(d.headers['weir.origin.topic'], input);
          assert.match(d.headers['weir.origin.offset'] ?? '', /^\d+$/);
          const id = identity(d);
          const kind = id.startsWith('bad-') ? /not JSON/ : id.endsWith('-t') ? /no event time/ : /no such overload|.+/;
          assert.match(d.headers['weir.error'] ?? '', kind, `${id}: ${d.headers['weir.error'] ?? ''}`);
        }
        assert.equal(new Set(dead.map(identity)).size, malformed + failing, 'each dead letter once');
        assert.deepEqual(Object.fromEntries(byOperator), { ads: malformed + failing / 2, normalize: failing / 2 });
      } finally {
        await producer.disconnect();
        await rm(base, { recursive: true, force: true });
      }
    },
  );

  it('refuses to start when transactionTimeout is above the broker maximum or too short for the checkpoint interval, naming the settings', async (t) => {
    const kafka = brokerOrSkip(broker, t);
    if (kafka === undefined) return;
    const tag = randomBytes(4).toString('hex');
    await createTopic(kafka, `tto-in-${tag}`, 1);
    await createTopic(kafka, `tto-out-${tag}`, 1);
    const base = (timeout: string, interval: string): object => ({
      name: 'tto',
      checkpoints: { interval },
      source: { id: 'in', kafka: { topic: `tto-in-${tag}`, bootstrapServers: kafka.brokers } },
      steps: [
        {
          id: 'out',
          sink: { kafka: { topic: `tto-out-${tag}`, bootstrapServers: kafka.brokers, transactionTimeout: timeout } },
        },
      ],
    });
    await assert.rejects(
      startJob(compilePipeline(base('1h', '10s')).graph),
      /transactionTimeout \(3600000 ms\) is above the brokers' transaction.max.timeout.ms \(900000 ms\)/,
    );
    await assert.rejects(
      startJob(compilePipeline(base('20s', '10s')).graph, {
        checkpoints: { dir: join(tmpdir(), `tto-${tag}`), intervalMs: 10_000 },
      }),
      /transactionTimeout \(20000 ms\) must be at least 3 × checkpoints.interval \(10000 ms\)/,
    );
  });

  it('a downscale from 3 workers to 2 leaves no open transaction: each survivor fences its own id and the removed ones', async (t) => {
    const kafka = brokerOrSkip(broker, t);
    if (kafka === undefined) return;
    const job = `downscale-${randomBytes(4).toString('hex')}`;
    const topic = `${job}-out`;
    await createTopic(kafka, topic, 2);
    const port = new KafkajsPort({ brokers: [...kafka.brokers] });
    try {
      // Three workers crashed mid-epoch: each left a transaction open with records in it.
      for (let w = 0; w < 3; w++) {
        const zombie = await port.transactionalWriter({
          transactionalId: transactionalIdFor(job, w),
          transactionTimeoutMs: 600_000,
        });
        await zombie.send([{ topic, key: `w${w}`, value: `uncommitted from worker ${w}` }]);
      }
      const ours = async (): Promise<Record<string, string>> =>
        Object.fromEntries(
          (await listTransactions(kafka))
            .filter((x) => x.transactionalId.startsWith(`weir.${job}.`))
            .map((x) => [x.transactionalId, x.state]),
        );
      assert.deepEqual(await ours(), {
        [`weir.${job}.w0`]: 'Ongoing',
        [`weir.${job}.w1`]: 'Ongoing',
        [`weir.${job}.w2`]: 'Ongoing',
      });
      // The job restarts at 2 workers from a snapshot of 3: every survivor recovers.
      for (let w = 0; w < 2; w++) {
        const scope = new KafkaWriteScope(() => Promise.resolve(port), {
          exactlyOnce: true,
          transactionTimeoutMs: 60_000,
        });
        scope.join('out', topic);
        await scope.recover(job, w, 2, 3);
      }
      const after = await waitFor(
        async () => {
          const states = await ours();
          if (Object.values(states).some((s) => s === 'Ongoing' || s === 'PrepareAbort'))
            throw new Error(JSON.stringify(states));
          return states;
        },
        30_000,
        500,
      );
      assert.deepEqual(
        Object.keys(after).sort(),
        [0, 1, 2].map((w) => `weir.${job}.w${w}`),
      );
      assert.ok(
        // Aborted, then re-initialised by a survivor (Empty) or left aborted (CompleteAbort): nothing open.
        Object.values(after).every((s) => s === 'CompleteAbort' || s === 'Empty'),
        JSON.stringify(after),
      );
      // And a read_committed reader sees none of it.
      const producer = kafkaClient(kafka, 'weir-downscale-end').producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        // Idempotent: a retried send never duplicates test input.
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      await producer.send({
        topic,
        messages: [
          { key: 'end', value: 'end', partition: 0 },
          { key: 'end', value: 'end', partition: 1 },
        ],
      });
      await producer.disconnect();
      const seen = await readTopic(kafka, topic, (n) => n >= 2, 30_000);
      assert.deepEqual(
        seen.map((r) => r.value),
        ['end', 'end'],
      );
    } finally {
      await port.close();
    }
  });
});
