// A pipeline written with the dataflow API: the module's default export builds the graph. The
// runtime calls it once per start of the job (connectors are single-use), with the app's
// spec.config and Kafka settings.
import {
  PipelineBuilder,
  composite,
  consoleSink,
  count,
  generatorSource,
  sum,
  tumbling,
  type AdEvent,
  type EntrypointContext,
  type Graph,
} from '@weir/runtime';

export default function clicks(ctx: EntrypointContext): Graph {
  const rate = Number(ctx.config.ratePerSecond ?? 1000);
  const b = new PipelineBuilder('clicks', { maxParallelism: 128 });
  b.source('ads', generatorSource({ seed: 1, keys: 8, ratePerSecond: rate }), {
    watermarks: { maxOutOfOrdernessMs: 2000 },
  })
    .keyBy((e: AdEvent) => e.campaign, { id: 'by-campaign' })
    .window(tumbling(10_000))
    .aggregate(composite<AdEvent>({ events: count(), clicks: sum((e) => (e.type === 'click' ? 1 : 0)) }), {
      id: 'per-10s',
    })
    .sink(consoleSink(), { id: 'console' });
  return b.build();
}
