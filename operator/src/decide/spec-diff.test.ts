import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spec } from '../testing/fixtures.ts';
import { canonicalJson, deploymentHash, diffSpecs } from './spec-diff.ts';

describe('diffSpecs', () => {
  const base = spec();
  const cases: [string, Parameters<typeof spec>[0], string][] = [
    ['nothing', {}, 'ignore'],
    ['savepoint history', { savepoints: { ...base.savepoints, historyLimit: 2 } }, 'ignore'],
    ['timeouts', { upgrade: { ...base.upgrade, deployTimeoutSeconds: 30 } }, 'ignore'],
    ['parallelism', { parallelism: 4 }, 'scale'],
    ['image', { image: 'weir/app:2' }, 'upgrade'],
    ['config', { config: { a: 'b' } }, 'upgrade'],
    ['checkpoint interval', { checkpoints: { ...base.checkpoints, intervalSeconds: 10 } }, 'upgrade'],
    ['checkpoint storage', { checkpoints: { ...base.checkpoints, storage: { size: '5Gi' } } }, 'redeploy'],
    ['parallelism and image', { parallelism: 4, image: 'x' }, 'upgrade'],
  ];
  for (const [name, change, kind] of cases) {
    it(`${name} → ${kind}`, () => {
      assert.equal(diffSpecs(base, spec(change)).kind, kind);
    });
  }
  it('names the changed fields', () => {
    assert.deepEqual(diffSpecs(base, spec({ parallelism: 2, config: { k: 'v' } })).fields.sort(), [
      'config',
      'parallelism',
    ]);
  });
  it('the deployment hash ignores key order and operator-only settings', () => {
    const reordered = JSON.parse(canonicalJson(base)) as typeof base;
    assert.equal(deploymentHash(reordered), deploymentHash(base));
    assert.equal(deploymentHash(spec({ savepoints: { ...base.savepoints, triggerNonce: 9 } })), deploymentHash(base));
    assert.notEqual(deploymentHash(spec({ image: 'other' })), deploymentHash(base));
  });
});
