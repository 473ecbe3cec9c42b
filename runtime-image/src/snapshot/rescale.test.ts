import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type SnapshotManifest } from './format.ts';
import { mergeParts } from './rescale.ts';

function part(
  epoch: number,
  files: { file: string; start: number; end: number }[],
  splits: Record<string, number>,
): SnapshotManifest {
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    kind: 'savepoint',
    job: 'j.sources',
    epoch,
    createdAt: '2026-12-01T00:00:00Z',
    maxParallelism: 8,
    parallelism: 1,
    workers: 2,
    operators: {
      ads: {
        kind: 'source',
        keyed: false,
        splits: Object.fromEntries(
          Object.entries(splits).map(([k, o]) => [k, { position: { offset: o }, watermark: epoch * 10 }]),
        ),
        watermark: epoch * 10,
      },
      win: {
        kind: 'window',
        keyed: true,
        states: ['acc'],
        files: files.map((f) => ({ ...f, bytes: 1 })),
        watermark: epoch * 10,
      },
      out: { kind: 'sink', keyed: false, state: `committable-${epoch}`, watermark: epoch * 10 },
    },
  };
}

describe('rescale: a new worker snapshot cut from the old parts', () => {
  const parts = [
    {
      worker: 0,
      dir: '/sp/w0/sources',
      manifest: part(5, [{ file: 'win.0.jsonl', start: 0, end: 4 }], { 'in-0': 100, 'in-2': 300 }),
    },
    {
      worker: 1,
      dir: '/sp/w1/sources',
      manifest: part(7, [{ file: 'win.0.jsonl', start: 4, end: 8 }], { 'in-1': 200, 'in-3': 400 }),
    },
  ];

  it('every split position and every key-group file, paths relative to the new snapshot', () => {
    const m = mergeParts(parts, 2, '/ck/w2/_rescaled/sources', 2);
    assert.deepEqual(Object.keys(m.operators.ads?.splits ?? {}).sort(), ['in-0', 'in-1', 'in-2', 'in-3']);
    assert.deepEqual(
      (m.operators.win?.files ?? []).map((f) => [f.file, f.start, f.end]),
      [
        ['../../../../sp/w0/sources/win.0.jsonl', 0, 4],
        ['../../../../sp/w1/sources/win.0.jsonl', 4, 8],
      ],
    );
  });

  it('the oldest watermark, the newest epoch, the old worker count (for fencing); non-keyed state of the same index', () => {
    const m = mergeParts(parts, 2, '/x', 1);
    assert.equal(m.operators.win?.watermark, 50);
    assert.equal(m.epoch, 7);
    assert.equal(m.workers, 2);
    assert.equal(m.operators.out?.state, 'committable-7');
    assert.equal(mergeParts(parts, 2, '/x', 3).operators.out?.state, null);
  });
});
