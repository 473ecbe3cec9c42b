import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { count } from '../graph/aggregates.ts';
import { PipelineBuilder, tumbling } from '../graph/builder.ts';
import type { WindowResult } from '../operators/window.ts';
import { startJob } from '../runtime/executor.ts';
import { collectingSink } from '../testing/collections.ts';
import { SinkBuffer } from './buffering.ts';
import { fileSource } from './file-source.ts';
import { readCommittedLines, transactionalFileSink } from './file-sink.ts';
import { generatorSource, type AdEvent } from './generator.ts';
import { testSinkContext, testSourceContext } from '../testing/contexts.ts';

async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-conn-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('generator is deterministic per (seed, split, index) and resumes from a position', async () => {
  const take = async (restored: Map<string, unknown>, n: number): Promise<AdEvent[]> => {
    const [split] = await generatorSource({
      seed: 3,
      keys: 5,
      startTs: 0,
      skewMs: 10,
      lateFraction: 0.1,
      latenessMs: 1000,
    }).open(testSourceContext(restored as Map<string, never>, () => 0));
    assert.ok(split);
    return split.poll(n).records.map((r) => r.value);
  };
  const all = await take(new Map(), 100);
  assert.equal(all.length, 100);
  assert.deepEqual(await take(new Map(), 100), all);
  const tail = await take(new Map([['generator-0', { next: 60, startTs: 0 }]]), 40);
  assert.deepEqual(tail, all.slice(60));
  assert.ok(new Set(all.map((e) => e.campaign)).size <= 5);
  assert.ok(
    all.some((e) => e.ts < 0),
    'some events are late',
  );
  assert.throws(() => generatorSource({ keys: 0 }), /generator.keys must be an integer >= 1/);
});

test('generator rate limit: a split emits no more than its rate allows', async () => {
  let now = 0;
  const [split] = await generatorSource({ ratePerSecond: 1000, splits: 1 }).open(
    testSourceContext(new Map(), () => now),
  );
  assert.ok(split);
  assert.equal(split.poll(10_000).records.length, 0);
  now = 250;
  assert.equal(split.poll(10_000).records.length, 250);
  assert.equal(split.backlog?.(), 0);
  now = 300;
  assert.equal(split.backlog(), 50);
});

test('file source: backfill of historical files fires windows file by file and resumes by offset', async () => {
  await withTmp(async (dir) => {
    await writeFile(
      join(dir, '2024-01-01.jsonl'),
      ['{"k":"a","ts":1000}', '{"k":"a","ts":2500}', '', '{"k":"b","ts":1200}'].join('\n') + '\n',
    );
    await writeFile(join(dir, '2024-01-02.jsonl'), '{"k":"a","ts":"1970-01-01T00:00:05.000Z"}\n{"k":"a","ts":5001}');
    const out = collectingSink<WindowResult<number>>();
    const b = new PipelineBuilder('backfill');
    b.source('files', fileSource<{ k: string }>({ paths: [dir] }))
      .keyBy((e) => e.k)
      .window(tumbling(1000))
      .count()
      .sink(out);
    const job = await startJob(b.build());
    assert.equal((await job.done).state, 'finished');
    assert.deepEqual(
      out.committed.map((r) => `${r.key}@${r.start}=${r.value}`),
      ['a@1000=1', 'b@1000=1', 'a@2000=1', 'a@5000=2'],
    );
    // the split itself: each file's records, then a watermark at that file's highest event time
    const [fresh] = await fileSource({ paths: [dir] }).open(testSourceContext(new Map(), () => 0));
    assert.ok(fresh);
    const watermarks: number[] = [];
    const until = Date.now() + 5000;
    for (;;) {
      const r = fresh.poll(100);
      if (r.watermark !== undefined) watermarks.push(r.watermark);
      if (r.done === true) break;
      assert.ok(Date.now() < until);
      await new Promise((res) => setImmediate(res));
    }
    assert.deepEqual(watermarks, [2500, 5001]);
    // resume after the first record of the first file
    const [split] = await fileSource({ paths: [dir] }).open(
      testSourceContext(new Map([['files', { file: 0, offset: 20 }]]), () => 0),
    );
    assert.ok(split);
    const seen: unknown[] = [];
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = split.poll(100);
      seen.push(...r.records.map((x) => x.value));
      if (r.done === true) break;
      assert.ok(Date.now() < deadline);
      await new Promise((res) => setImmediate(res));
    }
    assert.deepEqual(seen, [
      { k: 'a', ts: 2500 },
      { k: 'b', ts: 1200 },
      { k: 'a', ts: '1970-01-01T00:00:05.000Z' },
      { k: 'a', ts: 5001 },
    ]);
  });
});

