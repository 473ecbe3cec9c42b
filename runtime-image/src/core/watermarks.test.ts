import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_WATERMARK, MIN_WATERMARK, SplitWatermarks, WatermarkTracker, splitsAhead } from './watermarks.ts';

test('split watermark trails the highest event time by the bound and never decreases', () => {
  const w = new SplitWatermarks({ maxOutOfOrdernessMs: 100 }, 0);
  assert.equal(w.current(), MIN_WATERMARK);
  w.onEvent(1000, 0);
  assert.equal(w.current(), 899);
  w.onEvent(500, 0); // out of order: no regression
  assert.equal(w.current(), 899);
  w.onEvent(1200, 0);
  assert.equal(w.current(), 1099);
  w.onSourceWatermark(5000, 0); // e.g. end of a file
  assert.equal(w.current(), 5000);
  w.finish();
  assert.equal(w.current(), MAX_WATERMARK);
});

test('a split becomes idle after the timeout and active again on the next event', () => {
  const w = new SplitWatermarks({ maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 }, 0);
  assert.equal(w.isIdle(999), false);
  assert.equal(w.isIdle(1000), true);
  w.onEvent(5, 1500);
  assert.equal(w.isIdle(2400), false);
  assert.equal(w.isIdle(2500), true);
  assert.throws(() => new SplitWatermarks({ maxOutOfOrdernessMs: -1 }, 0), /maxOutOfOrdernessMs/);
});

test('tracker is the minimum over inputs and never decreases', () => {
  const t = new WatermarkTracker(2);
  assert.equal(t.update(0, 100), undefined); // input 1 still unknown
  assert.equal(t.update(1, 50), 50);
  assert.equal(t.update(1, 200), 100);
  assert.equal(t.update(0, 90), undefined); // input regressions are ignored
  assert.equal(t.current, 100);
  assert.equal(t.update(0, 300), 200);
});

test('an idle input stops holding the watermark back; all idle holds it', () => {
  const t = new WatermarkTracker(3);
  t.update(0, 1000);
  t.update(1, 1000);
  assert.equal(t.current, MIN_WATERMARK); // input 2 silent
  assert.equal(t.setIdle(2, true), 1000);
  t.setIdle(0, true);
  t.setIdle(1, true);
  assert.equal(t.current, 1000);
  // input 2 wakes up behind the others: the combined watermark does not go back
  assert.equal(t.update(2, 10), undefined);
  assert.equal(t.current, 1000);
  assert.throws(() => t.update(3, 1), /input 3 does not exist/);
});

test('alignment pauses the splits that run more than maxDrift ahead of the slowest active one', () => {
  const s = (watermark: number, active = true): { watermark: number; active: boolean } => ({ watermark, active });
  assert.deepEqual(splitsAhead([s(1000), s(5000), s(1500)], 1000), [false, true, false]);
  // without a bound nothing pauses; idle, finished or empty splits do not hold the others back
  assert.deepEqual(splitsAhead([s(1000), s(5000)], undefined), [false, false]);
  assert.deepEqual(splitsAhead([s(1000, false), s(5000), s(MIN_WATERMARK)], 1000), [false, false, false]);
  assert.deepEqual(splitsAhead([s(1000), s(2000), s(2001)], 1000), [false, false, true]);
});
