import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StreamApplicationSpec, StreamApplicationStatus } from '../model.ts';
import { applyStatusPatch } from '../status/patch.ts';
import { input, runtime, spec, T0 } from '../testing/fixtures.ts';
import { decide } from './decide.ts';
import { deploymentHash } from './spec-diff.ts';
import { assertTransition, transitions } from './transitions.ts';
import { Phase, type Action, type CompatibilityCheckJob, type Decision, type Observed } from './types.ts';

const exercised = new Set<string>();
const iso = (ms: number) => new Date(ms).toISOString();
const v1 = spec();
const v2 = spec({ image: 'weir/app:2' });
const h1 = deploymentHash(v1);
const h2 = deploymentHash(v2);
const up1 = { present: true, specHash: h1, podsRemaining: 1 };
const up2 = { present: true, specHash: h2, podsRemaining: 1 };
const gone = { present: false, podsRemaining: 0 };

function run(parts: Parameters<typeof input>[0]): Decision {
  const from = parts.status?.phase ?? Phase.Pending;
  const d = decide(input(parts));
  exercised.add(`${from}→${d.phase}`);
  return d;
}

function kinds(actions: Action[]): string[] {
  return actions.map((a) => a.kind);
}

/** v1 deployed and stable, optionally mid-phase. */
function settled(phase: Phase, extra: StreamApplicationStatus = {}): StreamApplicationStatus {
  return {
    phase,
    lastReconciledSpec: JSON.stringify(v1),
    lastStableSpec: JSON.stringify(v1),
    deployedSpecHash: h1,
    phaseStartedAt: iso(T0),
    operations: [{ type: 'deploy', trigger: 'created', outcome: 'Succeeded', startedAt: iso(T0 - 60_000) }],
    ...extra,
  };
}

/** v1 was stable, v2 deployed from savepoint sp-1 (rollback-eligible). */
function upgraded(phase: Phase, extra: StreamApplicationStatus = {}): StreamApplicationStatus {
  return settled(phase, {
    lastReconciledSpec: JSON.stringify(v2),
    deployedSpecHash: h2,
    operations: [
      { type: 'upgrade', trigger: 'spec change', snapshot: 'sp-1', outcome: 'Succeeded', startedAt: iso(T0) },
    ],
    ...extra,
  });
}

const healthy = runtime({ completed: 2, advancedAt: iso(T0 + 10_000) });
const later = (s: number): Partial<Observed> => ({ nowMs: T0 + s * 1000 });

describe('decide: new apps', () => {
  it('Pending → Deploying applies the spec and records it before acting', () => {
    const d = run({ spec: spec({ initialSavepoint: 's3://sp/0' }) });
    assert.equal(d.phase, Phase.Deploying);
    assert.deepEqual(kinds(d.actions), ['apply']);
    assert.equal(d.actions[0]?.kind === 'apply' && d.actions[0].restoreFrom, 's3://sp/0');
    assert.equal(d.patch.deployedSpecHash, h1);
    assert.ok(d.patch.phaseDeadline !== undefined);
    assert.equal(d.patch.operations?.[0]?.type, 'deploy');
  });
  it('Pending → Suspended when created suspended, deploying nothing', () => {
    const d = run({ spec: spec({ state: 'suspended' }) });
    assert.equal(d.phase, Phase.Suspended);
    assert.deepEqual(d.actions, []);
  });
  it('Deploying re-applies missing workloads, then → Running once the job runs', () => {
    const status = settled(Phase.Deploying, { lastStableSpec: undefined });
    assert.deepEqual(kinds(run({ status, observed: { workloads: gone } }).actions), ['apply']);
    const d = run({ status, observed: { workloads: up1, runtime: runtime() } });
    assert.equal(d.phase, Phase.Running);
    assert.equal(d.patch.operations?.[0]?.outcome, 'Succeeded');
  });
  it('Deploying → Failed when a first deploy never runs within the deadline', () => {
    const status = settled(Phase.Deploying, { phaseDeadline: iso(T0 + 300_000), lastStableSpec: undefined });
    status.operations = [{ type: 'deploy', trigger: 'created', outcome: 'InProgress', startedAt: iso(T0) }];
    const waiting = run({
      status,
      observed: { workloads: up1, runtime: runtime({ state: 'CREATED' }), nowMs: T0 + 1000 },
    });
    assert.equal(waiting.phase, Phase.Deploying);
    const d = run({ status, observed: { workloads: up1, runtime: runtime({ state: 'CREATED' }), ...later(301) } });
    assert.equal(d.phase, Phase.Failed);
    assert.equal(d.patch.operations?.[0]?.outcome, 'Failed');
  });
  it('Deploying → Restarting when a recovery fails again', () => {
    const status = settled(Phase.Deploying);
    status.operations = [{ type: 'recover', trigger: 'job failed', outcome: 'InProgress', startedAt: iso(T0) }];
    const d = run({ status, observed: { workloads: up1, runtime: runtime({ state: 'FAILED', failure: 'boom' }) } });
    assert.equal(d.phase, Phase.Restarting);
  });
  it('Deploying → Cancelling when the spec is fixed before the job ever ran', () => {
    const d = run({
      spec: v2,
      status: settled(Phase.Deploying),
      observed: { workloads: up1, runtime: runtime({ state: 'CREATED' }) },
    });
    assert.equal(d.phase, Phase.Cancelling);
    assert.deepEqual(kinds(d.actions), ['deleteWorkloads']);
  });
});

