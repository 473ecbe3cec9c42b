import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { count } from '../graph/aggregates.ts';
import { PipelineBuilder, session, tumbling } from '../graph/builder.ts';
import type { Graph } from '../graph/graph.ts';
import { startJob } from '../runtime/executor.ts';
import { collectingSink, collectionSource } from '../testing/collections.ts';
import { checkSavepointCompatibility } from './compat.ts';
import { readManifest, type SnapshotManifest } from './format.ts';

const records = Array.from({ length: 50 }, (_, i) => ({ value: { k: `k${i % 5}`, ts: i }, ts: i }));

function graph(windowId: string, opts: { maxParallelism?: number; sessionWindow?: boolean } = {}): Graph {
  const b = new PipelineBuilder('compat', { maxParallelism: opts.maxParallelism ?? 16 });
  b.source('src', collectionSource([{ id: 's', records, stayOpen: true }]))
    .keyBy((e: { k: string }) => e.k, { id: 'key' })
    .window(opts.sessionWindow === true ? session(100, 1000) : tumbling(1000))
    .aggregate(count(), { id: windowId })
    .sink(collectingSink(), { id: 'out' });
  return b.build();
}

async function takeSavepoint(dir: string): Promise<SnapshotManifest> {
  const job = await startJob(graph('counts'), { savepointDir: dir });
  const deadline = Date.now() + 5000;
  while (job.metrics().recordsIn < records.length) {
    assert.ok(Date.now() < deadline);
    await new Promise((r) => setTimeout(r, 2));
  }
  const sp = await job.triggerSavepoint({ dir: join(dir, 'sp'), stop: true });
  assert.equal((await job.done).state, 'stopped');
  return readManifest(sp.path ?? '');
}

test('savepoint compatibility: names the operator and what is missing; allowNonRestoredState; maxParallelism', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weir-compat-'));
  try {
    const m = await takeSavepoint(dir);
    assert.equal(m.kind, 'savepoint');
    assert.equal(m.version, 1);
    assert.ok((m.operators.counts?.files?.length ?? 0) > 0);
    const same = checkSavepointCompatibility(graph('counts'), m);
    assert.equal(same.compatible, true);
    assert.ok(same.restored.includes('counts') && same.restored.includes('src'));

    const renamed = checkSavepointCompatibility(graph('counts-v2'), m);
    assert.equal(renamed.compatible, false);
    assert.match(
      renamed.problems[0]?.message ?? '',
      /state for operator 'counts' \(window\) which the pipeline does not have/,
    );
    assert.equal(renamed.problems[0]?.operatorId, 'counts');
    const allowed = checkSavepointCompatibility(graph('counts-v2'), m, { allowNonRestoredState: true });
    assert.equal(allowed.compatible, true);
    assert.deepEqual(allowed.notRestored, ['counts']);
    assert.ok(allowed.startingEmpty.includes('counts-v2'));

    const changedWindow = checkSavepointCompatibility(graph('counts', { sessionWindow: true }), m);
    assert.match(
      changedWindow.problems[0]?.message ?? '',
      /tumbling window state in the savepoint but is a session window/,
    );

    const otherMaxP = checkSavepointCompatibility(graph('counts', { maxParallelism: 32 }), m);
    assert.match(otherMaxP.problems[0]?.message ?? '', /maxParallelism 16 but the pipeline 32/);

    // the job refuses before anything runs (the sink is never opened)
    let opened = false;
    const g = graph('counts-v2');
    const guarded: Graph = {
      ...g,
      nodes: g.nodes.map((n) =>
        n.kind === 'sink'
          ? {
              ...n,
              sink: {
                ...n.sink,
                open: () => {
                  opened = true;
                  return Promise.resolve();
                },
              },
            }
          : n,
      ),
    };
    await assert.rejects(
      startJob(guarded, { restoreFrom: join(dir, 'sp') }),
      /does not fit pipeline 'compat':\n {2}- counts: the savepoint has state for operator 'counts'/,
    );
    assert.equal(opened, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('weir savepoint check / validate: the CLI checks without running', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weir-cli-'));
  try {
    const yaml = (windowId: string): string => `name: cli-check
maxParallelism: 16
source:
  id: gen
  generator: { seed: 1, keys: 3, startTs: 0 }
steps:
  - keyBy: e.campaign
  - id: ${windowId}
    window: { tumbling: 1h, aggregate: { n: { count: true } } }
  - id: out
    sink: { discard: {} }
`;
    await writeFile(join(dir, 'v1.yaml'), yaml('per-second'));
    await writeFile(join(dir, 'v2.yaml'), yaml('per-second-v2'));
    await writeFile(join(dir, 'bad.yaml'), 'name: cli-check\nsource: { id: gen }\nsteps: []\n');
    const cli = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
    const weir = (...args: string[]) =>
      spawnSync(process.execPath, ['--conditions=source', cli, ...args], {
        encoding: 'utf8',
        env: { ...process.env, WEIR_RUN: join(dir, 'run') },
        timeout: 60_000,
      });
    const v = weir('validate', join(dir, 'v1.yaml'));
    assert.equal(v.status, 0, v.stderr);
    const bad = weir('validate', join(dir, 'bad.yaml'));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad\.yaml:3:\d+: steps: must NOT have fewer than 1 items/);
    // an unbounded run stopped by SIGTERM takes a final checkpoint (window state included) and exits 0
    const child = spawn(
      process.execPath,
      ['--conditions=source', cli, 'run', join(dir, 'v1.yaml'), '--quiet', '--checkpoint-dir', join(dir, 'chk')],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const hard = setTimeout(() => {
        reject(new Error(`no 'running' line: ${stderr}`));
      }, 30_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('running')) {
          clearTimeout(hard);
          resolve();
        }
      });
    });
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /SIGTERM: stopping gracefully/);
    assert.match(stderr, /stopped: \d+ records in/);
    const ok = weir('savepoint', 'check', join(dir, 'v1.yaml'), join(dir, 'chk'));
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /compatible/);
    const no = weir('savepoint', 'check', join(dir, 'v2.yaml'), join(dir, 'chk'));
    assert.equal(no.status, 3, 'incompatible has its own exit code');
    assert.match(no.stdout, /NOT compatible:\n {2}- per-second: the savepoint has state for operator 'per-second'/);
    const again = weir('run', join(dir, 'v1.yaml'), '--quiet', '--checkpoint-dir', join(dir, 'chk'));
    assert.equal(again.status, 2);
    assert.match(again.stderr, /pass --resume/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
