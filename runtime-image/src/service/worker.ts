// A worker: runs its share of the job (source partitions p mod count, its key-group range), restarts
// it after failures, and heartbeats to the coordinator, doing what the answers ask (savepoints,
// cancel, resume, preview). It stays up after the job ends, so that Kubernetes does not start the
// job again; the operator deletes its pod.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type {
  WorkerCommands,
  WorkerMetrics,
  WorkerReport,
  WorkerReportState,
  WorkerSavepointReport,
  PreviewRecord,
} from '../api/contract.ts';
import { MAX_WATERMARK, MIN_WATERMARK } from '../core/watermarks.ts';
import { startJob, type FaultSwitches, type Job } from '../runtime/executor.ts';
import { completedCheckpoints } from '../snapshot/format.ts';
import { restorePartFor } from '../snapshot/job-snapshot.ts';
import { deploymentCheckpointDir, type RuntimeConfig } from './config.ts';
import type { Dataflow } from './dataflow.ts';
import { partDir } from './job-state.ts';
import { isPermanent, parallelismProblem, restartDelayMs } from './supervision.ts';

export interface WorkerOptions {
  readonly config: RuntimeConfig;
  readonly index: number;
  readonly pod: string;
  readonly token: string;
  /** Base URL of the coordinator's control API. */
  readonly coordinatorUrl: string;
  /** A fresh dataflow for every start of the job. */
  readonly dataflow: () => Promise<Dataflow>;
  readonly heartbeatMs?: number;
  readonly faults?: FaultSwitches | undefined;
  readonly log?: (line: string) => void;
}

/** Written before resuming from a snapshot outside the worker's checkpoints, removed after the next checkpoint. */
const RESUME_HINT = '_resume.json';

export class Worker {
  readonly #o: WorkerOptions;
  readonly #incarnation = randomUUID();
  readonly #checkpointDir: string;
  #state: WorkerReportState = 'STARTING';
  #restarts = 0;
  #failure: string | undefined;
  #job: Job | undefined;
  readonly #savepoints = new Map<string, WorkerSavepointReport>();
  #cancel = false;
  #resumeFrom: string | undefined;
  #wake: (() => void) | undefined;
  #previewing: string[] = [];
  #watermarkAdvancedAt: number | undefined;
  #lastWatermark = MIN_WATERMARK;
  #stopped = false;

  constructor(o: WorkerOptions) {
    this.#o = o;
    this.#checkpointDir = partDir(deploymentCheckpointDir(o.config), o.index);
  }

  get state(): WorkerReportState {
    return this.#state;
  }