describe('decide: running and the stability gate', () => {
  it('Running stays while the gate does not hold and says what is missing', () => {
    const d = run({
      status: settled(Phase.Running),
      observed: { workloads: up1, runtime: runtime({ completed: 1 }), ...later(70) },
    });
    assert.equal(d.phase, Phase.Running);
    assert.match(d.message, /1\/2 checkpoints/);
    assert.match(d.message, /watermark/);
  });
  it('Running → Stable once checkpoints, watermark progress, no restarts and time all hold', () => {
    const early = run({ status: settled(Phase.Running), observed: { workloads: up1, runtime: healthy, ...later(30) } });
    assert.equal(early.phase, Phase.Running);
    const d = run({
      status: settled(Phase.Running, { lastStableSpec: undefined }),
      observed: { workloads: up1, runtime: healthy, ...later(61) },
    });
    assert.equal(d.phase, Phase.Stable);
    assert.equal(d.patch.lastStableSpec, JSON.stringify(v1));
  });
  it('Running with restarts above the gate is not stable', () => {
    const d = run({
      status: settled(Phase.Running),
      observed: {
        workloads: up1,
        runtime: runtime({ completed: 5, restarts: 1, advancedAt: iso(T0 + 1) }),
        ...later(61),
      },
    });
    assert.equal(d.phase, Phase.Running);
    assert.match(d.message, /1 restarts/);
  });
  it('Running → RollingBack when an upgrade is not stable within the readiness timeout', () => {
    const status = upgraded(Phase.Running, { phaseDeadline: iso(T0 + 300_000) });
    const d = run({
      spec: v2,
      status,
      observed: { workloads: up2, runtime: runtime({ completed: 0 }), ...later(301) },
    });
    assert.equal(d.phase, Phase.RollingBack);
    assert.equal(d.patch.operations?.[0]?.snapshot, 'sp-1');
    assert.deepEqual(kinds(d.actions), ['deleteWorkloads']);
  });
  it('Running → RollingBack when an upgraded job crash-loops', () => {
    const d = run({
      spec: v2,
      status: upgraded(Phase.Running),
      observed: { workloads: up2, runtime: runtime({ restarts: 3 }) },
    });
    assert.equal(d.phase, Phase.RollingBack);
  });
  it('Running past the readiness timeout with a runtime that does not answer stays: a slow API is not a failure', () => {
    const status = upgraded(Phase.Running, { phaseDeadline: iso(T0 + 300_000) });
    const d = run({ spec: v2, status, observed: { workloads: { ...up2, podRestarts: 0 }, ...later(301) } });
    assert.equal(d.phase, Phase.Running);
    assert.equal(d.stalled?.reason, 'RuntimeUnreachable');
    assert.deepEqual(kinds(d.actions), []);
  });
  it('Running → RollingBack when the runtime does not answer and its pods keep restarting (crash loop)', () => {
    const d = run({ spec: v2, status: upgraded(Phase.Running), observed: { workloads: { ...up2, podRestarts: 3 } } });
    assert.equal(d.phase, Phase.RollingBack);
    assert.match(d.message, /pods restarted 3 times/);
  });
  it('Running without a stable version to return to reports Stalled instead of rolling back', () => {
    const status = settled(Phase.Running, { lastStableSpec: undefined, phaseDeadline: iso(T0 + 1000) });
    const d = run({ status, observed: { workloads: up1, runtime: runtime(), ...later(2) } });
    assert.equal(d.phase, Phase.Running);
    assert.equal(d.stalled?.reason, 'NotStable');
  });
  it('Running → Restarting when the job fails and nothing to roll back to', () => {
    const d = run({
      status: settled(Phase.Running),
      observed: { workloads: up1, runtime: runtime({ state: 'FAILED', lastCheckpoint: 'cp-7' }) },
    });
    assert.equal(d.phase, Phase.Restarting);
    assert.equal(d.patch.operations?.[0]?.snapshot, 'cp-7');
  });
  it('Running → RollingBack when an upgraded job fails', () => {
    const d = run({
      spec: v2,
      status: upgraded(Phase.Running),
      observed: { workloads: up2, runtime: runtime({ state: 'FAILED' }) },
    });
    assert.equal(d.phase, Phase.RollingBack);
  });
  it('Running → Savepointing on a spec change (savepoint mode)', () => {
    const d = run({
      spec: spec({ parallelism: 3 }),
      status: settled(Phase.Running),
      observed: { workloads: up1, runtime: runtime() },
    });
    assert.equal(d.phase, Phase.Savepointing);
    assert.equal(d.patch.operations?.[0]?.type, 'rescale');
  });
  it('Running → Cancelling on a last-state upgrade, restoring the latest checkpoint', () => {
    const s = spec({ image: 'weir/app:2', upgrade: { ...v1.upgrade, mode: 'last-state' } });
    const obs = { workloads: up1, runtime: runtime({ lastCheckpoint: 'cp-9' }) };
    const check = run({ spec: s, status: settled(Phase.Running), observed: obs });
    assert.equal(check.reason, 'CheckingCompatibility');
    const d = run({
      spec: s,
      status: settled(Phase.Running),
      observed: { ...obs, compatibility: { specHash: deploymentHash(s), compatible: true, problems: [] } },
    });
    assert.equal(d.phase, Phase.Cancelling);
    assert.equal(d.patch.operations?.[0]?.snapshot, 'cp-9');
  });
  it('Running → Suspending when suspended', () => {
    const d = run({
      spec: spec({ state: 'suspended' }),
      status: settled(Phase.Running),
      observed: { workloads: up1, runtime: runtime() },
    });
    assert.equal(d.phase, Phase.Suspending);
    assert.deepEqual(d.actions, [
      { kind: 'triggerSavepoint', id: d.patch.pendingSavepoint?.triggerId, stop: true, trigger: 'suspend' },
    ]);
  });
  it('Running → Restarting when its workloads disappear', () => {
    const d = run({ status: settled(Phase.Running), observed: { workloads: gone } });
    assert.equal(d.phase, Phase.Restarting);
  });
});

