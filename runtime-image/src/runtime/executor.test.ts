import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { latestCheckpoint } from '../snapshot/format.ts';
import { count, sum, composite } from '../graph/aggregates.ts';
import { PipelineBuilder, session, sliding, tumbling } from '../graph/builder.ts';
import type { WindowResult } from '../operators/window.ts';
import { collectingSink, collectionSource, type TestSplit } from '../testing/collections.ts';
import { startJob, type Job } from './executor.ts';

interface Ev {
  k: string;
  v: number;
  ts: number;
}
const ev = (k: string, ts: number, v = 1): { value: Ev; ts: number } => ({ value: { k, v, ts }, ts });

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

type Row = [string, number, number, number];
const rows = (rs: readonly WindowResult<number>[]): Row[] =>
  rs
    .map((r): Row => [r.key, r.start, r.value, r.revision])
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1] || a[3] - b[3]);

// a@25 moves the watermark to 19: window [0,10) fires; a@4 then arrives behind it.
const outOfOrder: TestSplit<Ev>[] = [
  {
    id: 's',
    records: [ev('a', 1), ev('a', 3), ev('b', 2), ev('a', 12), ev('a', 8), ev('a', 25), ev('a', 4), ev('a', 40)],
  },
];

test('tumbling window: exact results with out-of-order data; late data dropped and counted', async () => {
  const b = new PipelineBuilder('t');
  const out = collectingSink<WindowResult<number>>();
  b.source('src', collectionSource(outOfOrder, { perPoll: 1 }), { watermarks: { maxOutOfOrdernessMs: 5 } })
    .keyBy((e) => e.k)
    .window(tumbling(10))
    .aggregate(count<Ev>(), { id: 'counts' })
    .sink(out);
  const job = await startJob(b.build());
  const r = await job.done;
  assert.equal(r.state, 'finished');
  assert.deepEqual(rows(out.committed), [
    ['a', 0, 3, 0],
    ['a', 10, 1, 0],
    ['a', 20, 1, 0],
    ['a', 40, 1, 0],
    ['b', 0, 1, 0],
  ]);
  assert.equal(job.metrics().lateDropped, 1);
  assert.equal(out.committed.find((x) => x.key === 'a' && x.start === 0)?.id, 'a@0');
});

test('late data to a side output', async () => {
  const b = new PipelineBuilder('t');
  const out = collectingSink<WindowResult<number>>();
  const late = collectingSink<Ev>();
  const counts = b
    .source('src', collectionSource(outOfOrder, { perPoll: 1 }), { watermarks: { maxOutOfOrdernessMs: 5 } })
    .keyBy((e) => e.k)
    .window(tumbling(10), { tooLate: 'side' })
    .count({ id: 'counts' });
  counts.sink(out);
  counts.sideOutput<Ev>('late').sink(late, { id: 'late-sink' });
  const job = await startJob(b.build());
  await job.done;
  assert.deepEqual(late.committed, [{ k: 'a', v: 1, ts: 4 }]);
  assert.equal(job.metrics().lateToSideOutput, 1);
  assert.equal(job.metrics().lateDropped, 0);
});

test('allowed lateness re-fires the window with a new revision under the same id', async () => {
  const b = new PipelineBuilder('t');
  const out = collectingSink<WindowResult<number>>();
  b.source('src', collectionSource(outOfOrder, { perPoll: 1 }), { watermarks: { maxOutOfOrdernessMs: 5 } })
    .keyBy((e) => e.k)
    .window(tumbling(10), { allowedLatenessMs: 20 })
    .aggregate(sum((e: Ev) => e.v))
    .sink(out);
  const job = await startJob(b.build());
  await job.done;
  assert.deepEqual(rows(out.committed), [
    ['a', 0, 3, 0],
    ['a', 0, 4, 1],
    ['a', 10, 1, 0],
    ['a', 20, 1, 0],
    ['a', 40, 1, 0],
    ['b', 0, 1, 0],
  ]);
  assert.equal(job.metrics().lateDropped, 0);
});

