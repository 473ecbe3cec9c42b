import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { latestOperation, operationsSince, phaseSpans, type AppStatus } from './status.ts';

const T = Date.UTC(2026, 11, 1, 12);
const at = (s: number) => new Date(T + s * 1000).toISOString();

describe('reading the status', () => {
  const status: AppStatus = {
    // newest first, as the operator keeps them
    operations: [
      { type: 'rollback', startedAt: at(30), outcome: 'Succeeded' },
      { type: 'upgrade', startedAt: at(10), outcome: 'Succeeded' },
      { type: 'deploy', startedAt: at(0), outcome: 'Succeeded' },
    ],
  };

  it('operations since an instant, with a second of slack for the status clock', () => {
    assert.deepEqual(
      operationsSince(status, T + 10_500).map((o) => o.type),
      ['rollback', 'upgrade'],
    );
    assert.deepEqual(operationsSince(status, T + 31_500), []);
  });

  it('the newest operation of a type', () => {
    assert.equal(latestOperation(status, 'upgrade')?.startedAt, at(10));
    assert.equal(latestOperation(status, 'suspend'), undefined);
  });

  it('phase spans start with the phase current at `from` and end at `to`', () => {
    const timeline = [
      { at: T, phase: 'Running' },
      { at: T + 5_000, phase: 'Savepointing' },
      { at: T + 7_000, phase: 'Cancelling' },
    ];
    assert.equal(phaseSpans(timeline, T + 4_000, T + 10_000), 'Running 1.0s → Savepointing 2.0s → Cancelling 3.0s');
  });
});