describe('decide: upgrades from Stable', () => {
  const stableObs = { workloads: up1, runtime: healthy };
  const compatible = { specHash: h2, compatible: true, problems: [] };
  it('an upgrade waits for the pre-flight compatibility check and stops nothing meanwhile', () => {
    const pipelineOnly = spec({ config: { tuned: 'yes' } });
    const d = run({ spec: pipelineOnly, status: settled(Phase.Stable), observed: stableObs });
    assert.equal(d.phase, Phase.Stable);
    assert.equal(d.reason, 'CheckingCompatibility');
    assert.deepEqual(d.actions, [], 'same image: the running runtime is asked, no Job');
  });
  it('an incompatible savepoint stops nothing and reports Stalled naming the problem', () => {
    const d = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: {
        ...stableObs,
        compatibility: { specHash: h2, compatible: false, problems: ['operator "sum" state missing'] },
      },
    });
    assert.equal(d.phase, Phase.Stable);
    assert.deepEqual(d.actions, []);
    assert.equal(d.stalled?.reason, 'IncompatibleState');
    assert.match(d.stalled.message, /"sum" state missing/);
  });
  it('Stable → Savepointing triggers stop-with-savepoint once compatible', () => {
    const d = run({ spec: v2, status: settled(Phase.Stable), observed: { ...stableObs, compatibility: compatible } });
    assert.equal(d.phase, Phase.Savepointing);
    const a = d.actions[0];
    assert.ok(a?.kind === 'triggerSavepoint' && a.stop && a.trigger === 'upgrade');
    assert.equal(d.patch.pendingSavepoint?.triggerId, a.id);
  });
  it('Stable → Cancelling on a stateless upgrade (no check, no snapshot)', () => {
    const s = spec({ image: 'weir/app:2', upgrade: { ...v1.upgrade, mode: 'stateless' } });
    const d = run({ spec: s, status: settled(Phase.Stable), observed: stableObs });
    assert.equal(d.phase, Phase.Cancelling);
    assert.equal(d.patch.operations?.[0]?.snapshot, undefined);
  });
  it('Stable → Suspending, → Restarting, and operator-only changes are adopted without touching workloads', () => {
    assert.equal(
      run({ spec: spec({ state: 'suspended' }), status: settled(Phase.Stable), observed: stableObs }).phase,
      Phase.Suspending,
    );
    assert.equal(
      run({ status: settled(Phase.Stable), observed: { workloads: up1, runtime: runtime({ state: 'FAILED' }) } }).phase,
      Phase.Restarting,
    );
    const d = run({
      spec: spec({ savepoints: { ...v1.savepoints, historyLimit: 3 } }),
      status: settled(Phase.Stable),
      observed: stableObs,
    });
    assert.equal(d.phase, Phase.Stable);
    assert.deepEqual(d.actions, []);
    assert.match(d.patch.lastReconciledSpec ?? '', /"historyLimit":3/);
  });
  it('a restartNonce change restarts through a savepoint', () => {
    const d = run({ spec: spec({ restartNonce: 1 }), status: settled(Phase.Stable), observed: stableObs });
    assert.equal(d.phase, Phase.Savepointing);
    assert.equal(d.patch.operations?.[0]?.type, 'restart');
  });
});

