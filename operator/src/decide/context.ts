// Shared, pure helpers the phase functions decide with.
import { SavepointTrigger as TRIGGERS } from '@weir/runtime/api';
import type {
  OperationRecord,
  OperationType,
  SavepointRecord,
  SavepointTrigger,
  StreamApplicationSpec,
  StreamApplicationStatus,
} from '../model.ts';
import { deploymentHash, diffSpecs, type SpecDiff } from './spec-diff.ts';
import type { Action, Decision, DecideInput, Observed, Phase, Tuning } from './types.ts';

export const MAX_OPERATIONS = 20;

export interface Ctx {
  spec: StreamApplicationSpec;
  status: StreamApplicationStatus;
  observed: Observed;
  generation: number;
  phase: Phase;
  now: number;
  nowIso: string;
  tuning: Tuning;
}

export function makeCtx(input: DecideInput & { spec: StreamApplicationSpec }, phase: Phase): Ctx {
  return {
    spec: input.spec,
    status: input.status,
    observed: input.observed,
    generation: input.generation,
    phase,
    now: input.observed.nowMs,
    nowIso: new Date(input.observed.nowMs).toISOString(),
    tuning: input.tuning,
  };
}

export function parseSpec(json: string | undefined): StreamApplicationSpec | undefined {
  if (json === undefined || json === '') return undefined;
  return JSON.parse(json) as StreamApplicationSpec;
}

/** The spec last acted upon (what the user asked for when the operator last deployed). */
export function reconciledSpec(ctx: Ctx): StreamApplicationSpec {
  return parseSpec(ctx.status.lastReconciledSpec) ?? ctx.spec;
}

/** How the desired spec differs from the last reconciled one. */
export function pendingChange(ctx: Ctx): SpecDiff {
  return diffSpecs(reconciledSpec(ctx), ctx.spec);
}

export function stay(ctx: Ctx, reason: string, message: string, extra: Partial<Decision> = {}): Decision {
  return {
    phase: ctx.phase,
    reason,
    message,
    actions: [],
    patch: {},
    requeueAfterMs: ctx.tuning.pollMs,
    ...extra,
  };
}

/** Moves to `phase`, stamping when it started and its deadline. */
export function enter(
  ctx: Ctx,
  phase: Phase,
  reason: string,
  message: string,
  opts: {
    deadlineSeconds?: number;
    actions?: Action[];
    patch?: Partial<StreamApplicationStatus>;
    warning?: boolean;
  } = {},
): Decision {
  return {
    phase,
    reason,
    message,
    actions: opts.actions ?? [],
    patch: {
      ...opts.patch,
      phaseStartedAt: ctx.nowIso,
      phaseDeadline:
        opts.deadlineSeconds === undefined ? undefined : new Date(ctx.now + opts.deadlineSeconds * 1000).toISOString(),
    },
    requeueAfterMs: ctx.tuning.pollMs,
    ...(opts.warning === true ? { warning: true } : {}),
  };
}

export function pastDeadline(ctx: Ctx): boolean {
  const d = ctx.status.phaseDeadline;
  return d !== undefined && ctx.now > Date.parse(d);
}

export function phaseStartedMs(ctx: Ctx): number {
  const s = ctx.status.phaseStartedAt;
  return s === undefined ? ctx.now : Date.parse(s);
}

// ---- operations history ----

// Histories are kept newest first, as the API documents them.

export function currentOperation(status: StreamApplicationStatus): OperationRecord | undefined {
  return status.operations?.[0];
}

export function startOperation(
  ctx: Ctx,
  type: OperationType,
  trigger: string,
  snapshot?: string,
  operations: OperationRecord[] = ctx.status.operations ?? [],
): OperationRecord[] {
  const op: OperationRecord = {
    type,
    trigger,
    fromGeneration: ctx.status.observedGeneration,
    toGeneration: ctx.generation,
    outcome: 'InProgress',
    startedAt: ctx.nowIso,
    ...(snapshot === undefined ? {} : { snapshot }),
  };
  // A new operation supersedes one still in progress.
  const closed = closeOperation(ctx, operations, 'Failed', 'superseded');
  return [op, ...closed].slice(0, MAX_OPERATIONS);
}

export function closeOperation(
  ctx: Ctx,
  operations: OperationRecord[],
  outcome: 'Succeeded' | 'Failed',
  message?: string,
): OperationRecord[] {
  const last = operations[0];
  if (last?.outcome !== 'InProgress') return operations;
  const done: OperationRecord = {
    ...last,
    outcome,
    finishedAt: ctx.nowIso,
    durationSeconds: Math.max(0, Math.round((ctx.now - Date.parse(last.startedAt)) / 1000)),
    ...(message === undefined ? {} : { message }),
  };
  return [done, ...operations.slice(1)];
}

export function updateOperation(operations: OperationRecord[], change: Partial<OperationRecord>): OperationRecord[] {
  const last = operations[0];
  if (last === undefined) return operations;
  return [{ ...last, ...change }, ...operations.slice(1)];
}

