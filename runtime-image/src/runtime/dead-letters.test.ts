import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeadLetter, DeadLetterWriter } from '../connectors/contract.ts';
import { sum } from '../graph/aggregates.ts';
import { PipelineBuilder, tumbling } from '../graph/builder.ts';
import { collectingSink, collectionSource } from '../testing/collections.ts';
import { startJob } from './executor.ts';

interface Sale {
  readonly k: string;
  readonly amount: unknown;
}

function collectingDeadLetters(): DeadLetterWriter & { readonly letters: DeadLetter[] } {
  const letters: DeadLetter[] = [];
  return { letters, write: (d) => letters.push(d), count: () => letters.length };
}

const records: { value: Sale; ts: number }[] = [
  { value: { k: 'a', amount: 5 }, ts: 100 },
  { value: { k: 'a', amount: 'oops' }, ts: 200 },
  { value: { k: 'b', amount: 7 }, ts: 300 },
  { value: { k: 'b', amount: -1 }, ts: 400 },
  { value: { k: 'a', amount: 1 }, ts: 500 },
];

test('records that fail in a window aggregate or in a process function go to the dead letters; the rest is exact', async () => {
  const dead = collectingDeadLetters();
  const windows = collectingSink<unknown>();
  const checked = collectingSink<unknown>();
  const b = new PipelineBuilder('dead-letters');
  const keyed = b.source('in', collectionSource([{ id: 's', records }])).keyBy((e: Sale) => e.k, { id: 'by-k' });
  keyed
    .window(tumbling(1000))
    .aggregate(
      sum((e: Sale) => {
        if (typeof e.amount !== 'number') throw new TypeError(`amount ${JSON.stringify(e.amount)} is not a number`);
        return e.amount;
      }),
      { id: 'totals' },
    )
    .sink(windows, { id: 'windows' });
  keyed
    .process<{ k: string; amount: number }>(
      {
        state: {},
        processElement(e, ctx) {
          if (typeof e.amount === 'number' && e.amount < 0) throw new RangeError('negative amount');
          ctx.collect({ k: e.k, amount: Number(e.amount) });
        },
      },
      { id: 'check' },
    )
    .sink(checked, { id: 'checked' });
  const graph = { ...b.build(), deadLetters: dead };
  const job = await startJob(graph);
  assert.equal((await job.done).state, 'finished');
  assert.deepEqual(dead.letters.map((d) => `${d.operatorId}: ${d.error}`).sort(), [
    'check: negative amount',
    'totals: amount "oops" is not a number',
  ]);
  assert.deepEqual(dead.letters.map((d) => [d.operatorId, (d.value as Sale).amount]).sort(), [
    ['check', -1],
    ['totals', 'oops'],
  ]);
  // Windows without the rejected record: a = 5 + 1, b = 7 + (-1).
  assert.deepEqual(windows.committed.map((w) => [(w as { key: string }).key, (w as { value: number }).value]).sort(), [
    ['a', 6],
    ['b', 6],
  ]);
  assert.equal(checked.committed.length, 4, 'the process function emitted for every record but the failing one');
  assert.equal(job.metrics().deadLetters, 2);
});
