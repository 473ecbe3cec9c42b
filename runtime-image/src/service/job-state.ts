// The coordinator's judgements, as pure functions of what the workers last reported.
import { join } from 'node:path';
import type {
  CheckpointSummary,
  JobState,
  SavepointState,
  WorkerCommands,
  WorkerReport,
  WorkerSavepointReport,
  WorkerState,
} from '../api/contract.ts';
import { partName } from '../snapshot/job-snapshot.ts';

/** What the coordinator knows of one worker. */
export interface WorkerView {
  readonly report: WorkerReport;
  /** When its last heartbeat arrived (ms). */
  readonly seenAt: number;
  /** Process restarts the coordinator has seen (a new incarnation after an older one). */
  readonly processRestarts: number;
  /** Whether it ever reported RUNNING. */
  readonly everRan: boolean;
}

/** A worker is lost when no heartbeat came for this long (it may be restarting, or its pod is gone). */
export const HEARTBEAT_TIMEOUT_MS = 10_000;

export function workerState(w: WorkerView | undefined, now: number): WorkerState {
  if (w === undefined) return 'UNKNOWN';
  if (now - w.seenAt > HEARTBEAT_TIMEOUT_MS) return 'LOST';
  return w.report.state;
}

export interface JobFacts {
  readonly parallelism: number;
  readonly workers: readonly (WorkerView | undefined)[];
  readonly now: number;
  readonly cancelRequested: boolean;
  /** A stop-with-savepoint completed: the job ended there. */
  readonly stoppedWithSavepoint: boolean;
}

/** The job's state from its workers' (the contract's JobSummary.state). */
export function jobState(f: JobFacts): JobState {
  // A worker paused for a savepoint that does not end the job is still part of a running job.
  const states = Array.from({ length: f.parallelism }, (_, i) => {
    const s = workerState(f.workers[i], f.now);
    const paused = f.workers[i]?.report.pausedFor !== undefined && s !== 'LOST' && s !== 'FAILED';
    return paused && !f.cancelRequested ? 'RUNNING' : s;
  });
  const ended = (s: WorkerState): boolean => s === 'CANCELED' || s === 'STOPPED' || s === 'LOST' || s === 'UNKNOWN';
  if (f.cancelRequested) return states.every(ended) ? 'CANCELED' : 'RUNNING';
  if (f.stoppedWithSavepoint) return 'STOPPED';
  if (states.includes('FAILED')) return 'FAILED';
  if (states.every((s) => s === 'RUNNING')) return 'RUNNING';
  const restarting = states.some(
    (s, i) =>
      s === 'RESTARTING' ||
      ((s === 'LOST' || s === 'STARTING') && f.workers[i]?.everRan === true) ||
      (f.workers[i]?.processRestarts ?? 0) > 0,
  );
  return restarting ? 'RESTARTING' : 'CREATED';
}

/** Restarts since the job started: in-process restarts plus process restarts, over every worker. */
export function restartsOf(workers: readonly (WorkerView | undefined)[]): number {
  let n = 0;
  for (const w of workers) if (w !== undefined) n += w.report.restarts + w.processRestarts;
  return n;
}

/**
 * The job's checkpoint progress. Each worker checkpoints on its own (its transaction and its
 * snapshot); the job's latest is the oldest of the workers' latest, under the deployment's
 * checkpoint directory whose `w<i>` parts each worker restores.
 */
export function checkpointSummary(
  parallelism: number,
  workers: readonly (WorkerView | undefined)[],
  checkpointDir: string,
): CheckpointSummary {
  let completed = Infinity;
  let oldest: { epoch: number; completedAt: number } | undefined;
  for (let i = 0; i < parallelism; i++) {
    const m = workers[i]?.report.metrics;
    if (m === undefined) return { completedSinceStart: 0 };
    completed = Math.min(completed, m.checkpointsCompleted);
    const c = m.lastCheckpoint;
    if (c === undefined) return { completedSinceStart: 0 };
    if (oldest === undefined || c.completedAt < oldest.completedAt) oldest = c;
  }
  if (oldest === undefined || !Number.isFinite(completed)) return { completedSinceStart: 0 };
  return {
    completedSinceStart: completed,
    lastCompleted: { id: oldest.epoch, time: new Date(oldest.completedAt).toISOString(), path: checkpointDir },
  };
}

export interface SavepointTask {
  readonly id: string;
  readonly stop: boolean;
  readonly dir: string;
  state: SavepointState;
  error?: string | undefined;
}

/** A savepoint's progress from the workers' reports: complete when every worker wrote its part. */
export function savepointProgress(
  sp: Pick<SavepointTask, 'id'>,
  parallelism: number,
  reports: readonly (readonly WorkerSavepointReport[] | undefined)[],
): { state: SavepointState; error?: string } {
  let done = 0;
  for (let i = 0; i < parallelism; i++) {
    const r = reports[i]?.find((s) => s.id === sp.id);
    if (r?.state === 'FAILED' || r?.state === 'CANCELED')
      return { state: 'FAILED', error: `worker ${i}: ${r.error ?? r.state.toLowerCase()}` };
    if (r?.state === 'COMPLETED') done++;
  }
  return { state: done === parallelism ? 'COMPLETED' : 'IN_PROGRESS' };
}

/** The directory of worker `index`'s part of a job snapshot. */
export function partDir(dir: string, index: number): string {
  return join(dir, partName(index));
}

/**
 * What one worker should do now (level-triggered: repeated until its reports show it done).
 * Workers stop at their part of every savepoint (that is what makes the parts one consistent
 * cut across the exchange); they resume from it once it is complete, when the savepoint does not
 * end the job, or once it failed or was cancelled, so that a stop-with-savepoint that fails
 * leaves the job running.
 */
export function commandsFor(
  index: number,
  report: WorkerReport,
  o: {
    readonly active: SavepointTask | undefined;
    /** The newest savepoint. */
    readonly last: SavepointTask | undefined;
    readonly cancel: boolean;
    readonly previewing: readonly string[];
  },
): WorkerCommands {
  const out: WorkerCommands = { cancel: o.cancel, previewing: [...o.previewing] };
  if (o.cancel) return out;
  // Repeated while in progress (the worker does it once): its absence tells a worker to give it up.
  if (o.active?.state === 'IN_PROGRESS') {
    out.savepoint = { id: o.active.id, dir: partDir(o.active.dir, index), stop: o.active.stop };
  }
  const last = o.last;
  if (report.state === 'STOPPED' && last !== undefined) {
    const ended = last.state === 'FAILED' || last.state === 'CANCELED';
    const resume = last.stop ? ended : last.state !== 'IN_PROGRESS';
    if (resume && report.savepoints.some((s) => s.id === last.id)) out.resumeFrom = partDir(last.dir, index);
  }
  return out;
}