test('file source: a bad line fails with the file and line', async () => {
  await withTmp(async (dir) => {
    await writeFile(join(dir, 'x.jsonl'), '{"ts":1}\n{"nots":2}\n');
    const b = new PipelineBuilder('bad');
    b.source('files', fileSource({ paths: [dir] })).sink(collectingSink());
    const r = await (await startJob(b.build())).done;
    assert.equal(r.state, 'failed');
    assert.match(r.error?.message ?? '', /x\.jsonl: line 2: field 'ts' must be the event time/);
  });
});

test('transactional file sink: nothing is visible before the commit; restore commits a completed epoch and aborts the rest', async () => {
  await withTmp(async (dir) => {
    const sink = transactionalFileSink<{ n: number }>({ dir });
    await sink.open(testSinkContext('out', undefined));
    await sink.write([{ n: 1 }, { n: 2 }]);
    const c1 = await sink.preCommit(1);
    assert.deepEqual(await readCommittedLines(dir), []);
    await sink.commit(1, c1);
    await sink.commit(1, c1); // idempotent
    assert.deepEqual(await readCommittedLines(dir), ['{"n":1}', '{"n":2}']);
    await sink.write([{ n: 3 }]);
    const c2 = await sink.preCommit(2);
    await sink.write([{ n: 4 }]); // in progress at the "crash"
    await sink.write([{ n: 5 }]);
    await sink.preCommit(3); // pre-committed, but checkpoint 3 never completed
    // another sink whose id extends this one's shares the directory: its pending file must survive
    const other = transactionalFileSink<{ n: number }>({ dir });
    await other.open(testSinkContext('out-2', undefined));
    await other.write([{ n: 99 }]);
    const otherCommittable = await other.preCommit(2);
    // crash: a new instance restores from checkpoint 2 whose commit never ran
    const again = transactionalFileSink<{ n: number }>({ dir });
    await again.open(testSinkContext('out', c2));
    assert.deepEqual(await readCommittedLines(dir), ['{"n":1}', '{"n":2}', '{"n":3}']);
    assert.deepEqual(await readdir(join(dir, '.pending')), ['out-2~0000000002.jsonl']);
    await other.commit(2, otherCommittable);
    assert.deepEqual((await readCommittedLines(dir)).sort(), ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":99}']);
  });
});

test('sink buffer merges by key and flushes on size, age and demand', async () => {
  const flushed: string[][] = [];
  let now = 0;
  const buf = new SinkBuffer<{ id: string; rev: number }>({
    maxSize: 3,
    maxDelayMs: 100,
    keyOf: (v) => v.id,
    now: () => now,
    write: (vs) => {
      flushed.push(vs.map((v) => `${v.id}#${v.rev}`));
      return Promise.resolve();
    },
  });
  await buf.add([
    { id: 'a', rev: 0 },
    { id: 'b', rev: 0 },
    { id: 'a', rev: 1 },
  ]);
  assert.equal(buf.size, 2);
  assert.deepEqual(flushed, []);
  await buf.add([{ id: 'c', rev: 0 }]);
  assert.deepEqual(flushed, [['b#0', 'a#1', 'c#0']]);
  await buf.add([{ id: 'd', rev: 0 }]);
  now = 100;
  await buf.add([{ id: 'd', rev: 1 }]);
  assert.deepEqual(flushed[1], ['d#1']);
  await buf.add([{ id: 'e', rev: 0 }]);
  await buf.flush();
  assert.deepEqual(flushed[2], ['e#0']);
  assert.throws(() => new SinkBuffer({ maxSize: 0, write: () => Promise.resolve() }), /maxSize/);
});

test('count of events per campaign from the generator matches a direct count', async () => {
  const out = collectingSink<WindowResult<number>>();
  const b = new PipelineBuilder('gen');
  b.source('g', generatorSource({ seed: 5, keys: 3, eventsPerSplit: 3000, splits: 2, startTs: 0 }))
    .keyBy((e: AdEvent) => e.campaign)
    .window(tumbling(1000))
    .aggregate(count<AdEvent>())
    .sink(out);
  await (
    await startJob(b.build(), { parallelism: 2 })
  ).done;
  const total = out.committed.reduce((a, r) => a + r.value, 0);
  assert.equal(total, 6000);
});
