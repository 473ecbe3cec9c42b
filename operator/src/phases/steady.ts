// Shared by the phases where a version runs settled (Running, Stable, RolledBack): spec changes,
// job failures, suspend requests, manual and periodic savepoints.
import type { StreamApplicationSpec, StreamApplicationStatus } from '../model.ts';
import {
  asTrigger,
  backoffMs,
  closeOperation,
  enter,
  jobFailed,
  jobRunning,
  lastUpgradeLike,
  latestSnapshot,
  parseSpec,
  recordSavepoint,
  runtimeStatus,
  startOperation,
  stay,
  type Ctx,
} from '../decide/context.ts';
import { canonicalJson, compatibilityCheckHash, deploymentHash, diffSpecs } from '../decide/spec-diff.ts';
import { Phase, type Action, type Decision } from '../decide/types.ts';
import { pendingSavepointOutcome } from './savepoint-timeout.ts';

/** Fields whose change alters what the dataflow restores, so the new version must pass the pre-flight check. */
const dataflowFields = ['image', 'pipeline', 'entrypoint', 'config', 'maxParallelism'];

/** The spec the workloads were deployed from: the last stable one after a rollback, else the last reconciled one. */
export function deployedSpec(status: StreamApplicationStatus): StreamApplicationSpec | undefined {
  const stable = parseSpec(status.lastStableSpec);
  if (stable !== undefined && deploymentHash(stable) === status.deployedSpecHash) return stable;
  return parseSpec(status.lastReconciledSpec);
}

function withoutNonce(spec: StreamApplicationSpec): StreamApplicationSpec {
  const { triggerNonce: _ignored, ...savepoints } = spec.savepoints;
  return { ...spec, savepoints };
}

/** The desired spec differs from the last reconciled one (the manual-savepoint nonce aside). */
export function specChanged(ctx: Ctx): boolean {
  const reconciled = parseSpec(ctx.status.lastReconciledSpec);
  return reconciled === undefined || canonicalJson(withoutNonce(reconciled)) !== canonicalJson(withoutNonce(ctx.spec));
}

/** lastReconciledSpec for the desired spec, keeping the nonce of the last manual savepoint handled. */
export function reconciledJson(ctx: Ctx, spec: StreamApplicationSpec = ctx.spec): string {
  const handled = parseSpec(ctx.status.lastReconciledSpec)?.savepoints.triggerNonce;
  const { triggerNonce: _ignored, ...savepoints } = spec.savepoints;
  return JSON.stringify({
    ...spec,
    savepoints: handled === undefined ? savepoints : { ...savepoints, triggerNonce: handled },
  });
}

export function upgradeKind(
  ctx: Ctx,
): { op: 'upgrade' | 'rescale' | 'restart'; needsCompatibility: boolean } | undefined {
  const from = deployedSpec(ctx.status);
  if (from === undefined) return undefined;
  const diff = diffSpecs(from, ctx.spec);
  if (diff.kind === 'ignore') return undefined;
  const op = diff.kind === 'scale' ? 'rescale' : diff.fields.every((f) => f === 'restartNonce') ? 'restart' : 'upgrade';
  const needsCompatibility =
    ctx.spec.upgrade.mode !== 'stateless' &&
    diff.fields.some((f) => dataflowFields.some((d) => f === d || f.startsWith(`${d}.`)));
  return { op, needsCompatibility };
}

export type CompatibilityCheckMode = 'none' | 'runtime' | 'job';

/**
 * A new image brings new code (other operators, other state): only it can judge whether it
 * restores the current state, so the check runs as a Job with the new image. When only the
 * pipeline or config changes, the running runtime is the same code and is asked directly (no Job).
 * `weir savepoint check` takes a pipeline: apps whose dataflow is code in the image
 * (spec.entrypoint, no pipeline) are asked through the running runtime as before.
 */
export function checkRunsAsJob(ctx: Ctx): boolean {
  return ctx.spec.pipeline !== undefined && deployedSpec(ctx.status)?.image !== ctx.spec.image;
}

/** Whether (and how) observe should find out this pass if the desired spec can restore the current state. */
export function compatibilityCheckMode(ctx: Ctx): CompatibilityCheckMode {
  const steady: string[] = [Phase.Running, Phase.Stable, Phase.RolledBack];
  if (!steady.includes(ctx.phase) || !specChanged(ctx) || upgradeKind(ctx)?.needsCompatibility !== true) return 'none';
  return checkRunsAsJob(ctx) ? 'job' : 'runtime';
}

/** Check Job names carry the attempt as one digit (the name stays within 63 characters). */
export const MAX_CHECK_ATTEMPTS = 10;

