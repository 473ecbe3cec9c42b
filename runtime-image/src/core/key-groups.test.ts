import { test } from 'node:test';
import assert from 'node:assert/strict';
import murmurhash from 'murmurhash';
import { keyGroupOf, keyGroupRangeFor, stableHash, taskIndexForKeyGroup, validateParallelism } from './key-groups.ts';

test('stable hash is murmur3 of the UTF-8 bytes', () => {
  // Reference values of MurmurHash3_x86_32 with seed 0.
  assert.equal(stableHash(''), 0);
  assert.equal(stableHash('hello'), 613153351);
  assert.equal(stableHash('é'), stableHash('é'));
  assert.notEqual(stableHash('é'), stableHash('e'));
});

test('stable hash equals the murmurhash package on ASCII and non-ASCII keys of every length', () => {
  const enc = new TextEncoder();
  for (let len = 0; len < 40; len++) {
    for (const alphabet of [Array.from('abcdefghij0123456789-_'), ['a', 'é', '€', '𝄞', 'ß']]) {
      let key = '';
      for (let i = 0; i < len; i++) key += alphabet[(i * 7 + len) % alphabet.length] ?? '';
      assert.equal(stableHash(key), murmurhash.v3(enc.encode(key)), JSON.stringify(key));
    }
  }
});

test('key groups are in range and spread over all groups', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 10_000; i++) {
    const g = keyGroupOf(`campaign-${i}`, 128);
    assert.ok(g >= 0 && g < 128);
    seen.add(g);
  }
  assert.equal(seen.size, 128);
});

test('ranges of all tasks tile [0, maxParallelism) contiguously and agree with taskIndexForKeyGroup', () => {
  for (const p of [1, 2, 3, 4, 7, 128]) {
    let next = 0;
    for (let i = 0; i < p; i++) {
      const r = keyGroupRangeFor(i, p, 128);
      assert.equal(r.start, next);
      assert.ok(r.end > r.start);
      for (let g = r.start; g < r.end; g++) assert.equal(taskIndexForKeyGroup(g, p, 128), i);
      next = r.end;
    }
    assert.equal(next, 128);
  }
});

test('bad parallelism is rejected with a message naming the field', () => {
  assert.throws(() => {
    validateParallelism(0, 128);
  }, /parallelism/);
  assert.throws(() => {
    validateParallelism(200, 128);
  }, /parallelism must be .* maxParallelism=128/);
  assert.throws(() => keyGroupRangeFor(4, 4, 128), /task index/);
});
