// The coordinator: serves the control API from what its workers report in their heartbeats, and
// answers each heartbeat with what that worker should do. It holds no data and no consensus:
// workers checkpoint on their own (Kafka transactions make each worker's output and positions one
// unit); the coordinator triggers savepoints across them and knows when each completed. Its own
// records live in one file on the state volume, so that a restarted coordinator finds the job.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { Registry } from 'prom-client';
import type {
  CheckpointSummary,
  CompatibilityRequest,
  CompatibilityResult,
  EventTimeDetail,
  JobSummary,
  OperatorList,
  OperatorMetrics,
  Preview,
  PreviewRecord,
  SavepointRequest,
  SavepointStatus,
  SavepointTrigger,
  WorkerCommands,
  WorkerList,
  WorkerReport,
} from '../api/contract.ts';
import { MAX_WATERMARK, MIN_WATERMARK } from '../core/watermarks.ts';
import { writeJobSavepointManifest } from '../snapshot/job-snapshot.ts';
import type { ControlPort } from './control.ts';
import { OperatorRates } from './operator-metrics.ts';
import { registerJobMetrics } from './prometheus.ts';
import { badRequest, conflict } from './errors.ts';
import {
  checkpointSummary,
  commandsFor,
  jobState,
  restartsOf,
  savepointProgress,
  workerState,
  type SavepointTask,
  type WorkerView,
} from './job-state.ts';

export interface CoordinatorOptions {
  readonly parallelism: number;
  readonly specHash: string;
  readonly restoreFrom: string | undefined;
  /** This deployment's checkpoint directory (its `w<i>` parts are the workers'). */
  readonly checkpointDir: string;
  readonly savepointDir: string;
  readonly stateFile: string;
  /** Checks a pipeline against a snapshot (the compatibility route). */
  readonly checkCompatibility: (req: CompatibilityRequest, snapshot: string) => Promise<CompatibilityResult>;
  readonly clock?: () => number;
}

interface SavepointRecord extends SavepointTask {
  readonly trigger: SavepointTrigger;
  readonly startedAt: number;
}

interface Persisted {
  readonly version: 1;
  readonly startTime: number;
  readonly cancelRequested: boolean;
  readonly savepoints: SavepointRecord[];
  /** Per worker: its last incarnation and how many process restarts were seen. */
  readonly processes: Record<string, { incarnation: string; restarts: number }>;
}

/** How long a worker's sampled records stay, and how long an operator is sampled after the last look. */
const PREVIEW_KEEP = 1000;
const PREVIEW_IDLE_MS = 60_000;

/** Savepoint directories are named after the request, safely. */
export function savepointDirName(requestId: string): string {
  const slug = requestId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  let h = 0;
  for (const c of requestId) h = (Math.imul(h, 31) + (c.codePointAt(0) ?? 0)) >>> 0;
  return `sp-${slug}-${h.toString(16)}`;
}

export class Coordinator implements ControlPort {
  readonly registry = new Registry();
  readonly #o: CoordinatorOptions;
  readonly #now: () => number;
  readonly #workers: (WorkerView | undefined)[];
  #state: Persisted;
  #saving: Promise<void> = Promise.resolve();
  readonly #previewing = new Map<string, number>();
  readonly #preview = new Map<string, PreviewRecord[][]>();
  #watermark = MIN_WATERMARK;
  #watermarkAdvancedAt: number | undefined;
  readonly #rates = new OperatorRates();

