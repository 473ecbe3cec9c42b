import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Json, SinkConnector } from '../connectors/contract.ts';
import { PipelineBuilder } from '../graph/builder.ts';
import { collectionSource } from '../testing/collections.ts';
import { startJob } from './executor.ts';

test('per-operator counters and backpressure: the time a slow sink kept its input waiting', async () => {
  const records = Array.from({ length: 40 }, (_, i) => ({ value: { n: i }, ts: 1_000 + i }));
  // Each write takes 10 ms in flight, as a sink whose sends the broker answers slowly.
  const slow: SinkConnector<unknown> = {
    type: 'slow',
    open: () => Promise.resolve(),
    write: () => new Promise((r) => setTimeout(r, 10)),
    preCommit: (): Promise<Json> => Promise.resolve(null),
    commit: () => Promise.resolve(),
    abort: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const b = new PipelineBuilder('stats');
  b.source('in', collectionSource([{ id: 's', records }], { perPoll: 4 }))
    .map((e: { n: number }) => ({ n: e.n * 2 }), { id: 'double' })
    .sink(slow, { id: 'out' });
  const job = await startJob(b.build());
  assert.equal((await job.done).state, 'finished');
  const ops = new Map(job.operators().map((o) => [o.operatorId, o]));
  assert.deepEqual(
    [...ops.values()].map((o) => [o.operatorId, o.recordsIn, o.recordsOut]),
    [
      ['in', 40, 40],
      ['double', 40, 40],
      ['out', 40, 0],
    ],
  );
  // 10 batches of 4, each waiting ~10 ms on the sink: the sink, and whatever feeds it, waited.
  assert.ok((ops.get('out')?.blockedMs ?? 0) >= 50, `out blocked ${ops.get('out')?.blockedMs} ms`);
  // Backpressure propagates: the source's emit waited as long.
  assert.ok((ops.get('in')?.blockedMs ?? 0) >= 50, `in blocked ${ops.get('in')?.blockedMs} ms`);
});