/**
 * The pre-flight check by Job, until it gives a verdict (observe then turns it into
 * observed.compatibility): start it, wait for it, or retry with backoff when it could not run.
 * Nothing is stopped meanwhile.
 */
function checkByJob(ctx: Ctx, hash: string, snapshot: string): Decision {
  const jobs = ctx.observed.compatibilityChecks ?? [];
  const stale: Action[] = jobs
    .filter((j) => j.specHash !== hash)
    .map((j) => ({ kind: 'deleteCompatibilityCheck', name: j.name }));
  const mine = jobs.filter((j) => j.specHash === hash).sort((a, b) => b.attempt - a.attempt);
  const latest = mine[0];
  const start = (attempt: number): Action => ({
    kind: 'startCompatibilityCheck',
    spec: ctx.spec,
    specHash: hash,
    attempt,
    snapshot,
  });
  const checking = (actions: Action[], message: string) =>
    stay(ctx, 'CheckingCompatibility', message, { actions, patch: runtimeStatus(ctx) });
  const what = `that image ${ctx.spec.image} can restore ${snapshot}`;
  if (latest === undefined) return checking([...stale, start(0)], `checking (a Job with the new image) ${what}`);
  if (latest.outcome !== 'Error') return checking(stale, `checking (Job ${latest.name}) ${what}`);
  const failures = latest.attempt + 1;
  const why = `the compatibility check of image ${ctx.spec.image} could not run: ${latest.reason ?? 'unknown cause'}`;
  if (failures >= MAX_CHECK_ATTEMPTS) {
    return stay(ctx, 'CompatibilityCheckFailed', why, {
      actions: stale,
      patch: runtimeStatus(ctx),
      stalled: {
        reason: 'CompatibilityCheckFailed',
        message: `${why}; gave up after ${failures} attempts. Nothing was stopped. Way out: make the image runnable, or change the spec (a new spec is checked again)`,
      },
      warning: true,
      requeueAfterMs: ctx.tuning.settledResyncMs,
    });
  }
  const waitMs = backoffMs(ctx.tuning, failures);
  const waited = ctx.now - Date.parse(latest.finishedAt ?? ctx.nowIso);
  if (waited >= waitMs) {
    const retry = mine.map((j): Action => ({ kind: 'deleteCompatibilityCheck', name: j.name }));
    return checking([...stale, ...retry, start(failures)], `${why}; checking again (attempt ${failures + 1})`);
  }
  return stay(
    ctx,
    'CompatibilityCheckFailed',
    `${why}. Nothing was stopped; checking again in ${Math.ceil((waitMs - waited) / 1000)} s`,
    { actions: stale, patch: runtimeStatus(ctx), warning: true, requeueAfterMs: waitMs - waited },
  );
}

export function rollbackEligible(ctx: Ctx): boolean {
  if (!ctx.spec.rollback.enabled) return false;
  const stable = parseSpec(ctx.status.lastStableSpec);
  if (stable === undefined || deploymentHash(stable) === ctx.status.deployedSpecHash) return false;
  const op = lastUpgradeLike(ctx.status);
  return op !== undefined && (op.snapshot !== undefined || stable.upgrade.mode === 'stateless');
}

export function enterRollingBack(ctx: Ctx, why: string): Decision {
  const op = lastUpgradeLike(ctx.status);
  return enter(
    ctx,
    Phase.RollingBack,
    'RollingBack',
    `${why}; rolling back to the last stable spec from ${op?.snapshot ?? 'empty state'}`,
    {
      deadlineSeconds: ctx.spec.upgrade.cancelTimeoutSeconds + ctx.spec.upgrade.deployTimeoutSeconds,
      actions: [{ kind: 'deleteWorkloads' }],
      patch: { ...runtimeStatus(ctx), operations: startOperation(ctx, 'rollback', why, op?.snapshot) },
      warning: true,
    },
  );
}

export function enterRestarting(ctx: Ctx, why: string): Decision {
  const snapshot = latestSnapshot(ctx);
  return enter(ctx, Phase.Restarting, 'JobFailed', `${why}; redeploying from ${snapshot ?? 'empty state'}`, {
    deadlineSeconds: ctx.spec.upgrade.cancelTimeoutSeconds + ctx.tuning.backoffMaxMs / 1000,
    actions: [{ kind: 'deleteWorkloads' }],
    patch: {
      ...runtimeStatus(ctx),
      pendingSavepoint: undefined,
      operations: startOperation(ctx, 'recover', why, snapshot),
    },
    warning: true,
  });
}

