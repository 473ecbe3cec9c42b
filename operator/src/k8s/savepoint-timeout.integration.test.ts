// A savepoint that outlives its timeout is cancelled in the runtime, against the real
// kube-apiserver with the fake runtime standing in for the pods: the old job must keep running
// (a late stop-with-savepoint would otherwise stop it behind the operator's back).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubernetesForTests } from '@weir/e2e';
import type { StreamApplication } from '../model.ts';
import type { SavepointRequest } from '@weir/runtime/api';
import { OperatorHarness, testSpec } from './testing/harness.ts';

const cluster = await kubernetesForTests();
const skip = cluster.available ? false : cluster.reason;

const failedSavepoints = (a: StreamApplication) =>
  (a.status?.savepoints?.history ?? []).filter((r) => r.result === 'Failed');

describe('a savepoint past its timeout is cancelled in the runtime', { skip }, () => {
  let h: OperatorHarness;

  before(async () => {
    if (!cluster.available) return;
    h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-sp-timeout');
    await h.startOperator();
  });
  after(async () => {
    if (cluster.available) await h.close();
  });

  it('a stuck upgrade savepoint: cancelled, the old job keeps running, the failure is reported, the retry upgrades', async () => {
    const name = 'stuck-upgrade';
    const key = h.key(name);
    await h.create(name, testSpec()); // upgrade.savepointTimeoutSeconds: 10
    await h.waitForPhase(name, 'Stable');
    h.fake.faults(key).savepoint = 'slow';
    const patchedAt = Date.now();
    // An upgrade that needs no pre-flight check (none of the dataflow changes), so the stop-with-savepoint starts at once.
    await h.patchSpec(name, { imagePullPolicy: 'Always' });

    const failing = await h.waitFor(
      name,
      'the timed-out savepoint recorded as failed',
      (a) => failedSavepoints(a).length > 0,
      40_000,
    );
    assert.ok(Date.now() - patchedAt >= 10_000, 'not given up on before its timeout');
    assert.equal(failing.status?.phase, 'Savepointing');
    assert.match(failedSavepoints(failing)[0]?.message ?? '', /timed out after 10s; cancelled in the runtime/);

    // The runtime saw the cancel of exactly the savepoint the operator gave up on.
    const requests = h.fake.requests.filter((r) => r.app === key);
    const first = requests.find((r) => r.operationId === 'triggerSavepoint')?.body as SavepointRequest | undefined;
    assert.ok(first !== undefined && first.stop && first.trigger === 'upgrade');
    assert.ok(
      requests.some((r) => r.operationId === 'cancelSavepoint'),
      'cancelSavepoint was called',
    );
    const job = h.fake.jobs.get(key);
    assert.equal(job?.savepoints.get(first.requestId)?.settled?.state, 'CANCELED');
    // The old version still runs: not stopped, no second run, the same workloads.
    assert.equal(job.stopped, undefined, 'the old job was not stopped');
    assert.equal(h.fake.runsOf(key).length, 1);
    assert.equal(h.fake.savepointsTaken.get(key), undefined, 'nothing was written for the cancelled savepoint');
    await h.eventsUntil(name, 'SavepointTimedOut and SavepointFailed warnings', (events) =>
      ['SavepointTimedOut', 'SavepointFailed'].every((r) => events.some((e) => e.reason === r && e.type === 'Warning')),
    );

    // The retry path goes on: once the runtime can take savepoints, the next attempt upgrades.
    h.fake.faults(key).savepoint = 'ok';
    const upgraded = await h.waitFor(
      name,
      'upgraded after the retry',
      (a) => a.status?.phase === 'Stable' && h.fake.runsOf(key).length === 2,
      60_000,
    );
    const retried = h.fake.requests
      .filter((r) => r.app === key && r.operationId === 'triggerSavepoint')
      .map((r) => (r.body as SavepointRequest).requestId);
    const retryId = retried.find((id) => id !== first.requestId);
    assert.ok(retryId !== undefined, 'a new savepoint attempt under a new id');
    assert.equal(job.savepoints.get(first.requestId)?.settled?.state, 'CANCELED', 'the cancelled one stays cancelled');
    const [v1, v2] = h.fake.runsOf(key);
    assert.ok(v2 !== undefined && v2.specHash !== v1?.specHash, 'the new version runs');
    assert.equal(v2.restoredFrom, `file:///weir/savepoints/${key}/${retryId}`);
    assert.ok(v1?.stoppedAt !== undefined && v1.stoppedAt <= v2.startedAt, 'two versions never ran at once');
    assert.equal(upgraded.status?.operations?.find((o) => o.type === 'upgrade')?.outcome, 'Succeeded');
  });

  it('a stop-with-savepoint that completes as the cancel arrives is not lost: the upgrade goes on from it', async () => {
    const name = 'late-upgrade';
    const key = h.key(name);
    await h.create(name, testSpec()); // upgrade.savepointTimeoutSeconds: 10
    await h.waitForPhase(name, 'Stable');
    h.fake.faults(key).savepoint = 'late';
    await h.patchSpec(name, { imagePullPolicy: 'Always' });
    const app = await h.waitFor(
      name,
      'upgraded from the late savepoint',
      (a) => a.status?.phase === 'Stable' && h.fake.runsOf(key).length === 2,
      60_000,
    );
    const trigger = h.fake.requests.find((r) => r.app === key && r.operationId === 'triggerSavepoint');
    const id = (trigger?.body as SavepointRequest | undefined)?.requestId;
    assert.ok(h.fake.requests.some((r) => r.app === key && r.operationId === 'cancelSavepoint'));
    const path = `file:///weir/savepoints/${key}/${id ?? ''}`;
    assert.equal(app.status?.savepoints?.last?.path, path);
    assert.deepEqual(failedSavepoints(app), [], 'not recorded as a failure');
    const [v1, v2] = h.fake.runsOf(key);
    assert.equal(v2?.restoredFrom, path, 'the new version restores the savepoint the old one stopped with');
    assert.ok(v1?.stoppedAt !== undefined && v1.stoppedAt <= v2.startedAt, 'two versions never ran at once');
    assert.equal(app.status.operations?.find((o) => o.type === 'upgrade')?.snapshot, path);
  });
});
