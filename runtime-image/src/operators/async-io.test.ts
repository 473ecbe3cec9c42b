import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { PipelineBuilder, tumbling } from '../graph/builder.ts';
import { startJob } from '../runtime/executor.ts';
import { collectingSink, collectionSource } from '../testing/collections.ts';
import { RateLimit, backoffDelay } from './async-io.ts';
import type { WindowResult } from './window.ts';

const input = (n: number) => [{ id: 's', records: Array.from({ length: n }, (_, i) => ({ value: i, ts: i })) }];

async function runAsync(
  n: number,
  fn: (v: number, signal: AbortSignal) => Promise<number | undefined>,
  options: Parameters<ReturnType<PipelineBuilder['source']>['asyncMap']>[1],
): Promise<{ out: number[]; errors: unknown[] }> {
  const out = collectingSink<number>();
  const errors = collectingSink<unknown>();
  const b = new PipelineBuilder('async');
  const s = b.source('src', collectionSource(input(n))).asyncMap(fn, options, { id: 'call' });
  s.sink(out, { id: 'out' });
  s.sideOutput('errors').sink(errors, { id: 'errors' });
  const r = await (await startJob(b.build())).done;
  assert.equal(r.state, 'finished', String(r.error));
  return { out: out.committed, errors: errors.committed };
}

test('ordered: results in input order; capacity bounds the calls in flight', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const { out } = await runAsync(
    60,
    async (v) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await delay((v * 7) % 5);
      inFlight--;
      return v * 10;
    },
    { capacity: 4, timeoutMs: 1000 },
  );
  assert.deepEqual(
    out,
    Array.from({ length: 60 }, (_, i) => i * 10),
  );
  assert.equal(maxInFlight, 4);
});

test('unordered: results as they complete', async () => {
  const { out } = await runAsync(6, async (v) => (await delay(v % 2 === 0 ? 30 : 1), v), {
    capacity: 6,
    timeoutMs: 1000,
    ordered: false,
  });
  assert.deepEqual([...out].sort(), [0, 1, 2, 3, 4, 5]);
  assert.notDeepEqual(out, [0, 1, 2, 3, 4, 5], 'odd values (fast) overtake even ones');
});

test('retries with backoff, then timeouts go to the errors port', async () => {
  const attempts = new Map<number, number>();
  const { out, errors } = await runAsync(
    3,
    async (v, signal) => {
      const a = (attempts.get(v) ?? 0) + 1;
      attempts.set(v, a);
      if (v === 1 && a < 3) throw new Error('flaky');
      if (v === 2) {
        await delay(10_000, undefined, { signal }).catch(() => undefined);
        return undefined;
      }
      return v;
    },
    { capacity: 2, timeoutMs: 20, retries: 2, backoffMs: 1, onError: 'side' },
  );
  assert.deepEqual(out, [0, 1]);
  assert.equal(attempts.get(1), 3);
  assert.equal(attempts.get(2), 3);
  assert.deepEqual(errors, [{ value: 2, error: 'async call timed out after 20 ms' }]);
});

test('a call failing after its retries fails the job by default', async () => {
  const b = new PipelineBuilder('async');
  b.source('src', collectionSource(input(1)))
    .asyncMap(() => Promise.reject(new Error('down')), { capacity: 1, timeoutMs: 100 })
    .sink(collectingSink());
  const r = await (await startJob(b.build())).done;
  assert.equal(r.state, 'failed');
  assert.match(r.error?.message ?? '', /async I\/O operator '.*' failed after 1 attempts/);
});

test('backoff doubles up to the cap; the rate limit spaces calls', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((a) => backoffDelay(a, 100, 500)),
    [100, 200, 400, 500, 500],
  );
  const r = new RateLimit(10, 0); // 10/s: burst of 1
  assert.equal(r.tryAcquire(0), 0);
  assert.equal(r.tryAcquire(0), 100);
  assert.equal(r.tryAcquire(50), 50);
  assert.equal(r.tryAcquire(100), 0);
});

test('async results are not late: the operator holds the watermark behind calls in flight', async () => {
  const out = collectingSink<WindowResult<number>>();
  const b = new PipelineBuilder('async-wm');
  b.source(
    'src',
    collectionSource(
      [{ id: 's', records: Array.from({ length: 100 }, (_, i) => ({ value: { k: 'a', i }, ts: i * 10 })) }],
      { perPoll: 5 },
    ),
  )
    .asyncMap(async (v: { k: string; i: number }) => (await delay(v.i % 3), v), {
      capacity: 10,
      timeoutMs: 1000,
      ordered: false,
    })
    .keyBy((v) => v.k)
    .window(tumbling(100))
    .count()
    .sink(out);
  const job = await startJob(b.build());
  await job.done;
  assert.equal(job.metrics().lateDropped, 0);
  assert.equal(
    out.committed.reduce((a, r) => a + r.value, 0),
    100,
  );
});
