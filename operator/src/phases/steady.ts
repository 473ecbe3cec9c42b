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
import { canonicalJson, deploymentHash, diffSpecs } from '../decide/spec-diff.ts';
import { Phase, type Decision } from '../decide/types.ts';

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

/** Whether observe should run the runtime's compatibility check of the desired spec this pass. */
export function compatibilityCheckNeeded(ctx: Ctx): boolean {
  const steady: string[] = [Phase.Running, Phase.Stable, Phase.RolledBack];
  return steady.includes(ctx.phase) && specChanged(ctx) && upgradeKind(ctx)?.needsCompatibility === true;
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
  if (kind.needsCompatibility) {
    const check = ctx.observed.compatibility;
    if (check?.specHash !== deploymentHash(ctx.spec)) {
      return stay(ctx, 'CheckingCompatibility', 'checking that the new version can restore the current state', {
        patch: runtimeStatus(ctx),
      });
    }
    if (!check.compatible) {
      return stay(ctx, 'IncompatibleState', 'the new version cannot restore the current state; nothing was stopped', {
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
      actions: [{ kind: 'triggerSavepoint', id, stop: true, trigger }],
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
    actions: [{ kind: 'deleteWorkloads' }],
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
    const sp = ctx.observed.savepoint;
    const timedOut = ctx.now - Date.parse(pending.startedAt) > ctx.spec.upgrade.savepointTimeoutSeconds * 1000;
    if (sp?.state === 'IN_PROGRESS' || (sp === undefined && !timedOut)) {
      return stay(ctx, 'SavepointInProgress', `${pending.trigger} savepoint in progress`, {
        patch: runtimeStatus(ctx),
      });
    }
    const ok = sp?.state === 'COMPLETED' && sp.path !== undefined;
    const { savepoints, dispose } = recordSavepoint(ctx, {
      path: sp?.path ?? '',
      time: ctx.nowIso,
      trigger: asTrigger(pending.trigger),
      result: ok ? 'Succeeded' : 'Failed',
      ...(ok ? {} : { message: sp?.error ?? 'timed out' }),
    });
    const nonceDone = pending.trigger === 'manual' ? markNonce() : undefined;
    return stay(
      ctx,
      ok ? 'SavepointCompleted' : 'SavepointFailed',
      ok
        ? `${pending.trigger} savepoint ${sp.path}`
        : `${pending.trigger} savepoint failed: ${sp?.error ?? 'timed out'}`,
      {
        actions: dispose,
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
