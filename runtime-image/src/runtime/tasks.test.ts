import assert from 'node:assert/strict';
import { test } from 'node:test';
import { discardSink } from '../connectors/console-sink.ts';
import { generatorSource, type AdEvent } from '../connectors/generator.ts';
import { count } from '../graph/aggregates.ts';
import { PipelineBuilder, tumbling } from '../graph/builder.ts';
import { testConnectorContext } from '../testing/contexts.ts';
import { TaskGraph } from './tasks.ts';

function tasksOf(parallelism: number): TaskGraph {
  const b = new PipelineBuilder('tasks');
  b.source('src', generatorSource({ seed: 1, eventsPerSplit: 10 }))
    .keyBy((e: AdEvent) => e.campaign, { id: 'key' })
    .window(tumbling(1000))
    .aggregate(count(), { id: 'win' })
    .sink(discardSink(), { id: 'out' });
  return new TaskGraph(b.build(), {
    parallelism,
    now: () => 0,
    counters: { lateDropped: 0, lateToSideOutput: 0 },
    connector: (operatorId) => testConnectorContext({ operatorId }),
    onSinkRecords: () => undefined,
  });
}

test('the barrier is a message: every task snapshots once, after the barrier came down all its inputs', async () => {
  const tasks = tasksOf(3);
  const order: string[] = [];
  await tasks.barrier(7, false, (t) => {
    order.push(`${t.node.node.id}#${t.index}`);
    return Promise.resolve();
  });
  assert.deepEqual(order.slice(0, 2), ['src#0', 'key#0']);
  assert.deepEqual(order.slice(2, 5).sort(), ['win#0', 'win#1', 'win#2']);
  // The sink has three inputs (one per window task): it snapshots only after the last of them.
  assert.deepEqual(order.slice(5), ['out#0']);
  // A second epoch aligns again from scratch.
  order.length = 0;
  await tasks.barrier(8, false, (t) => {
    order.push(t.node.node.id);
    return Promise.resolve();
  });
  assert.equal(order.length, 6);
});

test('watermarks are messages per channel: a task advances only when all its inputs did', async () => {
  const tasks = tasksOf(2);
  const src = tasks.nodes[0];
  const sink = tasks.nodes.at(-1)?.tasks[0];
  assert.ok(src !== undefined && sink !== undefined);
  await tasks.sourceWatermark(src, 5000);
  // key → both window tasks → the sink's two channels: all advanced, so the sink did too.
  assert.equal(sink.wm, 5000);
  const win = tasks.nodes[2]?.tasks[0];
  assert.ok(win !== undefined);
  // One window input channel alone cannot move the sink: its other channel still says 5000.
  await tasks.send(sink, { kind: 'watermark', ts: 9000 }, 0);
  assert.equal(sink.wm, 5000);
  await tasks.send(sink, { kind: 'watermark', ts: 8000 }, 1);
  assert.equal(sink.wm, 8000);
});
