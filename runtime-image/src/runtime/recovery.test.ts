import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readCommittedLines, transactionalFileSink } from '../connectors/file-sink.ts';
import { revenueTestGraph } from '../testing/pipelines.ts';
import { startJob } from './executor.ts';
import { discardSink } from '../connectors/console-sink.ts';
import type { SinkConnector } from '../connectors/contract.ts';
import { generatorSource } from '../connectors/generator.ts';
import { PipelineBuilder } from '../graph/builder.ts';
import type { Graph } from '../graph/graph.ts';

const child = fileURLToPath(new URL('../testing/crash-child.ts', import.meta.url));

/** Deterministic pseudo-random kill times (the test must be reproducible). */
function* killDelays(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    yield 10 + (x % 140);
  }
}

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly killed: boolean;
  readonly stderr: string;
}

function runChild(dir: string, env: Record<string, string>, killAfterStartMs: number | undefined): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--conditions=source', child], {
      env: { ...process.env, WEIR_CRASH_DIR: dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const hard = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout.on('data', (d: Buffer) => {
      if (killAfterStartMs !== undefined && timer === undefined && d.toString().includes('started')) {
        timer = setTimeout(() => {
          killed = p.kill('SIGKILL');
        }, killAfterStartMs);
      }
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ code, signal, killed, stderr });
    });
  });
}

async function referenceOutput(dir: string, eventsPerSplit: number): Promise<string[]> {
  const job = await startJob(revenueTestGraph({ eventsPerSplit, sink: transactionalFileSink({ dir }) }));
  const r = await job.done;
  assert.equal(r.state, 'finished', String(r.error));
  return (await readCommittedLines(dir)).sort();
}

