import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutAborted } from './aborted-filter.ts';

const rec = (offset: number, producerId: string, value: string, inTransaction = true) => ({
  offset: String(offset),
  key: Buffer.from(value),
  batchContext: { producerId, inTransaction },
});
const abortMarker = (offset: number, producerId: string) => ({
  offset: String(offset),
  key: Buffer.from([0, 0, 0, 0]),
  batchContext: { producerId, inTransaction: true },
});

test('aborted transactions of several producers are all dropped, even when they began before the fetch and are listed out of order', () => {
  // Producers 1 and 2 each had a transaction open when they died (aborted); producer 3 committed.
  const messages = [
    rec(150, '1', 'a1'),
    rec(151, '2', 'b1'),
    rec(152, '3', 'c1'),
    rec(153, '2', 'b2'),
    abortMarker(154, '1'),
    rec(155, '1', 'a-next', false),
    abortMarker(156, '2'),
    rec(157, '2', 'b-next'),
    rec(158, '3', 'c2'),
  ];
  const kept = withoutAborted(messages, [
    { producerId: '2', firstOffset: '120' },
    { producerId: '1', firstOffset: '100' },
  ]).filter((m) => m.key?.equals(Buffer.from([0, 0, 0, 0])) !== true);
  assert.deepEqual(
    kept.map((m) => m.key?.toString()),
    ['c1', 'a-next', 'b-next', 'c2'],
  );
});

test('without aborted transactions every record stays', () => {
  const messages = [rec(1, '1', 'x'), rec(2, '2', 'y')];
  assert.equal(withoutAborted(messages, []).length, 2);
  assert.equal(withoutAborted(messages, undefined).length, 2);
});
