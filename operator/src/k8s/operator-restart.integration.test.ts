// An operator crash in every lifecycle phase: one operator process drives an app into each phase
// (held there by the fake runtime's failure switches or a pod that does not go away), is killed
// with SIGKILL, and a fresh process must resume each app from its status: same phase first, then
// the expected outcome, no second savepoint for one pending, never two versions' workloads at
// once, and a consistent operation history. All apps share one namespace and run in parallel.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node models are plain data */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubernetesForTests } from '@weir/e2e';
import { FINALIZER } from '../names.ts';
import { Phase } from '../decide/types.ts';
import type { StreamApplication } from '../model.ts';
import { OperatorHarness, pollFor, testSpec } from './testing/harness.ts';
import { OperatorProcess } from './testing/operator-process-handle.ts';

const cluster = await kubernetesForTests();
const skip = cluster.available ? false : cluster.reason;

/** Deadlines far beyond the test's length: a hold must not turn into a timeout on a slow machine. */
const patientSpec = (overrides: Record<string, unknown> = {}) =>
  testSpec({
    upgrade: { savepointTimeoutSeconds: 120, cancelTimeoutSeconds: 120, deployTimeoutSeconds: 120 },
    ...overrides,
  });

interface Scenario {
  /** The phase the operator is killed in. */
  phase: Phase;
  /** Drives the app into `phase` with the first operator (absent: the app is created while no operator runs). */
  setup?: (app: string) => Promise<void>;
  /** Created while no operator runs (the crash happened before the first status write). */
  whileDown?: (app: string) => Promise<void>;
  /** Lifts the hold once the new operator has reconciled the app. */
  release?: (app: string) => unknown;
  /** The outcome after the restart; `before` is the status at the crash. */
  verify: (app: string, before: StreamApplication | undefined) => Promise<void>;
}

