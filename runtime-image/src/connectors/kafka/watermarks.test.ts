import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIN_WATERMARK } from '../../core/watermarks.ts';
import { PartitionEventTime, decodeWatermark, encodeWatermark } from './watermarks.ts';

test('a partition’s event time is the minimum over its producers, once every producer has reported', () => {
  const p = new PartitionEventTime();
  assert.equal(p.observe({ watermark: 500, producer: 0, producers: 2 }), MIN_WATERMARK);
  assert.equal(p.observe({ watermark: 300, producer: 1, producers: 2 }), 300);
  assert.equal(p.observe({ watermark: 900, producer: 1, producers: 2 }), 500);
  // never backwards per producer
  assert.equal(p.observe({ watermark: 100, producer: 0, producers: 2 }), 500);
});

test('an upstream rescale forgets producers that are gone; snapshots restore the producers’ watermarks', () => {
  const p = new PartitionEventTime();
  p.observe({ watermark: 100, producer: 0, producers: 3 });
  p.observe({ watermark: 200, producer: 1, producers: 3 });
  p.observe({ watermark: 50, producer: 2, producers: 3 });
  assert.equal(p.current(), 50);
  assert.equal(p.observe({ watermark: 300, producer: 0, producers: 2 }), 200);
  const again = new PartitionEventTime();
  again.restore(p.snapshot());
  assert.equal(again.current(), 200);
});

test('watermark records round-trip and foreign values are ignored', () => {
  const w = { watermark: 42, producer: 1, producers: 3 };
  assert.deepEqual(decodeWatermark(Buffer.from(encodeWatermark(w))), w);
  assert.equal(decodeWatermark(Buffer.from('{"watermark":"x"}')), undefined);
  assert.equal(decodeWatermark(Buffer.from('not json')), undefined);
  assert.equal(decodeWatermark(null), undefined);
});