/** Starts an upgrade, rescale or restart of the running version, or explains why not yet. */
export function beginUpgrade(ctx: Ctx): Decision {
  const kind = upgradeKind(ctx);
  if (kind === undefined) {
    // Only operator-side settings changed: adopt them, touch nothing.
    const adopted = { ...runtimeStatus(ctx), lastReconciledSpec: reconciledJson(ctx) };
    if (ctx.phase === Phase.RolledBack) {
      return enter(ctx, Phase.Stable, 'SpecRestored', 'the spec is back to the last stable one', {
        patch: { ...adopted, lastReconciledSpec: ctx.status.lastStableSpec },
      });
    }
    return stay(ctx, 'SpecAdopted', 'spec change needs no redeploy', { patch: adopted });
  }
  // Check Jobs whose verdict is used now (or that belong to an earlier spec) go, after the upgrade's own action.
  const checkJobs: Action[] = (ctx.observed.compatibilityChecks ?? []).map((j) => ({
    kind: 'deleteCompatibilityCheck',
    name: j.name,
  }));
  if (kind.needsCompatibility) {
    const check = ctx.observed.compatibility;
    const hash = compatibilityCheckHash(ctx.spec);
    const snapshot = latestSnapshot(ctx);
    // No snapshot yet: nothing to restore but the upgrade savepoint, which the new version's start validates.
    if (check?.specHash !== hash && checkRunsAsJob(ctx) && snapshot !== undefined) {
      return checkByJob(ctx, hash, snapshot);
    }
    if (check?.specHash !== hash && !checkRunsAsJob(ctx)) {
      return stay(ctx, 'CheckingCompatibility', 'checking that the new version can restore the current state', {
        patch: runtimeStatus(ctx),
      });
    }
    if (check?.compatible === false) {
      return stay(ctx, 'IncompatibleState', 'the new version cannot restore the current state; nothing was stopped', {
        // The verdict's own Job stays: a restarted operator finds the verdict there again.
        actions: (ctx.observed.compatibilityChecks ?? [])
          .filter((j) => j.specHash !== hash)
          .map((j): Action => ({ kind: 'deleteCompatibilityCheck', name: j.name })),
        patch: runtimeStatus(ctx),
        stalled: {
          reason: 'IncompatibleState',
          message: `the new spec cannot restore the running job's state: ${check.problems.join('; ')}. Nothing was stopped. Way out: fix the spec, set allowNonRestoredState, or use upgrade.mode=stateless`,
        },
        warning: true,
        requeueAfterMs: ctx.tuning.settledResyncMs,
      });
    }
  }
  const trigger = kind.op === 'rescale' ? 'rescale' : 'upgrade';
  const mode = ctx.spec.upgrade.mode;
  if (mode === 'savepoint') {
    const id = `${trigger}-g${ctx.generation}-${ctx.now}-0`;
    return enter(ctx, Phase.Savepointing, 'Savepointing', `${kind.op}: stopping the job with a savepoint`, {
      deadlineSeconds: ctx.spec.upgrade.savepointTimeoutSeconds * ctx.tuning.stallAfterFailures,
      actions: [{ kind: 'triggerSavepoint', id, stop: true, trigger }, ...checkJobs],
      patch: {
        ...runtimeStatus(ctx),
        operations: startOperation(ctx, kind.op, 'spec change'),
        pendingSavepoint: { triggerId: id, trigger, startedAt: ctx.nowIso },
      },
    });
  }
  const snapshot = mode === 'last-state' ? latestSnapshot(ctx) : undefined;
  return enter(ctx, Phase.Cancelling, 'Cancelling', `${kind.op} (${mode}): stopping the old version`, {
    deadlineSeconds: ctx.spec.upgrade.cancelTimeoutSeconds,
    actions: [{ kind: 'deleteWorkloads' }, ...checkJobs],
    patch: { ...runtimeStatus(ctx), operations: startOperation(ctx, kind.op, 'spec change', snapshot) },
  });
}

export function enterSuspending(ctx: Ctx): Decision {
  const id = `suspend-g${ctx.generation}-${ctx.now}-0`;
  return enter(ctx, Phase.Suspending, 'Suspending', 'suspend requested: stopping the job with a savepoint', {
    deadlineSeconds: ctx.spec.upgrade.savepointTimeoutSeconds * ctx.tuning.stallAfterFailures,
    actions: [{ kind: 'triggerSavepoint', id, stop: true, trigger: 'suspend' }],
    patch: {
      ...runtimeStatus(ctx),
      operations: startOperation(ctx, 'suspend', 'spec.state=suspended'),
      pendingSavepoint: { triggerId: id, trigger: 'suspend', startedAt: ctx.nowIso },
    },
  });
}

/**
 * Manual (by nonce) and periodic savepoints of a running job, taken without stopping it.
 * Returns undefined when there is nothing to do.
 */
