// Runtime benchmarks: `npm run bench -w runtime-image` (or `make bench`).
//  1. throughput: generator → keyBy (100k keys) → tumbling window sum → discard, events/s on one core,
//     with events dense in event time (few windows fire) and 1 ms apart (a window per key per minute);
//  2. the longest event-loop stall while checkpointing 1M keys of state.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { discardSink } from '../src/connectors/console-sink.ts';
import type { SourceConnector } from '../src/connectors/contract.ts';
import { generatorSource, type AdEvent } from '../src/connectors/generator.ts';
import { count, sum } from '../src/graph/aggregates.ts';
import { PipelineBuilder, tumbling } from '../src/graph/builder.ts';
import { startJob } from '../src/runtime/executor.ts';

const EVENTS = Number(process.env.WEIR_BENCH_EVENTS ?? 4_000_000);
const STATE_KEYS = Number(process.env.WEIR_BENCH_STATE_KEYS ?? 1_000_000);

async function throughput(spacingMs: number, label: string): Promise<number> {
  const sink = discardSink<unknown>();
  const b = new PipelineBuilder('bench-throughput');
  b.source(
    'gen',
    generatorSource({
      seed: 1,
      keys: 100_000,
      eventsPerSplit: EVENTS,
      startTs: 0,
      eventSpacingMs: spacingMs,
    }),
    {
      watermarks: { maxOutOfOrdernessMs: 1000 },
    },
  )
    .keyBy((e: AdEvent) => e.campaign)
    .window(tumbling(60_000))
    .aggregate(sum((e: AdEvent) => e.amount))
    .sink(sink);
  const started = performance.now();
  const job = await startJob(b.build(), { batchSize: 4096 });
  const r = await job.done;
  const seconds = (performance.now() - started) / 1000;
  if (r.state !== 'finished') throw new Error(`throughput job ${r.state}: ${String(r.error)}`);
  const rate = EVENTS / seconds;
  console.log(
    `throughput (${label}): ${EVENTS.toLocaleString('en-US')} events, 100k keys, tumbling 1 min sum: ${Math.round(rate).toLocaleString('en-US')} events/s (${seconds.toFixed(2)} s, ${sink.count()} window results)`,
  );
  return rate;
}

/** One record per key, then silence: the job idles with STATE_KEYS windows (and timers) in state. */
function everyKeyOnce(n: number): SourceConnector<{ k: string }> {
  return {
    type: 'bench',
    open: () => {
      let next = 0;
      return Promise.resolve([
        {
          id: 'keys',
          poll: (max: number) => {
            const end = Math.min(n, next + max);
            const records = [];
            for (let i = next; i < end; i++) records.push({ value: { k: `key-${i}` }, ts: i % 1000 });
            next = end;
            return { records };
          },
          snapshot: () => next,
        },
      ]);
    },
  };
}

async function checkpointStall(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-bench-'));
  try {
    const b = new PipelineBuilder('bench-state');
    b.source('keys', everyKeyOnce(STATE_KEYS))
      .keyBy((e) => e.k)
      .window(tumbling(3_600_000))
      .aggregate(count())
      .sink(discardSink());
    const job = await startJob(b.build(), { checkpoints: { dir, retain: 1 }, batchSize: 8192 });
    while (job.metrics().recordsIn < STATE_KEYS) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    // probe: the longest gap between consecutive turns of the event loop while a checkpoint runs
    const measure = async (): Promise<{ gap: number; histMax: number; durationMs: number; bytes: number }> => {
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      const probing = { on: true };
      let maxGap = 0;
      const probe = (async () => {
        let last = performance.now();
        while (probing.on) {
          await yieldToLoop();
          const now = performance.now();
          maxGap = Math.max(maxGap, now - last);
          last = now;
        }
      })();
      histogram.enable();
      const cp = await job.triggerCheckpoint();
      histogram.disable();
      probing.on = false;
      await probe;
      return { gap: maxGap, histMax: histogram.max / 1e6, durationMs: cp.durationMs, bytes: cp.bytes };
    };
    // The first checkpoint runs right after a million keys were created, so it also pays for promoting them
    // out of the young generation; the second is the steady state of a job that has been running.
    const first = await measure();
    const second = await measure();
    await job.cancel();
    const keys = job.metrics().stateEntries.toLocaleString('en-US');
    for (const [label, m] of [
      ['first checkpoint (right after loading)', first],
      ['steady-state checkpoint', second],
    ] as const) {
      console.log(
        `${label} of ${keys} keys (+ as many timers): ${m.durationMs} ms, ${(m.bytes / 1048576).toFixed(1)} MiB; ` +
          `longest event-loop stall ${m.gap.toFixed(1)} ms (monitorEventLoopDelay max ${m.histMax.toFixed(1)} ms)`,
      );
    }
    const maxGap = second.gap;
    return maxGap;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Dense: 4M events within 8 s of event time, so almost no window fires (the engine's upper bound).
const rate = await throughput(
  Number(process.env.WEIR_BENCH_SPACING_MS ?? 0.002),
  'events 2 µs apart, few windows fire',
);
// Realistic: events 1 ms apart in event time, so every key's window fires every minute (window firing included).
await throughput(1, 'events 1 ms apart, a window per key fires every minute');
const stall = await checkpointStall();
console.log(
  `targets: >= 500,000 events/s on one core: ${rate >= 500_000 ? 'met' : 'NOT met'}; steady-state stall <= 50 ms: ${stall <= 50 ? 'met' : 'NOT met'}`,
);