test('an idle split stops holding the watermark back', async () => {
  const b = new PipelineBuilder('t');
  const out = collectingSink<WindowResult<number>>();
  // busy finishes (its watermark goes to the end); quiet sent one event and stays open but silent.
  const busy: TestSplit<Ev> = { id: 'busy', records: Array.from({ length: 11 }, (_, i) => ev('a', i * 10)) };
  const quiet: TestSplit<Ev> = { id: 'quiet', records: [ev('b', 0)], stayOpen: true };
  b.source('src', collectionSource([busy, quiet]), { watermarks: { maxOutOfOrdernessMs: 5, idleTimeoutMs: 30 } })
    .keyBy((e) => e.k)
    .window(tumbling(10))
    .count()
    .sink(out);
  const job: Job = await startJob(b.build());
  try {
    // Without idleness quiet would hold the watermark at -6 forever and nothing would fire.
    await until('windows to fire', () => out.written.length === 12);
    assert.deepEqual(
      rows(out.written).map((r) => [r[0], r[1], r[2]]),
      [...Array.from({ length: 11 }, (_, i) => ['a', i * 10, 1]), ['b', 0, 1]],
    );
    assert.equal(job.state, 'running');
  } finally {
    assert.equal((await job.cancel()).state, 'cancelled');
  }
});

test('sliding and session windows (with maximum length) give exact results', async () => {
  const b = new PipelineBuilder('t');
  const slid = collectingSink<WindowResult<number>>();
  const sess = collectingSink<WindowResult<Record<string, unknown>>>();
  const keyed = b
    .source(
      'src',
      collectionSource([
        {
          id: 's',
          records: [ev('a', 0), ev('a', 5), ev('a', 12), ev('a', 100), ev('a', 104), ev('a', 108), ev('a', 112)],
        },
      ]),
    )
    .keyBy((e) => e.k);
  keyed.window(sliding(10, 5)).count({ id: 'sliding' }).sink(slid);
  keyed
    .window(session(10, 10))
    .aggregate(composite<Ev>({ n: count(), total: sum((e) => e.v) }), { id: 'sessions' })
    .sink(sess);
  await (
    await startJob(b.build())
  ).done;
  assert.deepEqual(
    rows(slid.committed).map((r) => [r[1], r[2]]),
    [
      [-5, 1],
      [0, 2],
      [5, 2],
      [10, 1],
      [95, 2],
      [100, 3],
      [105, 2],
      [110, 1],
    ],
  );
  // gap 10: 0,5,12 form one session... capped at 10 ms long: [0,10) holds 0,5; 12 opens [12,22).
  assert.deepEqual(
    sess.committed.map((r) => [r.start, r.end, r.value.n]).sort((x, y) => (x[0] as number) - (y[0] as number)),
    [
      [0, 10, 2],
      [12, 22, 1],
      [100, 110, 3],
      [112, 122, 1],
    ],
  );
});

test('process function with value state and event-time timers', async () => {
  const b = new PipelineBuilder('t');
  const out = collectingSink<string>();
  b.source(
    'src',
    collectionSource([{ id: 's', records: [ev('a', 1), ev('a', 2), ev('b', 3), ev('a', 50), ev('a', 70)] }], {
      perPoll: 1,
    }),
  )
    .keyBy((e) => e.k)
    .process<string>(
      {
        state: { seen: { kind: 'value' } },
        processElement(e: Ev, ctx) {
          const seen = ctx.value<number>('seen');
          const n = (seen.get() ?? 0) + 1;
          seen.set(n);
          if (n === 1) ctx.registerEventTimer(e.ts + 10);
        },
        onTimer(ts, _domain, ctx) {
          ctx.collect(`${ctx.key}:${ctx.value<number>('seen').get() ?? 0}@${ts}`);
          ctx.value('seen').clear();
        },
      },
      { id: 'dedupe' },
    )
    .sink(out);
  await (
    await startJob(b.build())
  ).done;
  // a@50 is processed before the watermark reaches 11 (one record per poll), so the first timer sees 3.
  assert.deepEqual([...out.committed].sort(), ['a:1@80', 'a:3@11', 'b:1@13']);
});

