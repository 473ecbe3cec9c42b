import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { adEvent } from './ads.ts';
import { reportTable } from './report.ts';
import {
  compareAppend,
  compareUpsert,
  expectedResults,
  parseResult,
  WINDOW_MS,
  type AdEvent,
  type WindowResult,
} from './results.ts';

const T = Date.UTC(2026, 0, 1);
const ev = (id: number, campaign: string, type: AdEvent['type'], amount: number, ts: number): AdEvent => ({
  id,
  campaign,
  type,
  amount,
  ts,
});
const res = (key: string, start: number, sales: number, revenueCents: number, revision?: number): WindowResult => ({
  key,
  start,
  value: { sales, revenueCents },
  ...(revision === undefined ? {} : { revision }),
});

describe('the expectation, computed from the input alone', () => {
  it('sums per campaign and minute of event time, counting sales', () => {
    const exp = expectedResults([
      ev(0, 'a', 'sale', 100, T),
      ev(1, 'a', 'impression', 0, T + 59_999),
      ev(2, 'a', 'sale', 50, T + WINDOW_MS),
      ev(3, 'b', 'click', 0, T + 1),
    ]);
    assert.deepEqual(Object.fromEntries(exp), {
      [`a@${T}`]: { sales: 1, revenueCents: 100 },
      [`a@${T + WINDOW_MS}`]: { sales: 1, revenueCents: 50 },
      [`b@${T}`]: { sales: 0, revenueCents: 0 },
    });
  });

  it('the generated events are deterministic, unique and advance event time', () => {
    const a = Array.from({ length: 100 }, (_, i) => adEvent(i, 50));
    assert.deepEqual(
      a,
      Array.from({ length: 100 }, (_, i) => adEvent(i, 50)),
    );
    assert.equal(new Set(a.map((e) => e.id)).size, 100);
    assert.ok(a.every((e, i) => i === 0 || e.ts > (a[i - 1]?.ts ?? 0)));
    assert.ok(a.every((e) => (e.type === 'sale') === e.amount > 0));
  });
});

describe('comparing committed output with the expectation', () => {
  const expected = expectedResults([ev(0, 'a', 'sale', 100, T), ev(1, 'b', 'sale', 7, T)]);

  it('append: exact output passes; a lost, a repeated and a wrong window are each named', () => {
    assert.deepEqual(compareAppend(expected, [res('a', T, 1, 100), res('b', T, 1, 7)]), {
      missing: [],
      duplicated: [],
      wrong: [],
      unexpected: [],
    });
    const bad = compareAppend(expected, [res('a', T, 1, 100), res('a', T, 1, 100), res('c', T, 0, 0)]);
    assert.deepEqual(bad.missing, [`b@${T}`]);
    assert.deepEqual(bad.duplicated, [`a@${T}`]);
    assert.deepEqual(bad.unexpected, [`c@${T}`]);
    assert.deepEqual(compareAppend(expected, [res('a', T, 1, 99), res('b', T, 1, 7)]).wrong.length, 1);
  });

  it('ignored keys (the flush) are neither unexpected nor duplicated', () => {
    const c = compareAppend(
      expected,
      [res('a', T, 1, 100), res('b', T, 1, 7), res('flush', T, 0, 0)],
      (k) => k === 'flush',
    );
    assert.deepEqual(c.unexpected, []);
  });

  it('upsert: the latest revision must be right; a repeated revision is a duplicate', () => {
    const c = compareUpsert(expected, [res('a', T, 0, 0, 0), res('a', T, 1, 100, 1), res('b', T, 1, 7)]);
    assert.deepEqual([c.missing, c.duplicated, c.wrong], [[], [], []]);
    const again = compareUpsert(expected, [res('a', T, 1, 100), res('a', T, 1, 100), res('b', T, 1, 7)]);
    assert.deepEqual(again.duplicated, [`a@${T}`]);
    assert.deepEqual(again.wrong, []);
    assert.equal(compareUpsert(expected, [res('a', T, 1, 100, 1), res('a', T, 0, 0, 0)]).wrong.length, 0);
  });

  it('parses window results and nothing else', () => {
    assert.deepEqual(parseResult(JSON.stringify(res('a', T, 1, 2))), res('a', T, 1, 2));
    assert.equal(parseResult('{"key": 1}'), undefined);
    assert.equal(parseResult('not json'), undefined);
  });
});

describe('the results table', () => {
  it('one Markdown row per scenario, pipes escaped', () => {
    const table = reportTable(
      [{ scenario: 'a|b', downtime: '1.0s', phases: 'Running 1.0s', lost: 0, duplicated: 2, note: '' }],
      new Date(Date.UTC(2026, 11, 1, 22, 0)),
    );
    assert.match(table, /2026-12-01 22:00 UTC/);
    assert.match(table, /\| a\\\|b \| 1\.0s \| Running 1\.0s \| 0 \| 2 \| – \|/);
  });
});