/** The operation whose snapshot the current deployment restores (and a rollback returns to). */
export function lastUpgradeLike(status: StreamApplicationStatus): OperationRecord | undefined {
  return status.operations?.find((o) => o.type === 'upgrade' || o.type === 'rescale' || o.type === 'restart');
}

// ---- savepoints ----

export function asTrigger(v: string): SavepointTrigger {
  if (!(TRIGGERS as readonly string[]).includes(v))
    throw new Error(`status.pendingSavepoint.trigger: unknown trigger ${JSON.stringify(v)}`);
  return v as SavepointTrigger;
}

export function savepointAttemptId(ctx: Ctx, trigger: SavepointTrigger, attempt: number): string {
  return `${trigger}-g${ctx.generation}-${Date.parse(ctx.status.phaseStartedAt ?? ctx.nowIso)}-${attempt}`;
}

export function savepointsSincePhaseStart(ctx: Ctx, trigger: SavepointTrigger): SavepointRecord[] {
  const since = phaseStartedMs(ctx);
  return (ctx.status.savepoints?.history ?? []).filter((r) => r.trigger === trigger && Date.parse(r.time) >= since);
}

export function backoffMs(tuning: Tuning, attempts: number): number {
  return Math.min(tuning.backoffMaxMs, tuning.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
}

/** Records a finished savepoint; returns the new savepoints status and which old ones to dispose. */
export function recordSavepoint(
  ctx: Ctx,
  record: SavepointRecord,
): { savepoints: NonNullable<StreamApplicationStatus['savepoints']>; dispose: Action[] } {
  const history = [record, ...(ctx.status.savepoints?.history ?? [])];
  const limit = Math.max(1, ctx.spec.savepoints.historyLimit);
  const kept = history.slice(0, limit);
  const trimmed = history.slice(limit);
  const last = record.result === 'Succeeded' ? record : ctx.status.savepoints?.last;
  // Never dispose what a restore may still need: the latest savepoint and the rollback snapshot.
  const protectedPaths = new Set([last?.path, lastUpgradeLike(ctx.status)?.snapshot]);
  const dispose: Action[] = trimmed
    .filter((r) => r.result === 'Succeeded' && !protectedPaths.has(r.path))
    .map((r) => ({ kind: 'disposeSavepoint', path: r.path }));
  return { savepoints: { history: kept, ...(last === undefined ? {} : { last }) }, dispose };
}

export function applyAction(spec: StreamApplicationSpec, restoreFrom?: string): Action {
  return {
    kind: 'apply',
    spec,
    specHash: deploymentHash(spec),
    ...(restoreFrom === undefined ? {} : { restoreFrom }),
  };
}

/** Fields copied from the runtime into status on every pass that reached it. */
export function runtimeStatus(ctx: Ctx): Partial<StreamApplicationStatus> {
  const rt = ctx.observed.runtime;
  if (rt === undefined) return {};
  const lastCompleted = rt.checkpoints.lastCompleted ?? ctx.status.checkpoints?.lastCompleted;
  return {
    job: {
      state: rt.job.state,
      restarts: rt.job.restarts,
      ...(rt.job.startTime === undefined ? {} : { startTime: rt.job.startTime }),
    },
    checkpoints: lastCompleted === undefined ? {} : { lastCompleted },
    eventTime: {
      ...(rt.eventTime.watermark === undefined ? {} : { watermark: rt.eventTime.watermark }),
      ...(rt.eventTime.lagSeconds === undefined
        ? {}
        : { lagSeconds: Math.round(rt.eventTime.lagSeconds), lag: humanDuration(rt.eventTime.lagSeconds) }),
      ...(rt.eventTime.recordsLag === undefined ? {} : { recordsLag: rt.eventTime.recordsLag }),
      observedAt: ctx.nowIso,
    },
  };
}

/** The newest restorable state: the latest completed checkpoint, else the latest savepoint. */
export function latestSnapshot(ctx: Ctx): string | undefined {
  return (
    ctx.observed.runtime?.checkpoints.lastCompleted?.path ??
    ctx.status.checkpoints?.lastCompleted?.path ??
    ctx.status.savepoints?.last?.path
  );
}

/** The job runs the deployed spec and is healthy enough to take a savepoint. */
export function jobRunning(ctx: Ctx): boolean {
  const job = ctx.observed.runtime?.job;
  return job?.state === 'RUNNING' && ctx.observed.workloads.present;
}

export function jobFailed(ctx: Ctx): boolean {
  return ctx.observed.runtime?.job.state === 'FAILED';
}

export function workloadsGone(ctx: Ctx): boolean {
  return !ctx.observed.workloads.present && ctx.observed.workloads.podsRemaining === 0;
}

/** 65 → "1m5s", 0.4 → "0s". */
export function humanDuration(seconds: number): string {
  let s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}
