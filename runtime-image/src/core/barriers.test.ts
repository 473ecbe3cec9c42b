import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BarrierAligner, EpochCounter, checkpointDue, checkpointsToDelete } from './barriers.ts';

test('alignment completes only when every channel delivered the barrier, blocking early channels', () => {
  const a = new BarrierAligner(3);
  assert.equal(a.onBarrier(1, 7), false);
  assert.equal(a.isBlocked(1), true);
  assert.equal(a.isBlocked(0), false);
  assert.equal(a.onBarrier(0, 7), false);
  assert.equal(a.onBarrier(2, 7), true);
  assert.equal(a.isBlocked(1), false);
  // next epoch aligns independently
  assert.equal(a.onBarrier(2, 8), false);
  assert.throws(() => a.onBarrier(0, 9), /epoch 9 .* while aligning epoch 8/);
  assert.throws(() => a.onBarrier(2, 8), /twice/);
  a.reset();
  assert.equal(a.isBlocked(2), false);
});

test('a single channel aligns immediately', () => {
  assert.equal(new BarrierAligner(1).onBarrier(0, 1), true);
});

test('epochs continue after the restored one', () => {
  const e = new EpochCounter(41);
  assert.equal(e.next(), 42);
  assert.equal(e.next(), 43);
  assert.equal(e.last, 43);
});

test('retention keeps the newest N checkpoints', () => {
  assert.deepEqual(checkpointsToDelete([3, 1, 5, 4, 2], 2), [1, 2, 3]);
  assert.deepEqual(checkpointsToDelete([1], 3), []);
  assert.throws(() => checkpointsToDelete([1], 0), /retention/);
});

test('a checkpoint is due after the interval and never while one is in flight', () => {
  assert.equal(checkpointDue(1000, 0, 1000, false), true);
  assert.equal(checkpointDue(999, 0, 1000, false), false);
  assert.equal(checkpointDue(5000, 0, 1000, true), false);
  assert.equal(checkpointDue(5000, 0, undefined, false), false);
});
