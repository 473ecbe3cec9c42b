import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineFaults, parseFaults } from './faults.ts';

describe('fault switches (spec.config weir.faults.*)', () => {
  it('off unless configured; errors name the switch', () => {
    assert.deepEqual(parseFaults({}), {});
    assert.equal(
      engineFaults({}, 0, () => process.exit(99)),
      undefined,
    );
    const on = { 'weir.faults.stallWatermark': 'true', 'weir.faults.apiDelayMs': '10', other: 'x' };
    assert.deepEqual(parseFaults(on), { stallWatermark: true, apiDelayMs: 10 });
    const bad: [Record<string, string>, RegExp][] = [
      [{ 'weir.faults.stallWatermarks': 'true' }, /weir.faults.stallWatermarks is not a fault switch/],
      [{ 'weir.faults.apiDelayMs': '-1' }, /apiDelayMs must be a number ≥ 0/],
      [{ 'weir.faults.stallWatermark': 'yes' }, /must be 'true' or 'false'/],
      [{ 'weir.faults.crashAt': 'sometime' }, /crashAt must be one of barrier/],
    ];
    for (const [config, message] of bad) assert.throws(() => parseFaults(config), message);
  });

  it('crashAt a commit point dies there, on the chosen worker, after the chosen epoch', async () => {
    const died: string[] = [];
    const die = (): never => {
      died.push('x');
      throw new Error('died');
    };
    const f = engineFaults(
      parseFaults({
        'weir.faults.crashAt': 'manifest-written',
        'weir.faults.crashWorker': '1',
        'weir.faults.crashAfterEpochs': '2',
      }),
      1,
      die,
    );
    assert.ok(f?.onCheckpointPhase);
    for (const phase of ['barrier', 'state-written', 'manifest-written', 'committed'] as const)
      await f.onCheckpointPhase(phase, 1);
    assert.equal(died.length, 0, 'epoch 1 passes');
    await f.onCheckpointPhase('barrier', 2);
    await assert.rejects(async () => f.onCheckpointPhase?.('manifest-written', 2), /died/);
    const other = engineFaults(
      parseFaults({ 'weir.faults.crashAt': 'barrier', 'weir.faults.crashWorker': '1' }),
      0,
      die,
    );
    await other?.onCheckpointPhase?.('barrier', 1);
    assert.equal(died.length, 1, 'worker 0 is spared');
  });

  it('failCheckpoints fails at the barrier; checkpointDelayMs waits there', async () => {
    const f = engineFaults(
      parseFaults({ 'weir.faults.failCheckpoints': 'true', 'weir.faults.checkpointDelayMs': '30' }),
      0,
      () => process.exit(99),
    );
    const t0 = Date.now();
    await assert.rejects(async () => f?.onCheckpointPhase?.('barrier', 1), /injected: the checkpoint failed/);
    assert.ok(Date.now() - t0 >= 25);
  });
});