describe('an operator crash in every phase resumes correctly', { skip }, () => {
  let h: OperatorHarness;
  let core: CoreV1Api;
  let op: OperatorProcess | undefined;
  const startOperator = () =>
    OperatorProcess.start({
      namespace: h.namespace,
      runtimeUrl: h.fake.url,
      kubeconfigPath: cluster.available ? cluster.component.kubeconfigPath : '',
    });

  before(async () => {
    if (!cluster.available) return;
    h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-op-crash');
    core = h.kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await op?.kill();
    if (cluster.available) await h.close();
  });

  const key = (app: string) => h.key(app);
  const runs = (app: string) => h.fake.runsOf(key(app));
  const settled = (phase: string) => (a: StreamApplication) =>
    a.status?.phase === phase && a.status.observedGeneration === a.metadata.generation;
  /** The distinct savepoint ids the operator asked the runtime for. */
  const savepointIds = (app: string) =>
    new Set(
      h.fake.requests
        .filter((r) => r.app === key(app) && r.operationId === 'triggerSavepoint')
        .map((r) => (r.body as { requestId: string }).requestId),
    );
  /** A pod of the app that does not go away (a node that stopped reporting): holds the wait for old pods. */
  const strayPod = (app: string) =>
    core.createNamespacedPod({
      namespace: h.namespace,
      body: {
        metadata: {
          name: `${app}-stray`,
          labels: { 'app.kubernetes.io/instance': app, 'app.kubernetes.io/name': 'weir-app' },
        },
        spec: { containers: [{ name: 'c', image: 'weir/app:1' }] },
      },
    });
  const removeStrayPod = (app: string) =>
    core.deleteNamespacedPod({ name: `${app}-stray`, namespace: h.namespace, gracePeriodSeconds: 0 });
  /** Generous: fifteen apps move at once on a shared, possibly busy control plane. */
  const stableWith = async (app: string, n: number) => {
    let seen = '';
    try {
      return await h.waitFor(
        app,
        `Stable with ${n} run(s)`,
        (a) => {
          seen = `${a.status?.phase ?? '(none)'}/${a.status?.conditions?.find((c) => c.type === 'Reconciling')?.reason ?? ''}, ${runs(app).length} run(s)`;
          return settled('Stable')(a) && runs(app).length === n;
        },
        90_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen ${seen}`, { cause: err });
    }
  };

  const scenarios: Record<string, Scenario> = {
    pending: {
      phase: Phase.Pending,
      whileDown: (app) => h.create(app, patientSpec(), { finalizers: [FINALIZER] }),
      verify: async (app) => {
        const a = await stableWith(app, 1);
        assert.deepEqual(
          a.status?.operations?.map((o) => [o.type, o.outcome]),
          [['deploy', 'Succeeded']],
        );
      },
    },
    deploying: {
      phase: Phase.Deploying,
      setup: async (app) => {
        h.fake.faults(key(app)).neverRuns = true;
        await h.create(app, patientSpec());
        await h.waitFor(
          app,
          'Deploying with its workloads',
          (a) => a.status?.phase === 'Deploying' && runs(app).length === 1,
        );
      },
      release: (app) => {
        h.fake.faults(key(app)).neverRuns = false;
      },
      verify: async (app) => {
        const a = await stableWith(app, 1);
        assert.equal(a.status?.operations?.[0]?.type, 'deploy');
        assert.equal(a.status.operations[0].outcome, 'Succeeded');
      },
    },
    running: {
      phase: Phase.Running,
      setup: async (app) => {
        h.fake.faults(key(app)).stallWatermark = true;
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Running');
      },
      release: (app) => {
        h.fake.faults(key(app)).stallWatermark = false;
      },
      verify: async (app) => {
        const a = await stableWith(app, 1);
        assert.ok(a.status?.lastStableSpec !== undefined);
      },
    },
    stable: {
      phase: Phase.Stable,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
      },
      verify: async (app, before) => {
        const a = await h.waitFor(app, 'Stable', settled('Stable'));
        assert.equal(runs(app).length, 1, 'the running job is left alone');
        assert.equal(savepointIds(app).size, 0);
        assert.deepEqual(a.status?.operations, before?.status?.operations);
      },
    },
    savepointing: {
      phase: Phase.Savepointing,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        h.fake.faults(key(app)).savepoint = 'slow';
        await h.patchSpec(app, { image: 'weir/app:2' });
        await h.waitFor(app, 'savepoint pending', (a) => a.status?.pendingSavepoint !== undefined);
      },
      release: (app) => {
        h.fake.faults(key(app)).savepoint = 'ok';
      },
      verify: async (app, before) => {
        const a = await stableWith(app, 2);
        const id = before?.status?.pendingSavepoint?.triggerId ?? '?';
        assert.deepEqual([...savepointIds(app)], [id], 'no second savepoint');
        assert.equal(a.status?.savepoints?.last?.path.endsWith(id), true);
        assert.equal(runs(app)[1]?.restoredFrom, a.status.savepoints.last.path);
        assert.equal(runs(app)[1]?.image, 'weir/app:2');
      },
    },
    'savepointing-lost': {
      phase: Phase.Savepointing,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        // The savepoint id is in status but the runtime never got the request (lost to a crash).
        h.fake.faults(key(app)).loseSavepointRequests = true;
        await h.patchSpec(app, { image: 'weir/app:2' });
        await h.waitFor(app, 'savepoint pending', (a) => a.status?.pendingSavepoint !== undefined);
      },
      release: (app) => {
        h.fake.faults(key(app)).loseSavepointRequests = false;
      },
      verify: async (app, before) => {
        const a = await stableWith(app, 2);
        const id = before?.status?.pendingSavepoint?.triggerId ?? '?';
        assert.deepEqual([...savepointIds(app)], [id], 'asked again under the same id');
        assert.equal(a.status?.savepoints?.last?.path.endsWith(id), true);
        assert.equal(runs(app)[1]?.restoredFrom, a.status.savepoints.last.path);
      },
    },
    cancelling: {
      phase: Phase.Cancelling,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        await strayPod(app);
        await h.patchSpec(app, { image: 'weir/app:2' });
        await h.waitForPhase(app, 'Cancelling');
      },
      release: async (app) => {
        await removeStrayPod(app);
      },
      verify: async (app) => {
        const a = await stableWith(app, 2);
        assert.equal(savepointIds(app).size, 1);
        assert.equal(runs(app)[1]?.restoredFrom, a.status?.savepoints?.last?.path);
      },
    },
    upgrading: {
      phase: Phase.Upgrading,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        h.fake.faults(key(app)).neverRunsImages = ['weir/app:2'];
        await h.patchSpec(app, { image: 'weir/app:2' });
        await h.waitFor(
          app,
          'Upgrading, new version not running',
          (a) => a.status?.phase === 'Upgrading' && runs(app).length === 2,
        );
      },
      release: (app) => {
        h.fake.faults(key(app)).neverRunsImages = [];
      },
      verify: async (app) => {
        const a = await stableWith(app, 2);
        assert.equal(savepointIds(app).size, 1);
        assert.equal(runs(app)[1]?.image, 'weir/app:2');
        assert.equal(a.status?.operations?.[0]?.type, 'upgrade');
        assert.equal(a.status.operations[0].outcome, 'Succeeded');
      },
    },
    'rolling-back': {
      phase: Phase.RollingBack,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        h.fake.faults(key(app)).failingImages = ['weir/app:bad'];
        h.fake.faults(key(app)).neverRunsImages = ['weir/app:1'];
        await h.patchSpec(app, { image: 'weir/app:bad' });
        await h.waitFor(
          app,
          'RollingBack, old version redeployed',
          (a) => a.status?.phase === 'RollingBack' && runs(app).length === 3,
        );
      },
      release: (app) => {
        h.fake.faults(key(app)).neverRunsImages = [];
      },
      verify: async (app) => {
        const a = await h.waitForPhase(app, 'RolledBack');
        const r = runs(app);
        assert.deepEqual(
          r.map((x) => x.image),
          ['weir/app:1', 'weir/app:bad', 'weir/app:1'],
        );
        assert.equal(r[2]?.restoredFrom, r[1]?.restoredFrom, 'the pre-upgrade savepoint');
        assert.equal(savepointIds(app).size, 1);
        assert.equal(a.status?.operations?.[0]?.outcome, 'Succeeded');
      },
    },
    'rolled-back': {
      phase: Phase.RolledBack,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        h.fake.faults(key(app)).failingImages = ['weir/app:bad'];
        await h.patchSpec(app, { image: 'weir/app:bad' });
        await h.waitForPhase(app, 'RolledBack');
      },
      verify: async (app, before) => {
        const a = await h.waitForPhase(app, 'RolledBack');
        assert.equal(runs(app).length, 3, 'nothing redeployed');
        assert.equal(savepointIds(app).size, 1);
        assert.deepEqual(a.status?.operations, before?.status?.operations);
        // The user's way out still works after the restart.
        await h.patchSpec(app, { image: 'weir/app:3' });
        await stableWith(app, 4);
        assert.equal(runs(app)[3]?.image, 'weir/app:3');
      },
    },
    suspending: {
      phase: Phase.Suspending,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        h.fake.faults(key(app)).savepoint = 'slow';
        await h.patchSpec(app, { state: 'suspended' });
        await h.waitFor(
          app,
          'suspend savepoint pending',
          (a) => a.status?.phase === 'Suspending' && a.status.pendingSavepoint !== undefined,
        );
      },
      release: (app) => {
        h.fake.faults(key(app)).savepoint = 'ok';
      },
      verify: async (app, before) => {
        const a = await h.waitForPhase(app, 'Suspended');
        const id = before?.status?.pendingSavepoint?.triggerId ?? '?';
        assert.deepEqual([...savepointIds(app)], [id], 'no second savepoint');
        assert.equal(a.status?.savepoints?.last?.path.endsWith(id), true);
        await pollFor('the job gone', () => Promise.resolve(h.fake.jobs.has(key(app)) ? undefined : true));
      },
    },
    suspended: {
      phase: Phase.Suspended,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        await h.patchSpec(app, { state: 'suspended' });
        await h.waitForPhase(app, 'Suspended');
      },
      verify: async (app, before) => {
        const a = await h.waitForPhase(app, 'Suspended');
        assert.equal(runs(app).length, 1, 'nothing deployed while suspended');
        assert.deepEqual(a.status?.operations, before?.status?.operations);
        await h.patchSpec(app, { state: 'running' });
        await stableWith(app, 2);
        assert.equal(runs(app)[1]?.restoredFrom, a.status?.savepoints?.last?.path);
      },
    },
    restarting: {
      phase: Phase.Restarting,
      setup: async (app) => {
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Stable');
        await strayPod(app);
        h.fake.faults(key(app)).jobFailed = true;
        await h.waitForPhase(app, 'Restarting');
      },
      release: async (app) => {
        h.fake.faults(key(app)).jobFailed = false;
        await removeStrayPod(app);
      },
      verify: async (app) => {
        const a = await stableWith(app, 2);
        assert.match(runs(app)[1]?.restoredFrom ?? '', /checkpoints/, 'recovered from the latest checkpoint');
        assert.ok(a.status?.operations?.some((o) => o.type === 'recover' && o.outcome === 'Succeeded'));
      },
    },
    failed: {
      phase: Phase.Failed,
      setup: async (app) => {
        // A first deploy whose job fails has nothing to recover to.
        h.fake.faults(key(app)).failingImages = ['weir/app:1'];
        await h.create(app, patientSpec());
        await h.waitForPhase(app, 'Failed');
      },
      verify: async (app, before) => {
        const a = await h.waitForPhase(app, 'Failed');
        assert.equal(runs(app).length, 1, 'a failed app is not redeployed by itself');
        assert.deepEqual(a.status?.operations, before?.status?.operations);
        h.fake.faults(key(app)).failingImages = [];
        await h.patchSpec(app, { restartNonce: 1 });
        await stableWith(app, 2);
      },
    },
    deleting: {
      phase: Phase.Deleting,
      setup: async (app) => {
        await h.create(app, patientSpec({ savepoints: { onDeleteTimeoutSeconds: 120 } }));
        await h.waitForPhase(app, 'Stable');
        h.fake.faults(key(app)).savepoint = 'slow';
        await h.delete(app);
        await h.waitFor(
          app,
          'final savepoint pending',
          (a) => a.status?.phase === 'Deleting' && a.status.pendingSavepoint !== undefined,
        );
      },
      release: (app) => {
        h.fake.faults(key(app)).savepoint = 'ok';
      },
      verify: async (app, before) => {
        // Bounded by onDeleteTimeoutSeconds (pods the garbage collector is slow to remove are waited for up to it).
        await pollFor(`${app} to be gone`, async () => ((await h.get(app)) === undefined ? true : undefined), 150_000);
        const id = before?.status?.pendingSavepoint?.triggerId ?? '?';
        assert.deepEqual([...savepointIds(app)], [id], 'no second final savepoint');
        assert.deepEqual(
          h.fake.savepointsTaken.get(key(app))?.map((p) => p.endsWith(id)),
          [true],
        );
      },
    },
  };

  it('covers every phase', () => {
    assert.deepEqual([...new Set(Object.values(scenarios).map((s) => s.phase))].sort(), Object.values(Phase).sort());
  });

  it('SIGKILL in each phase, then a fresh operator resumes every app', async () => {
    const entries = Object.entries(scenarios);
    op = startOperator();
    await Promise.all(
      entries.map(async ([app, s]) => {
        await s.setup?.(app);
      }),
    );
    const before = new Map<string, StreamApplication | undefined>();
    for (const [app, s] of entries) {
      if (s.setup === undefined) continue;
      const a = await h.get(app);
      assert.equal(a?.status?.phase, s.phase, `${app} still held in ${s.phase} at the crash`);
      before.set(app, a);
    }
    await op.kill();
    for (const [app, s] of entries) await s.whileDown?.(app);

    op = startOperator();
    const restarted = op;
    await Promise.all(
      entries.map(async ([app, s]) => {
        // The new operator's first look must resume the phase from status, not start over.
        const first = await pollFor(`the new operator to reconcile ${app}`, () =>
          Promise.resolve(restarted.phaseOf(key(app))),
        );
        if (s.setup !== undefined) assert.equal(first, s.phase, `${app} resumed in ${s.phase}`);
        await s.release?.(app);
        await s.verify(app, before.get(app));
        const a = await h.get(app);
        if (a !== undefined) assertHistoryConsistent(app, a);
      }),
    ).catch((err: unknown) => {
      throw new Error(
        `${(err as Error).message}\nin-place version changes: ${h.sim.inPlaceVersionChanges.join('; ') || 'none'}\noperator stderr: ${restarted.stderr}`,
        { cause: err },
      );
    });
    assert.deepEqual(h.sim.inPlaceVersionChanges, [], 'never two versions at once');
  });
});

/** Newest first; only the newest may be in progress; each closed one ends after it starts. */
function assertHistoryConsistent(app: string, a: StreamApplication): void {
  const ops = a.status?.operations ?? [];
  ops.forEach((o, i) => {
    if (i > 0) assert.notEqual(o.outcome, 'InProgress', `${app}: only the newest operation may be in progress`);
    if (o.outcome !== 'InProgress') {
      assert.ok(o.finishedAt !== undefined && o.finishedAt >= o.startedAt, `${app}: ${o.type} ends after it starts`);
    }
    const older = ops[i + 1];
    if (older !== undefined) assert.ok(older.startedAt <= o.startedAt, `${app}: newest first`);
  });
}
