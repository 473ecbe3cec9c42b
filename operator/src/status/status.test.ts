import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Decision } from '../decide/types.ts';
import { conditionsFor } from './conditions.ts';
import { applyStatusPatch } from './patch.ts';

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