test(
  'crash and restore: killed at random points (and inside checkpoints) 20+ times, the committed output equals a run without crashes',
  { timeout: 240_000 },
  async (t) => {
    const base = await mkdtemp(join(tmpdir(), 'weir-crash-'));
    try {
      const eventsPerSplit = 40_000;
      const expected = await referenceOutput(join(base, 'reference'), eventsPerSplit);
      assert.ok(expected.length > 1000, `reference produced ${expected.length} lines`);
      const dir = join(base, 'crashy');
      const delays = killDelays(42);
      const phases = ['barrier', 'state-written', 'manifest-written', 'committed'];
      let crashes = 0;
      let midCheckpoint = 0;
      let finished = false;
      for (let run = 0; run < 200 && !finished; run++) {
        const env: Record<string, string> = {
          WEIR_EVENTS_PER_SPLIT: String(eventsPerSplit),
          WEIR_PARALLELISM: String(1 + (run % 3)),
        };
        let kill: number | undefined = crashes < 24 ? (delays.next().value as number) : undefined;
        if (crashes < 24 && run % 3 === 1) {
          // crash inside the protocol: before state, after state, after the manifest, after the commit
          env.WEIR_FAULT_CRASH_PHASE = phases[midCheckpoint % phases.length] ?? 'barrier';
          env.WEIR_FAULT_CRASH_AT_CHECKPOINT = String(1 + (midCheckpoint % 3));
          kill = undefined;
        }
        const r = await runChild(dir, env, kill);
        if (r.code === 0) {
          finished = true;
        } else if (r.signal === 'SIGKILL') {
          crashes++;
          if (env.WEIR_FAULT_CRASH_PHASE !== undefined) midCheckpoint++;
        } else {
          assert.fail(`child failed (code ${String(r.code)}): ${r.stderr}`);
        }
      }
      t.diagnostic(
        `${crashes} crashes (${midCheckpoint} inside checkpoints), ${expected.length} committed lines compared`,
      );
      assert.ok(finished, 'the job never finished');
      assert.ok(crashes >= 20, `only ${crashes} crashes happened`);
      assert.ok(midCheckpoint >= 6, `only ${midCheckpoint} crashes inside checkpoints`);
      const actual = (await readCommittedLines(join(dir, 'out'))).sort();
      assert.equal(actual.length, expected.length, 'no loss and no duplicates');
      assert.deepEqual(actual, expected);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  },
);

test(
  'rescale through savepoints 1 → 4 → 2 gives the results of a run at parallelism 1',
  { timeout: 60_000 },
  async () => {
    const base = await mkdtemp(join(tmpdir(), 'weir-rescale-'));
    try {
      const eventsPerSplit = 6000;
      const expected = await referenceOutput(join(base, 'reference'), eventsPerSplit);
      const out = join(base, 'out');
      const sink = (): ReturnType<typeof transactionalFileSink> => transactionalFileSink({ dir: out });
      let restoreFrom: string | undefined;
      for (const [parallelism, stopAfter] of [
        [1, 3000],
        [4, 7000],
      ] as const) {
        const job = await startJob(revenueTestGraph({ eventsPerSplit, ratePerSecond: 10_000, sink: sink() }), {
          parallelism,
          restoreFrom,
          savepointDir: join(base, 'savepoints'),
        });
        const deadline = Date.now() + 20_000;
        while (job.metrics().recordsIn < stopAfter - (restoreFrom === undefined ? 0 : 3000)) {
          assert.ok(Date.now() < deadline, 'the job made no progress');
          await delay(5);
        }
        const sp = await job.triggerSavepoint({ stop: true });
        assert.equal((await job.done).state, 'stopped');
        // the stop really happened part-way, so the next run depends on the restored state
        assert.ok(job.metrics().recordsIn < 2 * eventsPerSplit, `stopped after ${job.metrics().recordsIn} records`);
        assert.ok(job.metrics().stateEntries > 0);
        restoreFrom = sp.path;
      }
      const last = await startJob(revenueTestGraph({ eventsPerSplit, sink: sink() }), { parallelism: 2, restoreFrom });
      assert.equal((await last.done).state, 'finished');
      assert.ok(last.metrics().restoredFrom?.includes('savepoints'));
      assert.deepEqual((await readCommittedLines(out)).sort(), expected);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  },
);

test(
  'restoring an older savepoint never overwrites committed output: epochs continue above every committed part',
  { timeout: 120_000 },
  async () => {
    const base = await mkdtemp(join(tmpdir(), 'weir-older-'));
    try {
      const out = join(base, 'out');
      const graph = (): ReturnType<typeof revenueTestGraph> =>
        revenueTestGraph({ eventsPerSplit: 6000, ratePerSecond: 10_000, sink: transactionalFileSink({ dir: out }) });
      const first = await startJob(graph(), {
        checkpoints: { dir: join(base, 'chk-a'), intervalMs: 50 },
        savepointDir: join(base, 'savepoints'),
      });
      await delay(200);
      const sp = await first.triggerSavepoint();
      assert.equal((await first.done).state, 'finished');
      const before = new Map<string, string>();
      for (const n of await readdir(out))
        if (n.startsWith('part-')) before.set(n, await readFile(join(out, n), 'utf8'));
      assert.ok(before.size > 2, `the first run committed ${before.size} part files`);
      assert.ok(sp.path !== undefined);
      // A rollback: the older savepoint, a new checkpoint directory, the same output directory.
      const second = await startJob(graph(), {
        restoreFrom: sp.path,
        checkpoints: { dir: join(base, 'chk-b'), intervalMs: 50 },
      });
      const r = await second.done;
      assert.equal(r.state, 'finished', String(r.error));
      for (const [n, text] of before) assert.equal(await readFile(join(out, n), 'utf8'), text, `${n} was rewritten`);
      const after = (await readdir(out)).filter((n) => n.startsWith('part-'));
      assert.ok(after.length > before.size, 'the restored run committed output of its own');
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  },
);

test('after a rescale, sinks learn at recovery how many workers wrote the snapshot (to fence the removed ones)', async () => {
  const base = await mkdtemp(join(tmpdir(), 'weir-workers-'));
  try {
    const seen: { count: number; restoredCount: number | undefined }[] = [];
    const sink = (): SinkConnector<unknown> => ({
      ...discardSink(),
      recover: (ctx) => {
        seen.push({ count: ctx.task.count, restoredCount: ctx.task.restoredCount });
        return Promise.resolve({});
      },
    });
    const graph = (): Graph => {
      const b = new PipelineBuilder('workers');
      b.source('gen', generatorSource({ seed: 1, eventsPerSplit: 100, startTs: 0 })).sink(sink(), { id: 'out' });
      return b.build();
    };
    const checkpoints = join(base, 'chk');
    const first = await startJob(graph(), { worker: { index: 0, count: 3 }, checkpoints: { dir: checkpoints } });
    assert.equal((await first.done).state, 'finished');
    const second = await startJob(graph(), {
      worker: { index: 0, count: 2 },
      restoreFrom: checkpoints,
      checkpoints: { dir: checkpoints },
    });
    assert.equal((await second.done).state, 'finished');
    assert.deepEqual(seen, [
      { count: 3, restoredCount: undefined },
      { count: 2, restoredCount: 3 },
    ]);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('recovery asks the sinks again before it discards a pending snapshot: a commit in flight at the crash may show late', async () => {
  const base = await mkdtemp(join(tmpdir(), 'weir-recheck-'));
  try {
    const checkpoints = join(base, 'chk');
    const graph = (sink: SinkConnector<unknown>): Graph => {
      const b = new PipelineBuilder('recheck');
      b.source('gen', generatorSource({ seed: 1, ratePerSecond: 2000, startTs: 0 })).sink(sink, { id: 'out' });
      return b.build();
    };
    const first = await startJob(graph(discardSink()), { checkpoints: { dir: checkpoints, retain: 5 } });
    await first.triggerCheckpoint();
    const newest = await first.triggerCheckpoint();
    await first.cancel();
    // The newest checkpoint as a crash during its commit leaves it: written, not marked committed.
    await rm(join(newest.path ?? '', '_committed'));
    const restore = async (answers: number[]): Promise<{ restoredFrom: string | undefined; asked: number }> => {
      let asked = 0;
      const sink: SinkConnector<unknown> = {
        ...discardSink(),
        recover: () => Promise.resolve({ committedEpoch: newest.epoch - 1 }),
        recheck: () => Promise.resolve({ committedEpoch: answers[Math.min(asked++, answers.length - 1)] }),
      };
      const job = await startJob(graph(sink), { restoreFrom: checkpoints, checkpoints: { dir: join(base, 'next') } });
      const restoredFrom = job.metrics().restoredFrom;
      await job.cancel();
      return { restoredFrom, asked };
    };
    // The marker shows the commit on the second look: the pending snapshot is rolled forward, not discarded.
    const late = await restore([newest.epoch - 1, newest.epoch]);
    assert.equal(late.restoredFrom, newest.path);
    assert.equal(late.asked, 2);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