describe('decide: the pre-flight check runs as a Job with the new image', () => {
  const withCp = {
    workloads: up1,
    runtime: runtime({ completed: 2, advancedAt: iso(T0 + 10_000), lastCheckpoint: 'cp-9' }),
  };
  const job = (over: Partial<CompatibilityCheckJob> = {}): CompatibilityCheckJob => ({
    name: `app-check-${h2.slice(0, 9)}-0`,
    specHash: h2,
    attempt: 0,
    outcome: 'Running',
    problems: [],
    ...over,
  });
  it('an image change starts a check Job on the latest checkpoint, stopping nothing', () => {
    const d = run({ spec: v2, status: settled(Phase.Stable), observed: { ...withCp, compatibilityChecks: [] } });
    assert.equal(d.phase, Phase.Stable);
    assert.equal(d.reason, 'CheckingCompatibility');
    assert.deepEqual(d.actions, [
      { kind: 'startCompatibilityCheck', spec: v2, specHash: h2, attempt: 0, snapshot: 'cp-9' },
    ]);
  });
  it('waits while the Job runs, and removes Jobs of an earlier spec', () => {
    const old = job({ name: 'app-check-012345678-0', specHash: '0123456789abcdef', outcome: 'Incompatible' });
    const d = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: { ...withCp, compatibilityChecks: [job(), old] },
    });
    assert.equal(d.reason, 'CheckingCompatibility');
    assert.deepEqual(d.actions, [{ kind: 'deleteCompatibilityCheck', name: old.name }]);
  });
  it('a compatible verdict proceeds (Stable → Savepointing) and removes the used Job', () => {
    const d = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: {
        ...withCp,
        compatibilityChecks: [job({ outcome: 'Compatible' })],
        compatibility: { specHash: h2, compatible: true, problems: [] },
      },
    });
    assert.equal(d.phase, Phase.Savepointing);
    assert.deepEqual(kinds(d.actions), ['triggerSavepoint', 'deleteCompatibilityCheck']);
  });
  it('an incompatible verdict stalls with the problems and keeps its Job (the verdict survives a restart)', () => {
    const d = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: {
        ...withCp,
        compatibilityChecks: [job({ outcome: 'Incompatible', problems: ['sum: state missing'] })],
        compatibility: { specHash: h2, compatible: false, problems: ['sum: state missing'] },
      },
    });
    assert.equal(d.phase, Phase.Stable);
    assert.equal(d.stalled?.reason, 'IncompatibleState');
    assert.match(d.stalled.message, /sum: state missing/);
    assert.deepEqual(d.actions, []);
  });
  it('a check that could not run stops nothing, says why, and retries with backoff', () => {
    const failedAt = iso(T0);
    const failed = job({
      outcome: 'Error',
      reason: 'DeadlineExceeded (Job was active longer than specified deadline)',
      finishedAt: failedAt,
    });
    const waiting = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: { ...withCp, compatibilityChecks: [failed], nowMs: T0 + 1000 },
    });
    assert.equal(waiting.phase, Phase.Stable);
    assert.equal(waiting.reason, 'CompatibilityCheckFailed');
    assert.match(waiting.message, /could not run: DeadlineExceeded/);
    assert.equal(waiting.warning, true);
    assert.equal(waiting.stalled, undefined);
    assert.deepEqual(waiting.actions, []);
    assert.equal(waiting.requeueAfterMs, 9000, 'the first backoff step, less the time already waited');
    const retry = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: { ...withCp, compatibilityChecks: [failed], nowMs: T0 + 10_000 },
    });
    assert.equal(retry.reason, 'CheckingCompatibility');
    assert.deepEqual(retry.actions, [
      { kind: 'deleteCompatibilityCheck', name: failed.name },
      { kind: 'startCompatibilityCheck', spec: v2, specHash: h2, attempt: 1, snapshot: 'cp-9' },
    ]);
  });
  it('gives up after 10 attempts with Stalled CompatibilityCheckFailed, still stopping nothing', () => {
    const d = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: {
        ...withCp,
        compatibilityChecks: [job({ attempt: 9, outcome: 'Error', reason: 'ImagePullBackOff', finishedAt: iso(T0) })],
        nowMs: T0 + 3_600_000,
      },
    });
    assert.equal(d.phase, Phase.Stable);
    assert.equal(d.stalled?.reason, 'CompatibilityCheckFailed');
    assert.match(d.stalled.message, /ImagePullBackOff; gave up after 10 attempts/);
    assert.deepEqual(d.actions, []);
  });
  it('setting allowNonRestoredState asks for a new verdict (a way out of IncompatibleState)', () => {
    const allowing = spec({ image: 'weir/app:2', allowNonRestoredState: true });
    const d = run({
      spec: allowing,
      status: settled(Phase.Stable),
      observed: {
        ...withCp,
        compatibilityChecks: [job({ outcome: 'Incompatible', problems: ['sum: state missing'] })],
        compatibility: { specHash: h2, compatible: false, problems: ['sum: state missing'] },
      },
    });
    assert.equal(d.stalled, undefined);
    assert.equal(d.reason, 'CheckingCompatibility');
    const start = d.actions.find((a) => a.kind === 'startCompatibilityCheck');
    assert.ok(start?.kind === 'startCompatibilityCheck' && start.specHash !== h2 && start.spec.allowNonRestoredState);
  });
  it('no snapshot yet: nothing to check, the upgrade proceeds', () => {
    const d = run({
      spec: v2,
      status: settled(Phase.Stable),
      observed: { workloads: up1, runtime: healthy, compatibilityChecks: [] },
    });
    assert.equal(d.phase, Phase.Savepointing);
  });
  it('RolledBack → Cancelling after a compatible Job verdict (last-state upgrade)', () => {
    const s = spec({ image: 'weir/app:3', upgrade: { ...v1.upgrade, mode: 'last-state' } });
    const d = run({
      spec: s,
      status: upgraded(Phase.RolledBack, { deployedSpecHash: h1 }),
      observed: { ...withCp, compatibility: { specHash: deploymentHash(s), compatible: true, problems: [] } },
    });
    assert.equal(d.phase, Phase.Cancelling);
    assert.equal(d.patch.operations?.[0]?.snapshot, 'cp-9');
  });
});

