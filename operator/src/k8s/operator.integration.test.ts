// The operator against the real kube-apiserver (e2e's kubernetes()), with the fake runtime on
// loopback standing in for the runtime pods (a control plane without nodes runs no pods).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, BatchV1Api, type V1Job } from '@kubernetes/client-node';
import { kubernetesForTests } from '@weir/e2e';
import { names } from '../names.ts';
import type { StreamApplication } from '../model.ts';
import type { Controller } from './controller.ts';
import { OperatorHarness, pollFor, testSpec } from './testing/harness.ts';

const cluster = await kubernetesForTests();
const skip = cluster.available ? false : cluster.reason;

const phaseOf = (a: StreamApplication) => a.status?.phase;
const condition = (a: StreamApplication, type: string) => a.status?.conditions?.find((c) => c.type === type);
/** Settled on the current generation in `phase`. */
const settledIn = (phase: string) => (a: StreamApplication) =>
  a.status?.phase === phase && a.status.observedGeneration === a.metadata.generation;

describe('operator lifecycle against a real kube-apiserver', { skip }, () => {
  let h: OperatorHarness;
  let apps: AppsV1Api;
  let batch: BatchV1Api;
  let operator: Controller;
  const checkJobs = async (app: string): Promise<V1Job[]> =>
    (
      await batch.listNamespacedJob({
        namespace: h.namespace,
        labelSelector: `app.kubernetes.io/instance=${app},app.kubernetes.io/component=compatibility-check`,
      })
    ).items.filter((j) => j.metadata?.deletionTimestamp === undefined);

  before(async () => {
    if (!cluster.available) return;
    h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-op');
    apps = h.kc.makeApiClient(AppsV1Api);
    batch = h.kc.makeApiClient(BatchV1Api);
    operator = await h.startOperator();
  });
  after(async () => {
    if (cluster.available) await h.close();
  });

  it('create → Deploying → Running → Stable, with owned workloads, conditions and events', async () => {
    await h.create('orders', testSpec({ parallelism: 2 }));
    const app = await h.waitForPhase('orders', 'Stable');
    const sts = await apps.readNamespacedStatefulSet({ name: names('orders').workers, namespace: h.namespace });
    assert.equal(sts.spec?.replicas, 2);
    assert.equal(sts.metadata?.ownerReferences?.[0]?.uid, app.metadata.uid);
    assert.deepEqual(app.metadata.finalizers, ['weir.dev/finalizer']);
    const cond = Object.fromEntries((app.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.deepEqual(cond, { Ready: 'True', Reconciling: 'False', Stalled: 'False' });
    assert.equal(app.status?.observedGeneration, app.metadata.generation);
    assert.equal(app.status?.replicas, 2);
    assert.ok(app.status.lastStableSpec);
    assert.ok(app.status.eventTime?.watermark, 'watermark summary from the runtime');
    const expected = ['Deploying', 'JobRunning', 'Stable'];
    await h.eventsUntil('orders', expected.join(', '), (events) =>
      expected.every((r) => events.some((e) => e.reason === r)),
    );
  });

  it('upgrade: stop-with-savepoint, old version gone, new version restores that savepoint', async () => {
    await h.create('upgrade', testSpec());
    await h.waitForPhase('upgrade', 'Stable');
    await h.patchSpec('upgrade', { image: 'weir/app:2' });
    const app = await h.waitFor(
      'upgrade',
      'upgraded',
      (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('upgrade')).length === 2,
    );
    const [v1, v2] = h.fake.runsOf(h.key('upgrade'));
    assert.equal(v2?.image, 'weir/app:2');
    const savepoint = app.status?.savepoints?.last;
    assert.equal(savepoint?.trigger, 'upgrade');
    assert.equal(v2.restoredFrom, savepoint.path);
    assert.ok(v1?.stoppedAt !== undefined && v1.stoppedAt <= v2.startedAt, 'two versions never ran at once');
    const op = app.status?.operations?.find((o) => o.type === 'upgrade');
    assert.equal(op?.outcome, 'Succeeded');
    assert.equal(op.snapshot, savepoint.path);
    const expected = ['Savepointing', 'SavepointCompleted', 'Upgrading'];
    await h.eventsUntil('upgrade', expected.join(', '), (events) =>
      expected.every((r) => events.some((e) => e.reason === r)),
    );
  });

  it('a failed savepoint keeps the old version running and says why; the upgrade proceeds once it succeeds', async () => {
    await h.create('spfail', testSpec());
    await h.waitForPhase('spfail', 'Stable');
    h.fake.faults(h.key('spfail')).savepoint = 'fail';
    await h.patchSpec('spfail', { image: 'weir/app:2' });
    const failing = await h.waitFor('spfail', 'a failed savepoint recorded', (a) =>
      (a.status?.savepoints?.history ?? []).some((r) => r.result === 'Failed'),
    );
    assert.equal(phaseOf(failing), 'Savepointing');
    assert.equal(h.fake.runsOf(h.key('spfail')).length, 1);
    assert.equal(h.fake.jobs.get(h.key('spfail'))?.stopped, undefined, 'the old job still runs');
    await h.eventsUntil('spfail', 'a SavepointFailed warning', (events) =>
      events.some((e) => e.reason === 'SavepointFailed' && e.type === 'Warning'),
    );
    h.fake.faults(h.key('spfail')).savepoint = 'ok';
    await h.waitFor(
      'spfail',
      'upgraded after the retry',
      (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('spfail')).length === 2,
    );
  });

  it('an incompatible savepoint stops nothing and reports Stalled; fixing the spec recovers', async () => {
    await h.create('incompat', testSpec());
    await h.waitForPhase('incompat', 'Stable');
    h.fake.faults(h.key('incompat')).incompatible = ['operator "sum": state missing in the new dataflow'];
    await h.patchSpec('incompat', { image: 'weir/app:2' });
    const stalled = await h.waitFor('incompat', 'Stalled', (a) => condition(a, 'Stalled')?.status === 'True');
    assert.equal(condition(stalled, 'Stalled')?.reason, 'IncompatibleState');
    assert.match(condition(stalled, 'Stalled')?.message ?? '', /"sum": state missing/);
    assert.equal(phaseOf(stalled), 'Stable');
    assert.equal(h.fake.runsOf(h.key('incompat')).length, 1);
    assert.ok(!h.fake.requests.some((r) => r.app === h.key('incompat') && r.operationId === 'triggerSavepoint'));
    assert.ok((h.sim.checkRuns.get('incompat') ?? 0) >= 1, 'a new image is judged by a check Job running it');
    await h.patchSpec('incompat', { image: 'weir/app:1' });
    await h.waitFor(
      'incompat',
      'Stalled cleared',
      (a) => condition(a, 'Stalled')?.status === 'False' && settledIn('Stable')(a),
    );
  });

  it('a new image is checked by a Job running that image: incompatible stops nothing; a fixed image upgrades through the Job', async () => {
    await h.create('newimg', testSpec());
    const created = await h.waitForPhase('newimg', 'Stable');
    h.fake.faults(h.key('newimg')).incompatible = ['sum: the savepoint has state the new dataflow does not have'];
    await h.patchSpec('newimg', { image: 'weir/app:2' });
    const stalled = await h.waitFor('newimg', 'Stalled', (a) => condition(a, 'Stalled')?.status === 'True');
    assert.equal(condition(stalled, 'Stalled')?.reason, 'IncompatibleState');
    assert.match(condition(stalled, 'Stalled')?.message ?? '', /sum: the savepoint has state the new dataflow/);
    // The verdict came from the check Job (run by the real Job controller), not from the running runtime.
    const [job, ...others] = await checkJobs('newimg');
    assert.equal(others.length, 0);
    assert.ok(job);
    assert.equal(job.spec?.template.spec?.containers[0]?.image, 'weir/app:2');
    assert.equal(job.metadata?.ownerReferences?.[0]?.uid, created.metadata.uid);
    assert.equal(job.metadata?.labels?.['app.kubernetes.io/managed-by'], 'weir-operator');
    assert.ok(job.status?.conditions?.some((c) => c.type === 'Failed' && c.reason === 'PodFailurePolicy'));
    assert.ok((h.sim.checkRuns.get('newimg') ?? 0) >= 1);
    assert.ok(!h.fake.requests.some((r) => r.app === h.key('newimg') && r.operationId === 'checkCompatibility'));
    // Nothing stopped.
    assert.equal(phaseOf(stalled), 'Stable');
    assert.equal(h.fake.runsOf(h.key('newimg')).length, 1);
    assert.ok(!h.fake.requests.some((r) => r.app === h.key('newimg') && r.operationId === 'triggerSavepoint'));

    // A restarted operator finds the verdict in the cluster again: still stalled, no second check.
    const checksBefore = h.sim.checkRuns.get('newimg');
    await h.stopOperator(operator);
    operator = await h.startOperator();
    await h.patchSpec('newimg', { rollback: { readinessTimeoutSeconds: 31 } });
    // Reconciled at the new generation and stalled again. (A pass may first say it is checking:
    // what must hold is that it reaches the old verdict without running the check again.)
    const after = await h.waitFor(
      'newimg',
      'stalled again under the restarted operator',
      (a) => a.status?.observedGeneration === a.metadata.generation && condition(a, 'Stalled')?.status === 'True',
    );
    assert.equal(condition(after, 'Stalled')?.reason, 'IncompatibleState');
    assert.equal(h.sim.checkRuns.get('newimg'), checksBefore);
    assert.equal((await checkJobs('newimg')).length, 1);

    // A fixed image: checked by a new Job, compatible, upgraded; the check Jobs are cleaned up.
    h.fake.faults(h.key('newimg')).incompatible = [];
    await h.patchSpec('newimg', { image: 'weir/app:3' });
    const upgraded = await h.waitFor(
      'newimg',
      'upgraded to the fixed image',
      (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('newimg')).length === 2,
    );
    assert.equal(condition(upgraded, 'Stalled')?.status, 'False');
    const runs = h.fake.runsOf(h.key('newimg'));
    assert.equal(runs[1]?.image, 'weir/app:3');
    assert.equal(runs[1].restoredFrom, upgraded.status?.savepoints?.last?.path);
    assert.ok((h.sim.checkRuns.get('newimg') ?? 0) >= 2);
    await pollFor('the used check Jobs to be deleted', async () =>
      (await checkJobs('newimg')).length === 0 ? true : undefined,
    );
  });

  it('a check that cannot run (its pod never starts) stops nothing, says why, and is retried', async () => {
    await h.create('nocheck', testSpec());
    await h.waitForPhase('nocheck', 'Stable');
    h.sim.checkPodFaults.set('nocheck', 'neverStarts');
    await h.patchSpec('nocheck', { image: 'weir/app:2' });
    // activeDeadlineSeconds = upgrade.savepointTimeoutSeconds (10 s in testSpec).
    const failed = await h.waitFor(
      'nocheck',
      'CompatibilityCheckFailed',
      (a) => condition(a, 'Reconciling')?.reason === 'CompatibilityCheckFailed',
    );
    assert.match(condition(failed, 'Reconciling')?.message ?? '', /could not run: DeadlineExceeded/);
    assert.equal(phaseOf(failed), 'Stable');
    assert.equal(h.fake.runsOf(h.key('nocheck')).length, 1);
    await h.eventsUntil('nocheck', 'a CompatibilityCheckFailed warning', (events) =>
      events.some((e) => e.type === 'Warning' && e.reason === 'CompatibilityCheckFailed'),
    );
    // The image becomes runnable: the retry (a new attempt) gives a verdict and the upgrade proceeds.
    h.sim.checkPodFaults.delete('nocheck');
    await h.waitFor(
      'nocheck',
      'upgraded after the retried check',
      (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('nocheck')).length === 2,
    );
    assert.equal(h.fake.runsOf(h.key('nocheck'))[1]?.image, 'weir/app:2');
  });

  it('a failing new version rolls back to the last stable spec from the exact pre-upgrade savepoint', async () => {
    await h.create('rollback', testSpec());
    await h.waitForPhase('rollback', 'Stable');
    h.fake.faults(h.key('rollback')).failingImages = ['weir/app:bad'];
    await h.patchSpec('rollback', { image: 'weir/app:bad' });
    const rolled = await h.waitForPhase('rollback', 'RolledBack');
    const runs = h.fake.runsOf(h.key('rollback'));
    assert.deepEqual(
      runs.map((r) => r.image),
      ['weir/app:1', 'weir/app:bad', 'weir/app:1'],
    );
    assert.ok(runs[1]?.restoredFrom !== undefined);
    assert.equal(runs[2]?.restoredFrom, runs[1].restoredFrom, 'rollback restores the pre-upgrade savepoint');
    assert.equal(condition(rolled, 'Ready')?.status, 'False');
    // It stays rolled back until the user changes the spec.
    await h.patchSpec('rollback', { image: 'weir/app:3' });
    await h.waitFor(
      'rollback',
      'the new spec deployed',
      (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('rollback')).at(-1)?.image === 'weir/app:3',
    );
  });

  it('rescale through the scale subresource: savepoint, then redeploy at the new parallelism', async () => {
    await h.create('rescale', testSpec({ parallelism: 1 }));
    await h.waitForPhase('rescale', 'Stable');
    await h.scale('rescale', 3);
    const app = await h.waitFor(
      'rescale',
      'rescaled',
      (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('rescale')).length === 2,
    );
    const sts = await apps.readNamespacedStatefulSet({ name: names('rescale').workers, namespace: h.namespace });
    assert.equal(sts.spec?.replicas, 3);
    assert.equal(app.status?.replicas, 3);
    assert.equal(app.status.operations?.find((o) => o.type === 'rescale')?.outcome, 'Succeeded');
    assert.equal(h.fake.runsOf(h.key('rescale'))[1]?.restoredFrom, app.status.savepoints?.last?.path);
  });

  it('suspend removes the workloads keeping status; resume restores the suspend savepoint', async () => {
    await h.create('pause', testSpec());
    await h.waitForPhase('pause', 'Stable');
    await h.patchSpec('pause', { state: 'suspended' });
    const suspended = await h.waitForPhase('pause', 'Suspended');
    await pollFor('workloads removed', async () =>
      (await apps
        .readNamespacedStatefulSet({ name: names('pause').workers, namespace: h.namespace })
        .then(() => false)
        .catch(() => true))
        ? true
        : undefined,
    );
    assert.equal(suspended.status?.savepoints?.last?.trigger, 'suspend');
    assert.equal(suspended.status.replicas, 0);
    await h.patchSpec('pause', { state: 'running' });
    await h.waitFor('pause', 'resumed', (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('pause')).length === 2);
    assert.equal(h.fake.runsOf(h.key('pause'))[1]?.restoredFrom, suspended.status.savepoints.last.path);
  });

  it('deletion takes a final savepoint, then releases the finalizer', async () => {
    await h.create('goodbye', testSpec());
    await h.waitForPhase('goodbye', 'Stable');
    await h.delete('goodbye');
    await pollFor('the app to be gone', async () => ((await h.get('goodbye')) === undefined ? true : undefined));
    const sp = h.fake.requests.find((r) => r.app === h.key('goodbye') && r.operationId === 'triggerSavepoint');
    assert.deepEqual((sp?.body as { trigger: string; stop: boolean } | undefined)?.trigger, 'delete');
    assert.equal(h.fake.savepointsTaken.get(h.key('goodbye'))?.length, 1);
  });

  it('deletion never hangs on a savepoint that cannot complete', async () => {
    await h.create('stuck', testSpec({ savepoints: { onDeleteTimeoutSeconds: 10 } }));
    await h.waitForPhase('stuck', 'Stable');
    h.fake.faults(h.key('stuck')).savepoint = 'slow';
    await h.delete('stuck');
    await pollFor('the app to be gone', async () => ((await h.get('stuck')) === undefined ? true : undefined), 20_000);
  });
});

describe('operator restarts resume where they were', { skip }, () => {
  let h: OperatorHarness;
  before(async () => {
    if (cluster.available) h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-op-restart');
  });
  after(async () => {
    if (cluster.available) await h.close();
  });

  it('restarted during Savepointing: polls the same savepoint and completes the upgrade', async () => {
    let op = await h.startOperator();
    await h.create('sp', testSpec());
    await h.waitForPhase('sp', 'Stable');
    h.fake.faults(h.key('sp')).savepoint = 'slow';
    await h.patchSpec('sp', { image: 'weir/app:2' });
    const mid = await h.waitFor('sp', 'savepoint pending', (a) => a.status?.pendingSavepoint !== undefined);
    await h.stopOperator(op);
    h.fake.faults(h.key('sp')).savepoint = 'ok';
    op = await h.startOperator();
    const done = await h.waitFor(
      'sp',
      'upgraded',
      (a) => settledIn('Stable')(a) && h.fake.runsOf(h.key('sp')).length === 2,
    );
    assert.equal(
      done.status?.savepoints?.last?.path.endsWith(mid.status?.pendingSavepoint?.triggerId ?? '?'),
      true,
      'the same savepoint',
    );
    await h.stopOperator(op);
  });

  it('restarted during Deploying and during Suspending: carries on', async () => {
    let op = await h.startOperator();
    h.fake.faults(h.key('dep')).neverRuns = true;
    await h.create('dep', testSpec());
    await h.waitForPhase('dep', 'Deploying');
    await h.stopOperator(op);
    h.fake.faults(h.key('dep')).neverRuns = false;
    op = await h.startOperator();
    await h.waitForPhase('dep', 'Stable');
    h.fake.faults(h.key('dep')).savepoint = 'slow';
    await h.patchSpec('dep', { state: 'suspended' });
    await h.waitForPhase('dep', 'Suspending');
    await h.stopOperator(op);
    h.fake.faults(h.key('dep')).savepoint = 'ok';
    op = await h.startOperator();
    await h.waitForPhase('dep', 'Suspended');
    await h.stopOperator(op);
  });
});

describe('two operator replicas', { skip }, () => {
  let h: OperatorHarness;
  before(async () => {
    if (cluster.available) h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-op-ha');
  });
  after(async () => {
    if (cluster.available) await h.close();
  });

  it('elect one leader; when it stops, the other takes over', async () => {
    const lease = { namespace: h.namespace, name: 'weir-operator', leaseDurationSeconds: 3, renewEveryMs: 300 };
    const a = await h.startOperator({ leaderElection: lease, identity: 'replica-a' });
    const b = await h.startOperator({ leaderElection: lease, identity: 'replica-b' });
    await pollFor('a leader', () => Promise.resolve(a.leading || b.leading ? true : undefined));
    // Both keep competing: over a second of renewals there is never more than one leader.
    const watchUntil = Date.now() + 1000;
    while (Date.now() < watchUntil) {
      assert.ok([a, b].filter((c) => c.leading).length <= 1, 'two leaders at once');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal([a, b].filter((c) => c.leading).length, 1);
    const [leader, follower] = a.leading ? [a, b] : [b, a];
    await h.create('ha', testSpec());
    await h.waitForPhase('ha', 'Stable');
    await h.stopOperator(leader);
    await pollFor('the follower to lead', () => Promise.resolve(follower.leading ? true : undefined), 10_000);
    await h.patchSpec('ha', { parallelism: 2 });
    await h.waitFor(
      'ha',
      'rescaled by the new leader',
      (x) => settledIn('Stable')(x) && h.fake.runsOf(h.key('ha')).length === 2,
    );
  });
});