export function savepointHousekeeping(ctx: Ctx): Decision | undefined {
  const pending = ctx.status.pendingSavepoint;
  const nonce = ctx.spec.savepoints.triggerNonce;
  const handledNonce = parseSpec(ctx.status.lastReconciledSpec)?.savepoints.triggerNonce;
  const markNonce = (): string | undefined => {
    const reconciled = parseSpec(ctx.status.lastReconciledSpec);
    if (reconciled === undefined) return undefined;
    const { triggerNonce: _ignored, ...rest } = reconciled.savepoints;
    return JSON.stringify({ ...reconciled, savepoints: nonce === undefined ? rest : { ...rest, triggerNonce: nonce } });
  };
  if (pending !== undefined) {
    const timeoutSeconds = ctx.spec.upgrade.savepointTimeoutSeconds;
    const outcome = pendingSavepointOutcome(ctx, Date.parse(pending.startedAt) + timeoutSeconds * 1000, timeoutSeconds);
    if (outcome.kind === 'waiting' || outcome.kind === 'cancelling') {
      const cancelling = outcome.kind === 'cancelling';
      return stay(
        ctx,
        cancelling ? 'SavepointTimedOut' : 'SavepointInProgress',
        cancelling ? outcome.message : `${pending.trigger} savepoint in progress`,
        {
          actions: outcome.actions,
          patch: runtimeStatus(ctx),
          ...(cancelling ? { warning: true } : {}),
        },
      );
    }
    const ok = outcome.kind === 'completed';
    const failure = ok ? undefined : outcome.message;
    const { savepoints, dispose } = recordSavepoint(ctx, {
      path: ok ? outcome.path : '',
      time: ctx.nowIso,
      trigger: asTrigger(pending.trigger),
      result: ok ? 'Succeeded' : 'Failed',
      ...(failure === undefined ? {} : { message: failure }),
    });
    const nonceDone = pending.trigger === 'manual' ? markNonce() : undefined;
    return stay(
      ctx,
      ok ? 'SavepointCompleted' : 'SavepointFailed',
      ok ? `${pending.trigger} savepoint ${outcome.path}` : `${pending.trigger} savepoint failed: ${failure ?? ''}`,
      {
        actions: ok ? dispose : outcome.actions,
        patch: {
          ...runtimeStatus(ctx),
          savepoints,
          pendingSavepoint: undefined,
          ...(nonceDone === undefined ? {} : { lastReconciledSpec: nonceDone }),
        },
        ...(ok ? {} : { warning: true }),
      },
    );
  }
  if (!jobRunning(ctx)) return undefined;
  let trigger: 'manual' | 'periodic' | undefined;
  if (nonce !== undefined && nonce !== handledNonce) trigger = 'manual';
  else if (ctx.spec.savepoints.intervalSeconds !== undefined) {
    const lastPeriodic = ctx.status.savepoints?.history?.find((r) => r.trigger === 'periodic');
    const failures =
      ctx.status.savepoints?.history
        ?.slice(0, ctx.tuning.stallAfterFailures)
        .filter((r) => r.trigger === 'periodic' && r.result === 'Failed').length ?? 0;
    const base = Date.parse(
      lastPeriodic?.time ?? ctx.observed.runtime?.job.startTime ?? ctx.status.phaseStartedAt ?? ctx.nowIso,
    );
    const wait =
      lastPeriodic?.result === 'Failed'
        ? Math.min(ctx.spec.savepoints.intervalSeconds * 1000, backoffMs(ctx.tuning, failures))
        : ctx.spec.savepoints.intervalSeconds * 1000;
    if (ctx.now - base >= wait) trigger = 'periodic';
  }
  if (trigger === undefined) return undefined;
  const id = `${trigger}-g${ctx.generation}-${ctx.now}`;
  return stay(ctx, 'SavepointTriggered', `${trigger} savepoint triggered`, {
    actions: [{ kind: 'triggerSavepoint', id, stop: false, trigger }],
    patch: { ...runtimeStatus(ctx), pendingSavepoint: { triggerId: id, trigger, startedAt: ctx.nowIso } },
  });
}

/** What Running, Stable and RolledBack have in common, in priority order. */
export function steadyPass(ctx: Ctx, onHealthy: () => Decision): Decision {
  if (ctx.status.pendingSavepoint === undefined || jobFailed(ctx)) {
    if (ctx.spec.state === 'suspended') return enterSuspending(ctx);
    if (jobFailed(ctx)) {
      const why = `job failed: ${ctx.observed.runtime?.job.failure ?? 'unknown cause'}`;
      if (ctx.phase === Phase.Running && rollbackEligible(ctx)) return enterRollingBack(ctx, why);
      return enterRestarting(ctx, why);
    }
    if (specChanged(ctx)) return beginUpgrade(ctx);
  }
  return savepointHousekeeping(ctx) ?? onHealthy();
}

export { closeOperation };