describe('decide: savepointing', () => {
  const pending = { triggerId: 'upgrade-1', trigger: 'upgrade' as const, startedAt: iso(T0) };
  const op = { type: 'upgrade' as const, trigger: 'spec change', outcome: 'InProgress' as const, startedAt: iso(T0) };
  const sp = (extra: StreamApplicationStatus = {}) =>
    settled(Phase.Savepointing, { pendingSavepoint: pending, operations: [op], ...extra });
  it('waits while the savepoint is in progress', () => {
    const d = run({
      spec: v2,
      status: sp(),
      observed: { workloads: up1, savepoint: { id: 'upgrade-1', state: 'IN_PROGRESS' } },
    });
    assert.equal(d.phase, Phase.Savepointing);
    assert.deepEqual(d.actions, []);
  });
  it('asks again, under the same id, for a savepoint the runtime does not know (the trigger was lost)', () => {
    const d = run({ spec: v2, status: sp(), observed: { workloads: up1, savepointUnknown: true } });
    assert.equal(d.phase, Phase.Savepointing);
    assert.deepEqual(d.actions, [{ kind: 'triggerSavepoint', id: 'upgrade-1', stop: true, trigger: 'upgrade' }]);
    assert.ok(!('pendingSavepoint' in d.patch), 'still the same pending savepoint');
  });
  it('Savepointing → Cancelling records the savepoint as the upgrade snapshot', () => {
    const d = run({
      spec: v2,
      status: sp(),
      observed: { workloads: up1, savepoint: { id: 'upgrade-1', state: 'COMPLETED', path: 'sp-9' } },
    });
    assert.equal(d.phase, Phase.Cancelling);
    assert.equal(d.patch.operations?.[0]?.snapshot, 'sp-9');
    assert.equal(d.patch.savepoints?.last?.path, 'sp-9');
    assert.ok('pendingSavepoint' in d.patch && d.patch.pendingSavepoint === undefined);
  });
  it('a failed savepoint keeps the old version, retries with backoff, then reports Stalled', () => {
    let status = sp();
    let now = T0;
    const failedSp = { id: 'x', state: 'FAILED' as const, error: 'barrier timed out' };
    for (let attempt = 1; attempt <= 3; attempt++) {
      const failedPass = run({ spec: v2, status, observed: { workloads: up1, savepoint: failedSp, nowMs: now } });
      assert.equal(failedPass.phase, Phase.Savepointing);
      assert.ok(!failedPass.actions.some((a) => a.kind === 'deleteWorkloads'));
      assert.equal(failedPass.stalled?.reason, attempt >= 3 ? 'SavepointFailing' : undefined);
      status = applyStatusPatch(status, failedPass.patch);
      const backoff = run({ spec: v2, status, observed: { workloads: up1, nowMs: now + 1000 } });
      assert.equal(backoff.reason, 'SavepointBackoff');
      now += (failedPass.requeueAfterMs ?? 0) + 1;
      const retry = run({ spec: v2, status, observed: { workloads: up1, nowMs: now } });
      assert.equal(retry.actions[0]?.kind, 'triggerSavepoint');
      status = applyStatusPatch(status, retry.patch);
    }
  });
  it('a savepoint past its timeout is cancelled in the runtime, and what the cancel ended in decides', () => {
    const inProgress = { id: 'upgrade-1', state: 'IN_PROGRESS' as const };
    const timedOut = run({
      spec: v2,
      status: sp(),
      observed: { workloads: up1, savepoint: inProgress, ...later(301) },
    });
    assert.equal(timedOut.phase, Phase.Savepointing);
    assert.equal(timedOut.reason, 'SavepointTimedOut');
    assert.deepEqual(timedOut.actions, [{ kind: 'cancelSavepoint', id: 'upgrade-1' }]);
    assert.ok(!('pendingSavepoint' in timedOut.patch), 'kept pending until the runtime says how it ended');
    const status = applyStatusPatch(sp(), timedOut.patch);

    // Cancelled: recorded as a failure, the old version keeps running, the retry backs off.
    const cancelled = { id: 'upgrade-1', state: 'CANCELED' as const };
    const failed = run({ spec: v2, status, observed: { workloads: up1, savepoint: cancelled, ...later(302) } });
    assert.equal(failed.phase, Phase.Savepointing);
    assert.equal(failed.reason, 'SavepointFailed');
    assert.deepEqual(failed.actions, []);
    assert.match(failed.patch.savepoints?.history?.[0]?.message ?? '', /timed out after 300s; cancelled/);
    assert.ok('pendingSavepoint' in failed.patch && failed.patch.pendingSavepoint === undefined);
    assert.ok((failed.requeueAfterMs ?? 0) > 0);

    // Completed before the cancel landed: the job has stopped, so the upgrade goes on from it.
    const late = { id: 'upgrade-1', state: 'COMPLETED' as const, path: 'sp-late' };
    const d = run({ spec: v2, status, observed: { workloads: up1, savepoint: late, ...later(302) } });
    assert.equal(d.phase, Phase.Cancelling);
    assert.equal(d.patch.operations?.[0]?.snapshot, 'sp-late');

    // No answer to the cancel within the grace: given up on, asking once more on the way out.
    const giveUp = run({ spec: v2, status, observed: { workloads: up1, savepoint: inProgress, ...later(311) } });
    assert.equal(giveUp.reason, 'SavepointFailed');
    assert.deepEqual(giveUp.actions, [{ kind: 'cancelSavepoint', id: 'upgrade-1' }]);
    assert.match(giveUp.message, /did not confirm the cancel/);

    // The runtime not answering at all: nothing to wait for.
    const silent = run({ spec: v2, status: sp(), observed: { workloads: up1, ...later(301) } });
    assert.equal(silent.reason, 'SavepointFailed');
    assert.match(silent.message, /timed out after 300s; the runtime did not answer/);
    assert.deepEqual(kinds(silent.actions), ['cancelSavepoint']);
  });
  it('Savepointing → Stable / Running when the change is withdrawn between attempts', () => {
    assert.equal(
      run({ spec: v1, status: sp({ pendingSavepoint: undefined }), observed: { workloads: up1 } }).phase,
      Phase.Stable,
    );
    const notStable = sp({ pendingSavepoint: undefined, lastStableSpec: undefined });
    assert.equal(run({ spec: v1, status: notStable, observed: { workloads: up1 } }).phase, Phase.Running);
  });
  it('switching upgrade mode to last-state is the way out of a failing savepoint', () => {
    const s = spec({ image: 'weir/app:2', upgrade: { ...v1.upgrade, mode: 'last-state' } });
    const d = run({
      spec: s,
      status: sp({
        pendingSavepoint: undefined,
        checkpoints: { lastCompleted: { id: 3, time: iso(T0), path: 'cp-3' } },
      }),
      observed: { workloads: up1 },
    });
    assert.equal(d.phase, Phase.Cancelling);
    assert.equal(d.patch.operations?.[0]?.snapshot, 'cp-3');
  });
  it('Suspending → Cancelling on a completed savepoint; → Stable when withdrawn', () => {
    const susp = spec({ state: 'suspended' });
    const status = settled(Phase.Suspending, {
      pendingSavepoint: { ...pending, trigger: 'suspend' },
      operations: [{ ...op, type: 'suspend' }],
    });
    const d = run({
      spec: susp,
      status,
      observed: { workloads: up1, savepoint: { id: 'x', state: 'COMPLETED', path: 'sp-s' } },
    });
    assert.equal(d.phase, Phase.Cancelling);
    assert.equal(
      run({ spec: v1, status: { ...status, pendingSavepoint: undefined }, observed: { workloads: up1 } }).phase,
      Phase.Stable,
    );
    const unstable = { ...status, pendingSavepoint: undefined, lastStableSpec: undefined };
    assert.equal(run({ spec: v1, status: unstable, observed: { workloads: up1 } }).phase, Phase.Running);
  });
});

