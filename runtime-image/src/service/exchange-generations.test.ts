import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeJobSavepointManifest } from '../snapshot/job-snapshot.ts';
import {
  deleteOlderGenerations,
  deploymentGeneration,
  EXCHANGE_FILE,
  obsoleteTopics,
  type GenerationRecord,
} from './exchange-generations.ts';
import { isPermanent } from './supervision.ts';

const app = { namespace: 'ns', name: 'rev' };

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-generations-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function fakePort(existing: string[]): { deleteTopics(t: readonly string[]): Promise<string[]>; topics: Set<string> } {
  const topics = new Set(existing);
  return {
    topics,
    deleteTopics(t) {
      const gone = t.filter((x) => topics.has(x));
      for (const x of gone) topics.delete(x);
      return Promise.resolve(gone);
    },
  };
}

test('a deployment takes a new generation when fresh or from a savepoint, and continues a checkpoint directory’s', () =>
  withDir(async (root) => {
    const d1 = join(root, 'd-aaaaaaaaaaaa');
    assert.equal(
      await deploymentGeneration({ deploymentDir: d1, restoreFrom: null, app, keyBys: ['by-k'] }),
      'd-aaaaaaaaaaaa',
    );
    const recorded = JSON.parse(await readFile(join(d1, EXCHANGE_FILE), 'utf8')) as GenerationRecord;
    assert.deepEqual(recorded, { generation: 'd-aaaaaaaaaaaa', app, topics: ['weir.ns.rev.by-k.d-aaaaaaaaaaaa'] });
    // last-state: continues d1's generation, recording its own keyBys' topics of it
    const d2 = join(root, 'd-bbbbbbbbbbbb');
    assert.equal(
      await deploymentGeneration({ deploymentDir: d2, restoreFrom: d1, app, keyBys: ['by-x'] }),
      'd-aaaaaaaaaaaa',
    );
    // a restart of d2 keeps what d2 recorded
    assert.equal(
      await deploymentGeneration({ deploymentDir: d2, restoreFrom: null, app, keyBys: [] }),
      'd-aaaaaaaaaaaa',
    );
    const savepoint = join(root, 'sp');
    await writeJobSavepointManifest(savepoint, { format: 'weir-job-savepoint', id: 's', parts: 1, createdAt: '' });
    const d3 = join(root, 'd-cccccccccccc');
    assert.equal(
      await deploymentGeneration({ deploymentDir: d3, restoreFrom: savepoint, app, keyBys: [] }),
      'd-cccccccccccc',
    );
  }));

test("once a newer generation has a checkpoint, every older generation's topics of the app go, and restoring them fails naming why", () =>
  withDir(async (root) => {
    const dir = (g: string): string => join(root, g);
    const old1 = await deploymentGeneration({
      deploymentDir: dir('d-000000000001'),
      restoreFrom: null,
      app,
      keyBys: ['a', 'b'],
    });
    // a last-state upgrade continued old1 with another keyBy
    await deploymentGeneration({
      deploymentDir: dir('d-000000000002'),
      restoreFrom: dir('d-000000000001'),
      app,
      keyBys: ['c'],
    });
    const current = await deploymentGeneration({
      deploymentDir: dir('d-000000000003'),
      restoreFrom: null,
      app,
      keyBys: ['a'],
    });
    // another app on the same volume (a shared claim), whose name our prefix would match without the dot
    const other = { namespace: 'ns', name: 'rev.eu' };
    await deploymentGeneration({ deploymentDir: dir('d-000000000004'), restoreFrom: null, app: other, keyBys: ['a'] });
    // written by an older runtime: its topics are unknown and stay
    await mkdir(dir('d-000000000005'));
    await writeFile(join(dir('d-000000000005'), EXCHANGE_FILE), JSON.stringify({ generation: 'd-000000000005' }));
    const port = fakePort([
      `weir.ns.rev.a.${old1}`,
      `weir.ns.rev.b.${old1}`,
      `weir.ns.rev.c.${old1}`,
      `weir.ns.rev.a.${current}`,
      'weir.ns.rev.eu.a.d-000000000004',
      'weir.ns.rev.a.d-000000000005',
      'orders',
    ]);
    const gone = await deleteOlderGenerations({ checkpointsDir: root, app, current, port });
    assert.deepEqual(gone, {
      generations: [old1],
      topics: [`weir.ns.rev.a.${old1}`, `weir.ns.rev.b.${old1}`, `weir.ns.rev.c.${old1}`],
    });
    assert.deepEqual(
      [...port.topics].sort(),
      ['orders', `weir.ns.rev.a.${current}`, 'weir.ns.rev.a.d-000000000005', 'weir.ns.rev.eu.a.d-000000000004'].sort(),
    );
    assert.deepEqual(await deleteOlderGenerations({ checkpointsDir: root, app, current, port }), {
      generations: [],
      topics: [],
    });
    for (const d of ['d-000000000001', 'd-000000000002']) {
      const attempt = deploymentGeneration({
        deploymentDir: dir('d-00000000000x'),
        restoreFrom: dir(d),
        app,
        keyBys: [],
      });
      await assert.rejects(attempt, (err: Error) => {
        assert.match(
          err.message,
          /cannot restore .*d-00000000000[12].*exchange generation d-000000000001.*deleted.*restore a savepoint/,
        );
        assert.ok(isPermanent(err), 'a restart cannot fix it');
        return true;
      });
    }
  }));

test('obsolete topics: only this app’s, only of other generations not yet deleted, only topics the records name', () => {
  const records: GenerationRecord[] = [
    { generation: 'g1', app, topics: ['weir.ns.rev.k.g1', 'weir.other.rev.k.g1', 'weir.ns.rev.k.g9'] },
    { generation: 'g2', app, topics: ['weir.ns.rev.k.g2'], deleted: true },
    { generation: 'g3', app, topics: ['weir.ns.rev.k.g3'] },
    { generation: 'g4', app: { namespace: 'ns', name: 'other' }, topics: ['weir.ns.other.k.g4'] },
    { generation: 'g5' },
  ];
  assert.deepEqual(obsoleteTopics(records, app, 'g3'), ['weir.ns.rev.k.g1']);
  assert.deepEqual(obsoleteTopics(records, app, 'g1'), ['weir.ns.rev.k.g3']);
});