test('graph errors name the operator', async () => {
  const b = new PipelineBuilder('bad');
  b.source('src', collectionSource<Ev>([]))
    .map((e) => e)
    .sink(collectingSink(), { id: 'out' });
  const g = b.build();
  await assert.rejects(
    startJob({
      ...g,
      nodes: [
        ...g.nodes,
        { kind: 'window', id: 'w', inputs: [{ from: 'src' }], window: tumbling(10), aggregate: count(), lateness: {} },
      ],
    }),
    /operator 'w' \(window\) needs a keyed input/,
  );
  await assert.rejects(startJob(g, { parallelism: 0 }), /parallelism must be/);
});

test('processing-time timers fire from the injected clock', async () => {
  let now = 1000;
  const b = new PipelineBuilder('t');
  const out = collectingSink<string>();
  b.source('src', collectionSource([{ id: 's', records: [ev('a', 1)], stayOpen: true }]))
    .keyBy((e) => e.k)
    .process<string>({
      state: {},
      processElement(_e, ctx) {
        ctx.registerProcessingTimer(ctx.now() + 500);
      },
      onTimer(ts, domain, ctx) {
        ctx.collect(`${ctx.key}:${domain}@${ts}`);
      },
    })
    .sink(out);
  const job = await startJob(b.build(), { clock: () => now });
  try {
    await until('the record', () => job.metrics().recordsIn === 1);
    assert.deepEqual(out.written, []);
    now = 1500;
    await until('the timer', () => out.written.length === 1);
    assert.deepEqual(out.written, ['a:processing@1500']);
  } finally {
    await job.cancel();
  }
});

test('stop with savepoint does not fire windows; drain fires every window first', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weir-stop-'));
  try {
    for (const drain of [false, true]) {
      const b = new PipelineBuilder('t');
      const out = collectingSink<WindowResult<number>>();
      b.source('src', collectionSource([{ id: 's', records: [ev('a', 1), ev('a', 15)], stayOpen: true }]))
        .keyBy((e) => e.k)
        .window(tumbling(10))
        .count()
        .sink(out);
      const job = await startJob(b.build(), { savepointDir: dir });
      await until('records', () => job.metrics().recordsIn === 2);
      const sp = await job.triggerSavepoint(drain ? { drain: true } : { stop: true });
      assert.equal((await job.done).state, 'stopped');
      assert.ok(sp.path?.startsWith(dir));
      // watermark 15 - 0 - 1 = 14 fired [0,10); [10,20) fires only when draining
      assert.deepEqual(
        rows(out.committed).map((r) => r[1]),
        drain ? [0, 10] : [0],
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('periodic checkpoints keep only the newest N', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weir-retain-'));
  try {
    const b = new PipelineBuilder('t');
    b.source('src', collectionSource([{ id: 's', records: [ev('a', 1)], stayOpen: true }]))
      .keyBy((e) => e.k)
      .window(tumbling(10))
      .count()
      .sink(collectingSink());
    const job = await startJob(b.build(), { checkpoints: { dir, intervalMs: 1, retain: 2 } });
    await until('five checkpoints', () => job.metrics().checkpointsCompleted >= 5);
    await job.cancel();
    const left = (await readdir(dir)).filter((n) => n.startsWith('chk-'));
    assert.equal(left.length, 2);
    assert.ok((await latestCheckpoint(dir))?.endsWith(left.sort().at(-1) ?? 'none'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('state TTL: expired keys are swept in the background without being read again', async () => {
  let now = 0;
  const b = new PipelineBuilder('t');
  b.source(
    'src',
    collectionSource([{ id: 's', records: Array.from({ length: 300 }, (_, i) => ev(`k${i}`, i)), stayOpen: true }]),
  )
    .keyBy((e) => e.k)
    .process({
      state: { lastSeen: { kind: 'value', ttlMs: 1000 } },
      processElement(e: Ev, ctx) {
        ctx.value<number>('lastSeen').set(e.ts);
      },
    })
    .sink(collectingSink());
  const job = await startJob(b.build(), { clock: () => now, parallelism: 2 });
  try {
    await until('state for every key', () => job.metrics().stateEntries === 300);
    now = 1000;
    await until('the sweep', () => job.metrics().stateEntries === 0);
  } finally {
    await job.cancel();
  }
});