describe('decide: cancelling and upgrading', () => {
  const op = {
    type: 'upgrade' as const,
    trigger: 'spec change',
    snapshot: 'sp-9',
    outcome: 'InProgress' as const,
    startedAt: iso(T0),
  };
  it('Cancelling waits until the last old pod is gone, then → Upgrading restoring the snapshot', () => {
    const status = settled(Phase.Cancelling, { operations: [op], phaseDeadline: iso(T0 + 120_000) });
    assert.deepEqual(kinds(run({ spec: v2, status, observed: { workloads: up1 } }).actions), ['deleteWorkloads']);
    const podsLeft = run({ spec: v2, status, observed: { workloads: { present: false, podsRemaining: 2 } } });
    assert.equal(podsLeft.phase, Phase.Cancelling);
    assert.deepEqual(podsLeft.actions, []);
    const stuck = run({
      spec: v2,
      status,
      observed: { workloads: { present: false, podsRemaining: 2 }, ...later(121) },
    });
    assert.equal(stuck.stalled?.reason, 'OldVersionStillRunning');
    const d = run({ spec: v2, status, observed: { workloads: gone } });
    assert.equal(d.phase, Phase.Upgrading);
    assert.deepEqual(d.actions, [{ kind: 'apply', spec: v2, specHash: h2, restoreFrom: 'sp-9' }]);
    assert.equal(d.patch.deployedSpecHash, h2);
  });
  it('Cancelling → Suspended after a suspend', () => {
    const status = settled(Phase.Cancelling, { operations: [{ ...op, type: 'suspend' }] });
    assert.equal(
      run({ spec: spec({ state: 'suspended' }), status, observed: { workloads: gone } }).phase,
      Phase.Suspended,
    );
  });
  it('Upgrading → Running once the new job runs', () => {
    const status = upgraded(Phase.Upgrading, { operations: [op] });
    assert.equal(run({ spec: v2, status, observed: { workloads: up2, runtime: runtime() } }).phase, Phase.Running);
  });
  it('Upgrading → RollingBack when the new version fails', () => {
    const status = upgraded(Phase.Upgrading, { operations: [op] });
    assert.equal(
      run({ spec: v2, status, observed: { workloads: up2, runtime: runtime({ state: 'FAILED' }) } }).phase,
      Phase.RollingBack,
    );
  });
  it('Upgrading → Failed when it fails with rollback disabled', () => {
    const s = spec({ image: 'weir/app:2', rollback: { ...v1.rollback, enabled: false } });
    const status = upgraded(Phase.Upgrading, { operations: [op], phaseDeadline: iso(T0 + 1000) });
    const d = run({
      spec: s,
      status,
      observed: { workloads: up2, runtime: runtime({ state: 'CREATED' }), ...later(2) },
    });
    assert.equal(d.phase, Phase.Failed);
  });
});

describe('decide: rollback', () => {
  const op = {
    type: 'rollback' as const,
    trigger: 'job failed',
    snapshot: 'sp-1',
    outcome: 'InProgress' as const,
    startedAt: iso(T0),
  };
  const status = upgraded(Phase.RollingBack, { operations: [op], phaseDeadline: iso(T0 + 420_000) });
  it('stops the bad version, redeploys lastStableSpec from the pre-upgrade savepoint, → RolledBack', () => {
    assert.deepEqual(kinds(run({ spec: v2, status, observed: { workloads: up2 } }).actions), ['deleteWorkloads']);
    assert.deepEqual(
      run({ spec: v2, status, observed: { workloads: { present: false, podsRemaining: 1 } } }).actions,
      [],
    );
    const redeploy = run({ spec: v2, status, observed: { workloads: gone } });
    assert.deepEqual(redeploy.actions, [{ kind: 'apply', spec: v1, specHash: h1, restoreFrom: 'sp-1' }]);
    const after = applyStatusPatch(status, redeploy.patch);
    const d = run({ spec: v2, status: after, observed: { workloads: up1, runtime: runtime() } });
    assert.equal(d.phase, Phase.RolledBack);
  });
  it('RollingBack → Failed past its deadline', () => {
    const d = run({
      spec: v2,
      status: { ...status, deployedSpecHash: h1 },
      observed: { workloads: up1, runtime: runtime({ state: 'CREATED' }), ...later(421) },
    });
    assert.equal(d.phase, Phase.Failed);
  });
  it('RolledBack stays until the user changes the spec, then upgrades from the stable version', () => {
    const rb = settled(Phase.RolledBack, { lastReconciledSpec: JSON.stringify(v2) });
    const obs = { workloads: up1, runtime: healthy };
    const same = run({ spec: v2, status: rb, observed: obs });
    assert.equal(same.phase, Phase.RolledBack);
    assert.deepEqual(same.actions, []);
    const v3 = spec({ image: 'weir/app:3' });
    const d = run({
      spec: v3,
      status: rb,
      observed: { ...obs, compatibility: { specHash: deploymentHash(v3), compatible: true, problems: [] } },
    });
    assert.equal(d.phase, Phase.Savepointing);
  });
  it('RolledBack → Stable when the spec is reverted to the stable one; → Cancelling/Suspending/Restarting otherwise', () => {
    const rb = settled(Phase.RolledBack, { lastReconciledSpec: JSON.stringify(v2) });
    const obs = { workloads: up1, runtime: healthy };
    assert.equal(run({ spec: v1, status: rb, observed: obs }).phase, Phase.Stable);
    const stateless = spec({ image: 'weir/app:3', upgrade: { ...v1.upgrade, mode: 'stateless' } });
    assert.equal(run({ spec: stateless, status: rb, observed: obs }).phase, Phase.Cancelling);
    assert.equal(
      run({ spec: spec({ image: 'weir/app:2', state: 'suspended' }), status: rb, observed: obs }).phase,
      Phase.Suspending,
    );
    assert.equal(
      run({ spec: v2, status: rb, observed: { workloads: up1, runtime: runtime({ state: 'FAILED' }) } }).phase,
      Phase.Restarting,
    );
  });
});

