import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadValidationCases } from './testdata/cases.ts';
import { formatErrors, validateStreamApplication } from './validate.ts';

const cases = loadValidationCases();

describe('validateStreamApplication', () => {
  it('has at least 20 invalid cases', () => {
    assert.ok(cases.invalid.length >= 20, `only ${cases.invalid.length} invalid cases`);
  });

  for (const c of cases.valid) {
    it(`accepts: ${c.name}`, () => {
      const result = validateStreamApplication(c.object, c.old);
      assert.ok(result.ok, result.ok ? '' : formatErrors(result.errors));
    });
  }

  for (const c of cases.invalid) {
    it(`rejects: ${c.name}`, () => {
      const result = validateStreamApplication(c.object, c.old);
      assert.equal(result.ok, false, 'expected a rejection');
      if (!c.expect) return;
      const { path, message } = c.expect;
      const match = result.errors.find((e) => e.path === path && e.message.includes(message));
      assert.ok(match, `expected "${path}: …${message}…", got: ${formatErrors(result.errors)}`);
    });
  }

  it('fills in defaults without modifying its input', () => {
    const input = cases.valid[0]?.object;
    const before = structuredClone(input);
    const result = validateStreamApplication(input);
    assert.deepEqual(input, before);
    assert.ok(result.ok);
    const { spec } = result.value;
    assert.equal(spec.parallelism, 1);
    assert.equal(spec.maxParallelism, 128);
    assert.equal(spec.upgrade.mode, 'savepoint');
    assert.equal(spec.checkpoints.storage.size, '1Gi');
    assert.equal(spec.rollback.stability.completedCheckpoints, 2);
    assert.equal(spec.savepoints.onDelete, true);
    assert.equal(spec.state, 'running');
  });

  it('names every problem at once, not only the first', () => {
    const result = validateStreamApplication({
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'StreamApplication',
      metadata: { name: 'x' },
      spec: { image: 'weir', entrypoint: 'job.js', parallelism: 0, upgrade: { mode: 'fast' } },
    });
    assert.equal(result.ok, false);
    assert.deepEqual(result.errors.map((e) => e.path).sort(), ['spec.parallelism', 'spec.upgrade.mode']);
  });

  it('checks transition rules only on updates', () => {
    const [base] = cases.valid;
    assert.ok(base);
    const changed = { ...base.object, spec: { ...(base.object.spec as object), maxParallelism: 64 } };
    assert.ok(validateStreamApplication(changed).ok, 'a new object may choose any maxParallelism');
    assert.equal(validateStreamApplication(changed, base.object).ok, false, 'an update may not change it');
  });
});
