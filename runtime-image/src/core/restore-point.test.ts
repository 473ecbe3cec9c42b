import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRestorePoint, firstEpochAfter, type RestoreDecision } from './restore-point.ts';

const messageOf = (d: RestoreDecision): string => (d.use === 'error' ? d.message : `not an error: ${d.use}`);

test('a committed snapshot is restored whatever the sinks say', () => {
  assert.deepEqual(decideRestorePoint({ epoch: 7, committed: true }, true, [{ committedEpoch: 6 }]), {
    use: 'newest',
    rollForward: true,
  });
});

test('a pending snapshot rolls forward when no sink records its commits (files)', () => {
  assert.deepEqual(decideRestorePoint({ epoch: 7, committed: false }, true, [{ highestEpoch: 6 }, {}]), {
    use: 'newest',
    rollForward: true,
  });
});

test('a pending snapshot is restored when the sink that records commits committed its epoch', () => {
  assert.deepEqual(decideRestorePoint({ epoch: 7, committed: false }, true, [{ committedEpoch: 7 }, {}]), {
    use: 'newest',
    rollForward: true,
  });
});

test('a pending snapshot whose epoch no sink committed is discarded for the one before it, or for a fresh start', () => {
  assert.deepEqual(decideRestorePoint({ epoch: 7, committed: false }, true, [{ committedEpoch: 6 }]), {
    use: 'previous',
    discard: 7,
  });
  assert.deepEqual(
    decideRestorePoint({ epoch: 1, committed: false }, false, [{ committedEpoch: undefined }, { committedEpoch: 0 }]),
    {
      use: 'none',
      discard: 1,
    },
  );
});

test('sinks that disagree, or a sink ahead of every snapshot, are errors that say why', () => {
  const split = decideRestorePoint({ epoch: 7, committed: false }, true, [
    { committedEpoch: 7 },
    { committedEpoch: 6 },
  ]);
  assert.match(messageOf(split), /disagree .* epoch 7 .*1 of 2/);
  const ahead = decideRestorePoint({ epoch: 7, committed: false }, true, [{ committedEpoch: 9 }]);
  assert.match(messageOf(ahead), /committed epoch 9, newer than the newest snapshot \(7\)/);
});

test('epochs continue above every epoch seen, so that none repeats after restoring an older snapshot', () => {
  assert.equal(firstEpochAfter(20, [50, undefined, 31]), 50);
  assert.equal(firstEpochAfter(undefined, []), 0);
  assert.equal(firstEpochAfter(20, [3]), 20);
});