describe('decide: recovery, suspend, failure', () => {
  it('Restarting removes the failed job and redeploys from the latest checkpoint, with backoff after repeated failures', () => {
    const ops = [
      { type: 'recover' as const, trigger: 'x', snapshot: 'cp-7', outcome: 'InProgress' as const, startedAt: iso(T0) },
      { type: 'recover' as const, trigger: 'x', outcome: 'Failed' as const, startedAt: iso(T0 - 10_000) },
    ];
    const status = settled(Phase.Restarting, { operations: ops });
    assert.deepEqual(kinds(run({ status, observed: { workloads: up1 } }).actions), ['deleteWorkloads']);
    const wait = run({ status, observed: { workloads: gone, nowMs: T0 + 1000 } });
    assert.equal(wait.reason, 'RecoveryBackoff');
    const d = run({ status, observed: { workloads: gone, ...later(11) } });
    assert.equal(d.phase, Phase.Deploying);
    assert.deepEqual(d.actions, [{ kind: 'apply', spec: v1, specHash: h1, restoreFrom: 'cp-7' }]);
  });
  it('Suspended → Deploying on resume, restoring the suspend savepoint', () => {
    const last = { path: 'sp-s', time: iso(T0), trigger: 'suspend' as const, result: 'Succeeded' as const };
    const status = settled(Phase.Suspended, { savepoints: { last, history: [last] } });
    assert.equal(
      run({ spec: spec({ state: 'suspended' }), status, observed: { workloads: gone } }).phase,
      Phase.Suspended,
    );
    const d = run({ status, observed: { workloads: gone } });
    assert.equal(d.phase, Phase.Deploying);
    assert.equal(d.actions[0]?.kind === 'apply' && d.actions[0].restoreFrom, 'sp-s');
    assert.equal(d.patch.operations?.[0]?.type, 'resume');
  });
  it('Failed stays Stalled until the spec changes, then → Cancelling', () => {
    const status = settled(Phase.Failed, {
      operations: [
        { type: 'deploy', trigger: 'created', outcome: 'Failed', message: 'image not found', startedAt: iso(T0) },
      ],
    });
    const d = run({ status, observed: { workloads: up1 } });
    assert.equal(d.phase, Phase.Failed);
    assert.match(d.stalled?.message ?? '', /image not found.*restartNonce/);
    assert.equal(
      run({ spec: spec({ restartNonce: 2 }), status, observed: { workloads: up1 } }).phase,
      Phase.Cancelling,
    );
  });
});

describe('decide: manual and periodic savepoints', () => {
  it('a new triggerNonce takes one savepoint without stopping, then marks the nonce handled', () => {
    const s = spec({ savepoints: { ...v1.savepoints, triggerNonce: 4 } });
    const status = settled(Phase.Stable);
    const d = run({ spec: s, status, observed: { workloads: up1, runtime: healthy } });
    const a = d.actions[0];
    assert.ok(a?.kind === 'triggerSavepoint' && !a.stop && a.trigger === 'manual');
    const s2 = applyStatusPatch(status, d.patch);
    const done = run({
      spec: s,
      status: s2,
      observed: { workloads: up1, runtime: healthy, savepoint: { id: a.id, state: 'COMPLETED', path: 'sp-m' } },
    });
    assert.equal(done.patch.savepoints?.last?.path, 'sp-m');
    const s3 = applyStatusPatch(s2, done.patch);
    const idle = run({ spec: s, status: s3, observed: { workloads: up1, runtime: healthy } });
    assert.deepEqual(idle.actions, []);
  });
  it('periodic savepoints keep historyLimit entries and dispose the trimmed ones', () => {
    const s = spec({ savepoints: { ...v1.savepoints, intervalSeconds: 60, historyLimit: 2 } });
    const rec = (p: string, t: number) => ({
      path: p,
      time: iso(t),
      trigger: 'periodic' as const,
      result: 'Succeeded' as const,
    });
    const history = [rec('sp-b', T0 - 120_000), rec('sp-a', T0 - 180_000)];
    const status = settled(Phase.Stable, {
      savepoints: { last: history[0], history },
      lastReconciledSpec: JSON.stringify(s),
    });
    const d = run({ spec: s, status, observed: { workloads: up1, runtime: healthy, nowMs: T0 - 70_000 } });
    assert.deepEqual(d.actions, [], 'not due yet');
    const due = run({ spec: s, status, observed: { workloads: up1, runtime: healthy } });
    assert.equal(due.actions[0]?.kind, 'triggerSavepoint');
    const s2 = applyStatusPatch(status, due.patch);
    const done = run({
      spec: s,
      status: s2,
      observed: { workloads: up1, runtime: healthy, savepoint: { id: 'x', state: 'COMPLETED', path: 'sp-c' } },
    });
    assert.deepEqual(done.actions, [{ kind: 'disposeSavepoint', path: 'sp-a' }]);
    assert.deepEqual(
      done.patch.savepoints?.history?.map((r) => r.path),
      ['sp-c', 'sp-b'],
    );
  });
});

