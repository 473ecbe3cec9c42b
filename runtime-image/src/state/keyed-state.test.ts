import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedStateStore, ListState, MapState, ValueState, type CurrentKey } from './keyed-state.ts';
import { TimerQueue } from './timers.ts';

test('value, map and list state are per key and per key group', () => {
  const store = new KeyedStateStore({ start: 4, end: 8 }, () => 0);
  const cur: CurrentKey = { key: 'a', kg: 4 };
  const v = new ValueState<number>(store.table('v'), cur);
  const m = new MapState<number>(store.table('m'), cur);
  const l = new ListState<string>(store.table('l'), cur);
  v.set(1);
  m.set('x', 1);
  m.set('y', 2);
  l.add('p');
  l.add('q');
  cur.key = 'b';
  cur.kg = 7;
  assert.equal(v.get(), undefined);
  v.set(2);
  cur.key = 'a';
  cur.kg = 4;
  assert.equal(v.get(), 1);
  assert.deepEqual(m.entries(), [
    ['x', 1],
    ['y', 2],
  ]);
  m.delete('x');
  assert.equal(m.get('x'), undefined);
  assert.deepEqual(l.get(), ['p', 'q']);
  assert.equal(store.table('v').size, 2);
  assert.throws(() => store.table('v').get(9, 'a'), /key group 9 is outside \[4, 8\)/);
  assert.throws(() => store.table('v', { ttlMs: 5 }), /different TTLs/);
});

test('TTL: expired values read as absent, and the background sweep removes unread ones', () => {
  let now = 1000;
  const store = new KeyedStateStore({ start: 0, end: 4 }, () => now);
  const t = store.table('session', { ttlMs: 100 });
  for (let i = 0; i < 50; i++) t.set(i % 4, `k${i}`, i);
  now = 1050;
  t.set(0, 'k0', 'fresh'); // a write refreshes the TTL
  assert.equal(t.get(1, 'k1'), 1);
  now = 1100;
  assert.equal(t.get(1, 'k1'), undefined); // expired on read
  assert.equal(t.get(0, 'k0'), 'fresh');
  // nobody reads the other 48: the sweep still removes them, a bounded amount per call
  const first = store.sweepExpired(10);
  assert.ok(first > 0 && first <= 10);
  let removed = first;
  for (let i = 0; i < 20; i++) removed += store.sweepExpired(10);
  assert.equal(removed, 48);
  assert.equal(t.size, 1);
  now = 2000;
  for (let i = 0; i < 5; i++) store.sweepExpired(10);
  assert.equal(t.size, 0);
});

test('timer queue fires in time order, deduplicates, and supports deletion', () => {
  const q = new TimerQueue();
  assert.equal(q.register({ key: 'a', kg: 0, ts: 30, ns: 'w' }), true);
  assert.equal(q.register({ key: 'b', kg: 1, ts: 10, ns: 'w' }), true);
  assert.equal(q.register({ key: 'b', kg: 1, ts: 10, ns: 'w' }), false);
  q.register({ key: 'c', kg: 1, ts: 10, ns: 'w' });
  q.register({ key: 'd', kg: 1, ts: 20, ns: 'w' });
  assert.equal(q.delete('d', 'w', 20), true);
  assert.equal(q.size, 3);
  assert.equal(q.popDue(5), undefined);
  assert.deepEqual(
    q.popDue(100)?.map((t) => t.key),
    ['b', 'c'],
  );
  assert.deepEqual(
    q.popDue(100)?.map((t) => t.key),
    ['a'],
  );
  assert.equal(q.popDue(100), undefined);
  assert.equal(q.size, 0);
});