  #log(line: string): void {
    this.#o.log?.(`[worker ${this.#o.index}] ${line}`);
  }

  /** Runs until `shutdown`; the job restarts after failures, with backoff. */
  async run(): Promise<void> {
    const beat = this.#heartbeats();
    let failures = 0;
    while (!this.#stopped) {
      if (this.#cancel) {
        this.#state = 'CANCELED';
        await this.#idle();
        continue;
      }
      const startedAt = Date.now();
      const restoreFrom = await this.#restorePoint();
      try {
        this.#state = this.#restarts > 0 ? 'RESTARTING' : 'STARTING';
        const flow = await this.#o.dataflow();
        const problem = parallelismProblem(flow.graph, this.#o.config.parallelism);
        if (problem !== undefined) throw new Error(problem);
        this.#job = await startJob(flow.graph, {
          parallelism: 1,
          worker: { index: this.#o.index, count: this.#o.config.parallelism },
          checkpoints: {
            dir: this.#checkpointDir,
            intervalMs: this.#o.config.checkpoints.intervalSeconds * 1000,
            retain: this.#o.config.checkpoints.retained,
          },
          savepointDir: this.#o.config.savepoints.dir,
          restoreFrom,
          allowNonRestoredState: this.#o.config.allowNonRestoredState,
          faults: this.#o.faults,
        });
        this.#state = 'RUNNING';
        this.#failure = undefined;
        this.#log(
          `running${restoreFrom === undefined ? '' : ` from ${this.#job.metrics().restoredFrom ?? restoreFrom}`}`,
        );
        const result = await this.#job.done;
        if (result.state === 'stopped') {
          this.#state = 'STOPPED';
          this.#log('stopped at a savepoint');
          await this.#idle();
          continue;
        }
        if (result.state === 'cancelled') {
          this.#state = 'CANCELED';
          continue;
        }
        if (result.state === 'finished') {
          this.#state = 'STOPPED';
          await this.#idle();
          continue;
        }
        throw result.error ?? new Error(`the job ended ${result.state}`);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        this.#job = undefined;
        this.#failure = e.message;
        this.#log(`failed: ${e.message}`);
        if (isPermanent(e)) {
          this.#state = 'FAILED';
          await this.#idle();
          continue;
        }
        failures = Date.now() - startedAt >= 60_000 ? 1 : failures + 1;
        this.#restarts++;
        this.#state = 'RESTARTING';
        await this.#sleep(restartDelayMs(failures, Date.now() - startedAt));
      }
    }
    await beat;
  }

  /** The worker's own checkpoints once it has any; before that, what it resumes from or the deployment's snapshot. */
  async #restorePoint(): Promise<string | undefined> {
    if (this.#resumeFrom !== undefined) {
      await mkdir(this.#checkpointDir, { recursive: true });
      await writeFile(join(this.#checkpointDir, RESUME_HINT), JSON.stringify({ path: this.#resumeFrom })).catch(
        () => undefined,
      );
      const r = this.#resumeFrom;
      this.#resumeFrom = undefined;
      return r;
    }
    try {
      const hint = JSON.parse(await readFile(join(this.#checkpointDir, RESUME_HINT), 'utf8')) as { path: string };
      return hint.path;
    } catch {
      // no hint: the usual case
    }
    if ((await completedCheckpoints(this.#checkpointDir)).length > 0) return this.#checkpointDir;
    const from = this.#o.config.restoreFrom;
    if (from === null) return undefined;
    return restorePartFor(from, this.#o.index, this.#o.config.parallelism);
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  async #sleep(ms: number): Promise<void> {
    await Promise.race([delay(ms), this.#idle()]);
  }

  #nudge(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    const job = this.#job;
    this.#nudge();
    if (job !== undefined) await job.cancel().catch(() => undefined);
  }

  report(): WorkerReport {
    const job = this.#job;
    const now = Date.now();
    const m = job?.metrics();
    const wm = m?.watermark;
    if (wm !== undefined && wm > this.#lastWatermark) {
      this.#lastWatermark = wm;
      this.#watermarkAdvancedAt = now;
    }
    const c = m?.lastCheckpoint;
    const metrics: WorkerMetrics = {
      recordsIn: m?.recordsIn ?? 0,
      recordsOut: m?.recordsOut ?? 0,
      ...(wm === undefined || wm <= MIN_WATERMARK ? {} : { watermark: Math.min(wm, MAX_WATERMARK) }),
      ...(this.#watermarkAdvancedAt === undefined ? {} : { watermarkAdvancedAt: this.#watermarkAdvancedAt }),
      ...(m?.backlog === undefined ? {} : { backlog: m.backlog }),
      checkpointsCompleted: m?.checkpointsCompleted ?? 0,
      ...(c === undefined
        ? {}
        : {
            lastCheckpoint: {
              epoch: c.epoch,
              completedAt: c.completedAt,
              durationMs: c.durationMs,
              bytes: c.bytes,
              ...(c.path === undefined ? {} : { path: c.path }),
            },
          }),
      operators: (job?.operators() ?? []).map((o) => ({
        operatorId: o.operatorId,
        kind: o.kind,
        recordsIn: o.recordsIn,
        recordsOut: o.recordsOut,
        ...(o.watermark <= MIN_WATERMARK || o.watermark >= MAX_WATERMARK ? {} : { watermark: o.watermark }),
      })),
      splits: (job?.splits() ?? []).map((s) => ({
        operatorId: s.operatorId,
        split: s.split,
        paused: s.paused,
        ...(s.watermark <= MIN_WATERMARK || s.watermark >= MAX_WATERMARK ? {} : { watermark: s.watermark }),
      })),
    };
    const preview: Record<string, PreviewRecord[]> = {};
    if (job !== undefined) {
      for (const [op, recs] of job.preview(this.#previewing)) {
        preview[op] = recs.map((r) => ({
          worker: this.#o.index,
          value: r.value,
          ...(Number.isFinite(r.ts) && r.ts > MIN_WATERMARK ? { time: new Date(r.ts).toISOString() } : {}),
        }));
      }
    }
    return {
      index: this.#o.index,
      pod: this.#o.pod,
      incarnation: this.#incarnation,
      state: this.#state,
      restarts: this.#restarts,
      ...(this.#failure === undefined ? {} : { failure: this.#failure }),
      metrics,
      savepoints: [...this.#savepoints.values()],
      ...(Object.keys(preview).length === 0 ? {} : { preview }),
    };
  }

  /** Does what the coordinator asks (each wish is repeated until the reports show it done). */
  apply(c: WorkerCommands): void {
    this.#previewing = c.previewing;
    if (c.cancel && !this.#cancel) {
      this.#cancel = true;
      const job = this.#job;
      if (job !== undefined) void job.cancel();
      this.#nudge();
    }
    const sp = c.savepoint;
    if (sp !== undefined && !this.#savepoints.has(sp.id) && this.#state === 'RUNNING' && this.#job !== undefined) {
      const report: WorkerSavepointReport = { id: sp.id, state: 'IN_PROGRESS' };
      this.#savepoints.set(sp.id, report);
      this.#job.triggerSavepoint({ dir: sp.dir, stop: sp.stop }).then(
        (info) =>
          this.#savepoints.set(sp.id, {
            id: sp.id,
            state: 'COMPLETED',
            ...(info.path === undefined ? {} : { path: info.path }),
          }),
        (err: unknown) => this.#savepoints.set(sp.id, { id: sp.id, state: 'FAILED', error: (err as Error).message }),
      );
    }
    if (c.resumeFrom !== undefined && this.#state === 'STOPPED' && this.#resumeFrom === undefined) {
      this.#log(`resuming from ${c.resumeFrom}: the savepoint did not stop the job`);
      this.#resumeFrom = c.resumeFrom;
      this.#state = 'RESTARTING';
      this.#nudge();
    }
  }

  async #heartbeats(): Promise<void> {
    const every = this.#o.heartbeatMs ?? 250;
    let hintChecked = false;
    while (!this.#stopped) {
      try {
        const res = await fetch(`${this.#o.coordinatorUrl}/v1/internal/heartbeat`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-weir-token': this.#o.token },
          body: JSON.stringify(this.report()),
          signal: AbortSignal.timeout(5000),
        });
        if (res.ok) this.apply((await res.json()) as WorkerCommands);
        else this.#log(`heartbeat: HTTP ${res.status} ${await res.text()}`);
      } catch (err) {
        // The coordinator may be restarting: the job goes on, and so do the heartbeats.
        this.#log(`heartbeat: ${(err as Error).message}`);
      }
      // A checkpoint after a resume makes the worker's own checkpoints the restore point again.
      if (!hintChecked && this.#state === 'RUNNING' && (this.#job?.metrics().checkpointsCompleted ?? 0) > 0) {
        await rm(join(this.#checkpointDir, RESUME_HINT), { force: true });
        hintChecked = true;
      }
      if (this.#state !== 'RUNNING') hintChecked = false;
      await delay(every);
    }
  }
}