describe('decide: a manual or periodic savepoint past its timeout', () => {
  it('is cancelled in the runtime, recorded as failed once cancelled, and the periodic schedule backs off', () => {
    const s = spec({ savepoints: { ...v1.savepoints, intervalSeconds: 60 } });
    const pending = { triggerId: 'periodic-1', trigger: 'periodic' as const, startedAt: iso(T0) };
    const status = settled(Phase.Stable, { pendingSavepoint: pending, lastReconciledSpec: JSON.stringify(s) });
    const inProgress = { id: 'periodic-1', state: 'IN_PROGRESS' as const };
    const waiting = run({ spec: s, status, observed: { workloads: up1, runtime: healthy, savepoint: inProgress } });
    assert.equal(waiting.reason, 'SavepointInProgress');
    assert.deepEqual(waiting.actions, []);
    const timedOut = run({
      spec: s,
      status,
      observed: { workloads: up1, runtime: healthy, savepoint: inProgress, ...later(301) },
    });
    assert.equal(timedOut.phase, Phase.Stable);
    assert.deepEqual(timedOut.actions, [{ kind: 'cancelSavepoint', id: 'periodic-1' }]);
    const cancelled = { id: 'periodic-1', state: 'CANCELED' as const };
    const failed = run({
      spec: s,
      status,
      observed: { workloads: up1, runtime: healthy, savepoint: cancelled, ...later(302) },
    });
    assert.equal(failed.reason, 'SavepointFailed');
    assert.equal(failed.patch.savepoints?.history?.[0]?.result, 'Failed');
    const after = applyStatusPatch(status, failed.patch);
    const soon = run({ spec: s, status: after, observed: { workloads: up1, runtime: healthy, ...later(303) } });
    assert.deepEqual(soon.actions, [], 'the next periodic savepoint waits for its backoff');
    const retry = run({ spec: s, status: after, observed: { workloads: up1, runtime: healthy, ...later(302 + 61) } });
    assert.equal(retry.actions[0]?.kind, 'triggerSavepoint');
  });
});

describe('decide: deletion, invalid specs', () => {
  it('* → Deleting takes a final savepoint, then removes workloads and the finalizer', () => {
    for (const phase of Object.values(Phase)) {
      if (phase === Phase.Deleting) continue;
      const d = run({ status: settled(phase), deleting: true, observed: { workloads: up1, runtime: runtime() } });
      assert.equal(d.phase, Phase.Deleting, phase);
    }
    const enter = run({
      status: settled(Phase.Stable),
      deleting: true,
      observed: { workloads: up1, runtime: runtime() },
    });
    const a = enter.actions[0];
    assert.ok(a?.kind === 'triggerSavepoint' && a.trigger === 'delete' && a.stop);
    const status = applyStatusPatch(settled(Phase.Stable), { ...enter.patch, phase: Phase.Deleting });
    assert.deepEqual(
      run({ status, deleting: true, observed: { workloads: up1, savepoint: { id: a.id, state: 'IN_PROGRESS' } } })
        .actions,
      [],
    );
    const taken = run({
      status,
      deleting: true,
      observed: { workloads: up1, savepoint: { id: a.id, state: 'COMPLETED', path: 'sp-d' } },
    });
    assert.equal(taken.patch.savepoints?.last?.path, 'sp-d');
    // The status goes with the app: an Event keeps the path for a re-creation from it.
    assert.equal(taken.event, true);
    assert.match(taken.message, /sp-d/);
    const s2 = applyStatusPatch(status, taken.patch);
    assert.deepEqual(kinds(run({ status: s2, deleting: true, observed: { workloads: gone } }).actions), [
      'removeFinalizer',
    ]);
  });
  it('deletion never hangs: a final savepoint that does not finish in time is skipped', () => {
    const status = settled(Phase.Deleting, {
      pendingSavepoint: { triggerId: 'd', trigger: 'delete', startedAt: iso(T0) },
    });
    const d = run({
      status,
      deleting: true,
      observed: { workloads: up1, savepoint: { id: 'd', state: 'IN_PROGRESS' }, ...later(301) },
    });
    assert.equal(d.reason, 'FinalSavepointTimedOut');
    assert.deepEqual(d.actions, [{ kind: 'cancelSavepoint', id: 'd' }]);
    const cancelled = run({
      status,
      deleting: true,
      observed: { workloads: up1, savepoint: { id: 'd', state: 'CANCELED' }, ...later(302) },
    });
    assert.equal(cancelled.reason, 'FinalSavepointFailed');
    assert.deepEqual(kinds(cancelled.actions), ['deleteWorkloads']);
    const unconfirmed = run({
      status,
      deleting: true,
      observed: { workloads: up1, savepoint: { id: 'd', state: 'IN_PROGRESS' }, ...later(311) },
    });
    assert.deepEqual(kinds(unconfirmed.actions), ['cancelSavepoint', 'deleteWorkloads']);
    const stuckPods = run({
      status: applyStatusPatch(status, cancelled.patch),
      deleting: true,
      observed: { workloads: { present: false, podsRemaining: 1 }, ...later(302) },
    });
    assert.deepEqual(kinds(stuckPods.actions), ['removeFinalizer']);
  });
  it('an invalid spec deploys nothing, tears nothing down and names the problem', () => {
    const d = decide({
      ...input({ status: settled(Phase.Stable), observed: { workloads: up1 } }),
      spec: undefined,
      validationErrors: [{ path: 'spec.image', message: 'is required' }],
    });
    assert.equal(d.phase, Phase.Stable);
    assert.deepEqual(d.actions, []);
    assert.match(d.stalled?.message ?? '', /spec\.image: is required/);
  });
});

describe('decide: the transition table', () => {
  it('rejects a phase change the table does not list', () => {
    const bad = settled(Phase.Suspended);
    // A corrupted status cannot make decide jump: Suspended has no edge to Upgrading.
    assert.ok(!transitions.Suspended.includes(Phase.Upgrading));
    assert.throws(() => {
      assertTransition(Phase.Suspended, Phase.Upgrading);
    }, /illegal phase transition Suspended → Upgrading/);
    assert.doesNotThrow(() => {
      assertTransition(Phase.Suspended, Phase.Suspended);
    });
    // decide itself stays on the table's edges for that status.
    const d = decide(input({ status: bad, observed: { workloads: gone } }));
    assert.ok(d.phase === Phase.Suspended || transitions.Suspended.includes(d.phase));
  });
  it('every edge of the table is exercised by the tests above', () => {
    const missing: string[] = [];
    for (const [from, tos] of Object.entries(transitions)) {
      for (const to of tos) if (!exercised.has(`${from}→${to}`)) missing.push(`${from}→${to}`);
    }
    assert.deepEqual(missing, []);
  });
});

export type { StreamApplicationSpec };