  private constructor(o: CoordinatorOptions, state: Persisted) {
    this.#o = o;
    this.#now = o.clock ?? Date.now;
    this.#workers = Array.from({ length: o.parallelism }, () => undefined);
    this.#state = state;
    registerJobMetrics(this.registry, {
      running: () => this.#jobState() === 'RUNNING',
      restarts: () => restartsOf(this.#workers),
      eventTime: () => this.eventTime(),
      checkpointsCompleted: () => this.checkpoints().completedSinceStart,
      operators: () => this.#operatorTotals(),
    });
  }

  /** Opens the deployment's records, or starts them. */
  static async open(o: CoordinatorOptions): Promise<Coordinator> {
    const now = (o.clock ?? Date.now)();
    let state: Persisted = { version: 1, startTime: now, cancelRequested: false, savepoints: [], processes: {} };
    try {
      state = JSON.parse(await readFile(o.stateFile, 'utf8')) as Persisted;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const c = new Coordinator(o, state);
    await c.#persist();
    return c;
  }

  #persist(): Promise<void> {
    const snapshot = JSON.stringify(this.#state);
    this.#saving = this.#saving.then(async () => {
      await mkdir(dirname(this.#o.stateFile), { recursive: true });
      // Its own temporary name: a restarted coordinator may write while the old one still does.
      const tmp = `${this.#o.stateFile}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.#o.stateFile);
    });
    return this.#saving;
  }

  #stoppedWithSavepoint(): boolean {
    return this.#state.savepoints.some((s) => s.stop && s.state === 'COMPLETED');
  }

  #jobState(): JobSummary['state'] {
    return jobState({
      parallelism: this.#o.parallelism,
      workers: this.#workers,
      now: this.#now(),
      cancelRequested: this.#state.cancelRequested,
      stoppedWithSavepoint: this.#stoppedWithSavepoint(),
    });
  }

  job(): JobSummary {
    const failure = this.#workers.find((w) => w?.report.failure !== undefined)?.report.failure;
    return {
      state: this.#jobState(),
      specHash: this.#o.specHash,
      startTime: new Date(this.#state.startTime).toISOString(),
      restarts: restartsOf(this.#workers),
      ...(this.#o.restoreFrom === undefined ? {} : { restoredFrom: this.#o.restoreFrom }),
      ...(failure === undefined ? {} : { failure }),
    };
  }

  cancelJob(): JobSummary {
    if (!this.#state.cancelRequested) {
      this.#state = { ...this.#state, cancelRequested: true };
      void this.#persist();
    }
    return this.job();
  }

  checkpoints(): CheckpointSummary {
    return checkpointSummary(this.#o.parallelism, this.#workers, this.#o.checkpointDir);
  }

  eventTime(): EventTimeDetail {
    const now = this.#now();
    this.#trackWatermark(now);
    const wm = this.#watermark;
    const iso = (ms: number | undefined): string | undefined =>
      ms === undefined || ms <= MIN_WATERMARK || ms >= MAX_WATERMARK ? undefined : new Date(ms).toISOString();
    let backlog: number | undefined;
    for (const w of this.#workers) {
      const b = w?.report.metrics.backlog;
      if (b !== undefined) backlog = (backlog ?? 0) + b;
    }
    const sources = this.#workers.flatMap((w, worker) =>
      (w?.report.metrics.splits ?? []).map((s) => ({
        operatorId: s.operatorId,
        split: s.split,
        worker,
        ...(iso(s.watermark) === undefined ? {} : { watermark: iso(s.watermark) }),
        paused: s.paused,
      })),
    );
    const operators = this.#operatorTotals().map((o) => ({
      operatorId: o.operatorId,
      ...(o.watermark === undefined ? {} : { watermark: o.watermark }),
    }));
    const wmIso = iso(wm);
    const advanced = iso(this.#watermarkAdvancedAt);
    return {
      ...(wmIso === undefined ? {} : { watermark: wmIso, lagSeconds: Math.max(0, (now - wm) / 1000) }),
      ...(advanced === undefined ? {} : { watermarkAdvancedAt: advanced }),
      ...(backlog === undefined ? {} : { recordsLag: backlog }),
      sources,
      operators,
    };
  }

  /** The job's watermark is the slowest worker's; it advanced when that minimum rose. */
  #trackWatermark(now: number): void {
    let min: number | undefined;
    for (let i = 0; i < this.#o.parallelism; i++) {
      const w = this.#workers[i]?.report.metrics.watermark;
      if (w === undefined) return;
      min = min === undefined ? w : Math.min(min, w);
    }
    if (min !== undefined && min > this.#watermark) {
      this.#watermark = min;
      this.#watermarkAdvancedAt = now;
    }
  }

  async triggerSavepoint(req: SavepointRequest): Promise<SavepointStatus> {
    const existing = this.#state.savepoints.find((s) => s.id === req.requestId);
    if (existing !== undefined) return this.#status(existing);
    const state = this.#jobState();
    if (state !== 'RUNNING') throw conflict(`the job is ${state}: a savepoint needs a running job`);
    const active = this.#active();
    if (active !== undefined) throw conflict(`savepoint '${active.id}' is in progress`);
    const record: SavepointRecord = {
      id: req.requestId,
      stop: req.stop,
      trigger: req.trigger,
      dir: join(this.#o.savepointDir, savepointDirName(req.requestId)),
      state: 'IN_PROGRESS',
      startedAt: this.#now(),
    };
    this.#state = { ...this.#state, savepoints: [...this.#state.savepoints.slice(-49), record] };
    await this.#persist();
    return this.#status(record);
  }

  #active(): SavepointRecord | undefined {
    return this.#state.savepoints.find((s) => s.state === 'IN_PROGRESS');
  }

  #status(s: SavepointRecord): SavepointStatus {
    return {
      id: s.id,
      state: s.state,
      ...(s.state === 'COMPLETED' ? { path: s.dir } : {}),
      ...(s.error === undefined ? {} : { error: s.error }),
    };
  }

  savepoint(id: string): SavepointStatus | undefined {
    const s = this.#state.savepoints.find((r) => r.id === id);
    return s === undefined ? undefined : this.#status(s);
  }

  async cancelSavepoint(id: string): Promise<SavepointStatus | undefined> {
    const s = this.#state.savepoints.find((r) => r.id === id);
    if (s === undefined) return undefined;
    if (s.state === 'IN_PROGRESS') {
      s.state = 'CANCELED';
      s.error = 'cancelled on request';
      await this.#persist();
    }
    return this.#status(s);
  }

  async disposeSavepoint(path: string): Promise<void> {
    const root = resolve(this.#o.savepointDir);
    const target = resolve(path);
    const rel = relative(root, target);
    if (rel === '' || rel.startsWith('..') || rel.includes('/')) {
      throw badRequest(`${path} is not a savepoint of this app (they live directly under ${root})`);
    }
    await rm(target, { recursive: true, force: true });
  }

  async checkCompatibility(req: CompatibilityRequest): Promise<CompatibilityResult> {
    const snapshot = req.savepointPath ?? this.#o.checkpointDir;
    return this.#o.checkCompatibility(req, snapshot);
  }

  workers(): WorkerList {
    const now = this.#now();
    return {
      parallelism: this.#o.parallelism,
      workers: Array.from({ length: this.#o.parallelism }, (_, index) => {
        const w = this.#workers[index];
        const m = w?.report.metrics;
        const c = m?.lastCheckpoint;
        return {
          index,
          state: workerState(w, now),
          restarts: w === undefined ? 0 : w.report.restarts + w.processRestarts,
          ...(w?.report.pod === undefined ? {} : { pod: w.report.pod }),
          ...(w === undefined ? {} : { lastHeartbeat: new Date(w.seenAt).toISOString() }),
          ...(m === undefined ? {} : { recordsIn: m.recordsIn, recordsOut: m.recordsOut }),
          ...(c === undefined
            ? {}
            : { lastCheckpoint: { id: c.epoch, time: new Date(c.completedAt).toISOString(), path: c.path ?? '' } }),
          ...(w?.report.failure === undefined ? {} : { failure: w.report.failure }),
        };
      }),
    };
  }

  /** Per-operator totals over the workers (`operator-metrics.ts`). */
  #operatorTotals(): OperatorMetrics[] {
    return this.#rates.totals(this.#workers, this.#now());
  }

  operators(): OperatorList {
    return { operators: this.#operatorTotals() };
  }

  preview(operatorId: string, limit: number): Preview | undefined {
    const known = this.#workers.some((w) => w?.report.metrics.operators.some((o) => o.operatorId === operatorId));
    if (!known) return undefined;
    this.#previewing.set(operatorId, this.#now());
    const perWorker = this.#preview.get(operatorId) ?? [];
    const records = perWorker.flat();
    records.sort((a, b) => (a.time ?? '').localeCompare(b.time ?? ''));
    return { operatorId, records: records.slice(-limit) };
  }

  async heartbeat(report: WorkerReport): Promise<WorkerCommands> {
    const i = report.index;
    if (!Number.isInteger(i) || i < 0 || i >= this.#o.parallelism) {
      throw badRequest(`worker ${i} is beyond parallelism ${this.#o.parallelism}`);
    }
    const now = this.#now();
    const prev = this.#workers[i];
    const known = this.#state.processes[String(i)];
    let processRestarts = known?.restarts ?? 0;
    if (known?.incarnation !== report.incarnation) {
      if (known !== undefined) processRestarts++;
      this.#state = {
        ...this.#state,
        processes: {
          ...this.#state.processes,
          [String(i)]: { incarnation: report.incarnation, restarts: processRestarts },
        },
      };
      await this.#persist();
    }
    this.#workers[i] = {
      report,
      seenAt: now,
      processRestarts,
      everRan: (prev?.everRan ?? false) || report.state === 'RUNNING' || processRestarts > 0,
    };
    if (report.preview !== undefined) {
      for (const [op, recs] of Object.entries(report.preview)) {
        const perWorker = this.#preview.get(op) ?? [];
        perWorker[i] = [...(perWorker[i] ?? []), ...recs].slice(-PREVIEW_KEEP);
        this.#preview.set(op, perWorker);
      }
    }
    this.#trackWatermark(now);
    await this.#settleSavepoint();
    for (const [op, at] of this.#previewing) if (now - at > PREVIEW_IDLE_MS) this.#previewing.delete(op);
    return commandsFor(i, report, {
      active: this.#active(),
      last: this.#state.savepoints.at(-1),
      cancel: this.#state.cancelRequested,
      previewing: [...this.#previewing.keys()],
    });
  }

  /** An in-progress savepoint completes when every worker wrote its part, or fails when one could not. */
  async #settleSavepoint(): Promise<void> {
    const sp = this.#active();
    if (sp === undefined) return;
    const p = savepointProgress(
      sp,
      this.#o.parallelism,
      this.#workers.map((w) => w?.report.savepoints),
    );
    if (p.state === 'IN_PROGRESS') return;
    if (p.state === 'COMPLETED') {
      await writeJobSavepointManifest(sp.dir, {
        format: 'weir-job-savepoint',
        id: sp.id,
        parts: this.#o.parallelism,
        createdAt: new Date(sp.startedAt).toISOString(),
      });
    }
    sp.state = p.state;
    if (p.error !== undefined) sp.error = p.error;
    await this.#persist();
  }
}
