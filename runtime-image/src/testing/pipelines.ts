import { transactionalFileSink } from '../connectors/file-sink.ts';
import { generatorSource, type AdEvent } from '../connectors/generator.ts';
import type { SinkConnector } from '../connectors/contract.ts';
import { composite, count, sum } from '../graph/aggregates.ts';
import { PipelineBuilder, tumbling } from '../graph/builder.ts';
import type { Graph } from '../graph/graph.ts';

export interface RevenueTestOptions {
  readonly ratePerSecond?: number | undefined;
  readonly eventsPerSplit: number;
  readonly sink: SinkConnector<unknown>;
}

/**
 * Revenue per campaign per second from two generator splits, plus a keyed process function
 * with state and timers (running totals per campaign): the recovery and rescale tests' pipeline.
 * No event is late (skew < out-of-orderness bound), so results do not depend on batch timing.
 */
export function revenueTestGraph(o: RevenueTestOptions): Graph {
  const b = new PipelineBuilder('revenue-test', { maxParallelism: 32 });
  const windows = b
    .source(
      'ads',
      generatorSource({
        seed: 7,
        splits: 2,
        keys: 40,
        eventsPerSplit: o.eventsPerSplit,
        startTs: 1_700_000_000_000,
        eventSpacingMs: 2,
        skewMs: 50,
        ratePerSecond: o.ratePerSecond,
      }),
      {
        watermarks: { maxOutOfOrdernessMs: 100 },
      },
    )
    .keyBy((e: AdEvent) => e.campaign, { id: 'by-campaign' })
    .window(tumbling(1000))
    .aggregate(
      composite<AdEvent>({
        events: count(),
        revenue: sum((e) => e.amount),
        clicks: sum((e) => (e.type === 'click' ? 1 : 0)),
      }),
      { id: 'revenue-per-second' },
    );
  windows
    .keyBy((r) => r.key, { id: 'by-campaign-2' })
    .process<{ campaign: string; upTo: number; total: number }>(
      {
        // Deterministic in event time: a timer adds exactly the windows that ended 2 s before it.
        state: { total: { kind: 'value' }, pending: { kind: 'map' } },
        processElement(r, ctx) {
          ctx.map<number>('pending').set(String(r.end), r.value.revenue as number);
          ctx.registerEventTimer(r.end + 1999);
        },
        onTimer(ts, _d, ctx) {
          const pending = ctx.map<number>('pending');
          let add = 0;
          for (const [end, revenue] of pending.entries()) {
            if (Number(end) + 1999 <= ts) {
              add += revenue;
              pending.delete(end);
            }
          }
          const total = (ctx.value<number>('total').get() ?? 0) + add;
          ctx.value<number>('total').set(total);
          ctx.collect({ campaign: ctx.key, upTo: ts, total });
        },
      },
      { id: 'running-total' },
    )
    .sink(o.sink, { id: 'totals-sink' });
  windows.sink(o.sink, { id: 'windows-sink' });
  return b.build();
}

export function fileSinkFor(dir: string): SinkConnector<unknown> {
  return transactionalFileSink({ dir });
}
