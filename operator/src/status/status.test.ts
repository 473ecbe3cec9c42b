import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Decision } from '../decide/types.ts';
import { conditionsFor } from './conditions.ts';
import { applyStatusPatch, statusWriteNeeded } from './patch.ts';

const decision = (extra: Partial<Decision> = {}): Decision => ({
  phase: 'Stable',
  reason: 'Stable',
  message: 'running and stable',
  actions: [],
  patch: {},
  ...extra,
});

describe('status', () => {
  it('a patch replaces listed fields and removes the ones set to undefined', () => {
    const next = applyStatusPatch(
      { phase: 'Running', pendingSavepoint: { triggerId: 'x', trigger: 'manual', startedAt: 't' }, replicas: 2 },
      {
        phase: 'Stable',
        pendingSavepoint: undefined,
      },
    );
    assert.deepEqual(next, { phase: 'Stable', replicas: 2 });
  });

  it('the live summary alone is rewritten at most every refresh period; any other change at once', () => {
    const t0 = Date.parse('2026-11-25T10:00:00Z');
    const before = {
      phase: 'Running' as const,
      eventTime: { watermark: '2026-11-25T09:59:50Z', lagSeconds: 10, observedAt: new Date(t0).toISOString() },
      checkpoints: { lastCompleted: { id: 4, time: '2026-11-25T09:59:58Z', path: 'cp/4' } },
    };
    const live = {
      ...before,
      eventTime: { watermark: '2026-11-25T09:59:55Z', lagSeconds: 6, observedAt: new Date(t0 + 5_000).toISOString() },
      checkpoints: { lastCompleted: { id: 5, time: '2026-11-25T10:00:04Z', path: 'cp/5' } },
    };
    assert.equal(statusWriteNeeded(before, before, t0 + 5_000, 15_000), false, 'nothing changed');
    assert.equal(statusWriteNeeded(before, live, t0 + 5_000, 15_000), false, 'summary stored 5 s ago');
    assert.equal(statusWriteNeeded(before, live, t0 + 15_000, 15_000), true, 'summary stored 15 s ago');
    assert.equal(statusWriteNeeded(before, { ...live, phase: 'Stable' }, t0 + 5_000, 15_000), true, 'phase changed');
    const { eventTime: _unused, ...neverStored } = before;
    assert.equal(statusWriteNeeded(neverStored, live, t0 + 1, 15_000), true, 'no summary stored yet');
  });

  it('conditions: settled and serving → Ready, not Reconciling, not Stalled', () => {
    const c = conditionsFor('Stable', decision(), 3, undefined, 'T1');
    assert.deepEqual(
      c.map((x) => [x.type, x.status, x.observedGeneration]),
      [
        ['Ready', 'True', 3],
        ['Reconciling', 'False', 3],
        ['Stalled', 'False', 3],
      ],
    );
  });

  it('conditions: a stalled upgrade says why, and transition times move only on change', () => {
    const before = conditionsFor(
      'Savepointing',
      decision({ phase: 'Savepointing', reason: 'SavepointInProgress' }),
      4,
      undefined,
      'T1',
    );
    assert.equal(before.find((x) => x.type === 'Reconciling')?.status, 'True');
    const stalled = conditionsFor(
      'Savepointing',
      decision({
        phase: 'Savepointing',
        reason: 'SavepointFailed',
        stalled: { reason: 'SavepointFailing', message: '3 attempts failed' },
      }),
      4,
      before,
      'T2',
    );
    const s = stalled.find((x) => x.type === 'Stalled');
    assert.equal(s?.status, 'True');
    assert.equal(s.reason, 'SavepointFailing');
    assert.equal(s.lastTransitionTime, 'T2');
    assert.equal(stalled.find((x) => x.type === 'Ready')?.lastTransitionTime, 'T1', 'Ready did not change');
  });
});
