import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignSession, slidingWindowsFor, tumblingWindowFor, validateWindowSpec, type Session } from './windows.ts';

test('tumbling windows align to the size (and offset), including negative times', () => {
  assert.deepEqual(tumblingWindowFor(0, 60_000), { start: 0, end: 60_000 });
  assert.deepEqual(tumblingWindowFor(59_999, 60_000), { start: 0, end: 60_000 });
  assert.deepEqual(tumblingWindowFor(60_000, 60_000), { start: 60_000, end: 120_000 });
  assert.deepEqual(tumblingWindowFor(-1, 1000), { start: -1000, end: 0 });
  assert.deepEqual(tumblingWindowFor(1500, 1000, 200), { start: 1200, end: 2200 });
});

test('sliding windows: every window that contains the event', () => {
  assert.deepEqual(slidingWindowsFor(1500, 3000, 1000), [
    { start: -1000, end: 2000 },
    { start: 0, end: 3000 },
    { start: 1000, end: 4000 },
  ]);
  assert.deepEqual(slidingWindowsFor(2000, 2000, 1000), [
    { start: 1000, end: 3000 },
    { start: 2000, end: 4000 },
  ]);
  // non-divisible slide
  // non-divisible slide: starts stay multiples of the slide
  assert.deepEqual(
    slidingWindowsFor(7, 10, 3).map((w) => w.start),
    [0, 3, 6],
  );
});

test('sessions: a new event opens a session, close events merge, bridging events merge two', () => {
  let sessions: Session[] = [];
  const add = (ts: number): Session[] => {
    const a = assignSession(sessions, ts, 10, 1000);
    sessions = [...sessions.filter((s) => !a.absorbed.includes(s)), a.window];
    return [...sessions].sort((x, y) => x.start - y.start);
  };
  assert.deepEqual(add(0), [{ start: 0, end: 10, maxTs: 0 }]);
  assert.deepEqual(add(5), [{ start: 0, end: 15, maxTs: 5 }]);
  assert.deepEqual(add(30), [
    { start: 0, end: 15, maxTs: 5 },
    { start: 30, end: 40, maxTs: 30 },
  ]);
  // 20 overlaps neither [0,15) nor [30,40) alone but its window [20,30)... touches none: new session
  assert.equal(add(20).length, 3);
  // 14 bridges [0,15) and [20,30)? [14,24) overlaps both, then [30,40) via [20,30)? no: 30 is not < 30
  assert.deepEqual(add(14), [
    { start: 0, end: 30, maxTs: 20 },
    { start: 30, end: 40, maxTs: 30 },
  ]);
  // out of order event before the first session extends it backwards
  assert.deepEqual(add(-5)[0], { start: -5, end: 30, maxTs: 20 });
});

test('sessions are capped at start + maxLength and a busy key then starts a new session', () => {
  let sessions: Session[] = [];
  for (let ts = 0; ts < 250; ts += 5) {
    const a = assignSession(sessions, ts, 10, 100);
    sessions = [...sessions.filter((s) => !a.absorbed.includes(s)), a.window];
  }
  sessions.sort((a, b) => a.start - b.start);
  assert.deepEqual(
    sessions.map((s) => [s.start, s.end]),
    [
      [0, 100],
      [100, 200],
      [200, 255],
    ],
  );
});

test('window specs are validated with the field name', () => {
  assert.throws(() => {
    validateWindowSpec({ type: 'tumbling', sizeMs: 0 });
  }, /window.sizeMs/);
  assert.throws(() => {
    validateWindowSpec({ type: 'sliding', sizeMs: 10, slideMs: 20 });
  }, /slideMs/);
  assert.throws(() => {
    validateWindowSpec({ type: 'session', gapMs: 10, maxLengthMs: 5 });
  }, /maxLengthMs/);
});
