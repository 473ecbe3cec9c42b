// A worker: runs its share of the job (its source partitions and key groups) as the job's stages,
// restarts them after failures with backoff, and heartbeats to the coordinator, doing what the
// answers ask (savepoints, cancel, resume, preview). It stays up after the job ends, so that
// Kubernetes does not start the job again; the operator deletes its pod.
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type {
  PreviewRecord,
  WorkerCommands,
  WorkerMetrics,
  WorkerReport,
  WorkerReportState,
  WorkerSavepointReport,
} from '../api/contract.ts';
import { MAX_WATERMARK, MIN_WATERMARK } from '../core/watermarks.ts';
import type { FaultSwitches } from '../runtime/executor.ts';
import { completedCheckpoints, linkAsCheckpoint } from '../snapshot/format.ts';
import { restorePartFor } from '../snapshot/job-snapshot.ts';
import { writeRescaledPart } from '../snapshot/rescale.ts';
import { KafkaClients } from '../pipeline/connectors.ts';
import { deploymentCheckpointDir, type RuntimeConfig } from './config.ts';
import type { Dataflow } from './dataflow.ts';
import { deleteOlderGenerations, deploymentGeneration } from './exchange-generations.ts';
import { partDir } from './job-state.ts';
import { stagesOf, WorkerStages } from './stage-runner.ts';
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
  /** Fault switch: the job fails this long after each start. */
  readonly failTaskAfterMs?: number | undefined;
  readonly log?: (line: string) => void;
}

/** A fresh job has dropped nothing (its counters start at zero). */
const NO_DROPS = { late: 0, tooOld: 0, deadLetters: 0 };

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export class Worker {
  readonly #o: WorkerOptions;
  readonly #incarnation = randomUUID();
  readonly #deploymentDir: string;
  readonly #checkpointDir: string;
  #state: WorkerReportState = 'STARTING';
  #restarts = 0;
  #failure: string | undefined;
  #stages: WorkerStages | undefined;
  readonly #savepoints = new Map<string, WorkerSavepointReport>();
  #savepointAbort: { id: string; ctl: AbortController } | undefined;
  #pausedFor: string | undefined;
  #cancel = false;
  #resume = false;
  #wake: (() => void) | undefined;
  #previewing: string[] = [];
  #watermarkAdvancedAt: number | undefined;
  #lastWatermark = MIN_WATERMARK;
  #stopped = false;
  readonly #blocked = new Map<string, { blockedMs: number; at: number }>();
  #drops = NO_DROPS;
  #olderGenerationsGone = false;

  constructor(o: WorkerOptions) {
    this.#o = o;
    this.#deploymentDir = deploymentCheckpointDir(o.config);
    this.#checkpointDir = partDir(this.#deploymentDir, o.index);
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
      try {
        this.#state = this.#restarts > 0 || this.#resume ? 'RESTARTING' : 'STARTING';
        this.#resume = false;
        const c = this.#o.config;
        const { graph } = await this.#o.dataflow();
        const plans = stagesOf(graph, c.kafka !== null);
        if (plans === undefined) {
          const problem = parallelismProblem(graph, c.parallelism);
          if (problem !== undefined) throw new Error(problem);
        }
        const restore = await this.#restorePoints();
        const restored: string[] = [];
        const generation = await deploymentGeneration({
          deploymentDir: this.#deploymentDir,
          restoreFrom: c.restoreFrom,
          app: c.app,
          keyBys: (plans ?? []).flatMap((p) => p.exchangesOut),
        });
        this.#stages = await WorkerStages.start({
          dataflow: this.#o.dataflow,
          app: c.app,
          kafka:
            c.kafka === null
              ? undefined
              : { bootstrapServers: c.kafka.bootstrapServers, tls: c.kafka.tls, sasl: c.kafka.sasl },
          generation,
          worker: { index: this.#o.index, count: c.parallelism },
          checkpointIntervalMs: c.checkpoints.intervalSeconds * 1000,
          retain: c.checkpoints.retained,
          checkpointDir: this.#checkpointDir,
          restoreFor: async (stage) => {
            const from = await restore(stage);
            restored.push(`${stage} from ${from ?? 'nothing'}`);
            return from;
          },
          allowNonRestoredState: c.allowNonRestoredState,
          faults: this.#o.faults,
          plans,
        });
        this.#state = 'RUNNING';
        this.#pausedFor = undefined;
        this.#failure = undefined;
        this.#drops = NO_DROPS;
        this.#log(`running (exchange generation ${generation}; ${restored.join('; ')})`);
        if (this.#o.index === 0 && c.kafka !== null && !this.#olderGenerationsGone)
          void this.#deleteOlderGenerations(this.#stages, generation, c.kafka);
        const failAfter = this.#o.failTaskAfterMs;
        const stagesNow = this.#stages;
        const timer =
          failAfter === undefined
            ? undefined
            : setTimeout(() => {
                stagesNow.fail(new Error('injected: a task failed (spec.config weir.faults.failTaskAfterMs)'));
              }, failAfter);
        void stagesNow.done.finally(() => {
          clearTimeout(timer);
        });
        const result = await this.#stages.done;
        if (result.state === 'stopped' || result.state === 'finished') {
          this.#state = 'STOPPED';
          this.#log(this.#stoppedLine());
          await this.#idle();
          continue;
        }
        if (result.state === 'cancelled') {
          this.#state = 'CANCELED';
          continue;
        }
        throw result.error ?? new Error(`the job ended ${result.state}`);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        this.#stages = undefined;
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

  #stoppedLine(): string {
    return this.#pausedFor === undefined ? 'stopped' : `paused for savepoint ${this.#pausedFor}`;
  }

  /**
   * Per stage: its own checkpoints once it has any (savepoint parts it stopped at are among them),
   * else the deployment's snapshot (`restoreFrom`), else nothing.
   */
  async #restorePoints(): Promise<(stage: string) => Promise<string | undefined>> {
    const from = this.#o.config.restoreFrom;
    let part: string | undefined;
    if (from !== null) {
      const p = await restorePartFor(from, this.#o.index, this.#o.config.parallelism);
      part =
        'part' in p
          ? p.part
          : await writeRescaledPart(from, p.rescale, this.#o.index, join(this.#checkpointDir, '_rescaled'));
    }
    return async (stage) => {
      const own = join(this.#checkpointDir, stage);
      if ((await completedCheckpoints(own)).length > 0) return own;
      if (part === undefined) return undefined;
      const p = join(part, stage);
      return (await exists(p)) ? p : undefined;
    };
  }

  /** Once this deployment has a completed checkpoint: the app's older exchange topics go (exchange-generations.ts). */
  async #deleteOlderGenerations(
    stages: WorkerStages,
    generation: string,
    kafka: NonNullable<RuntimeConfig['kafka']>,
  ): Promise<void> {
    while (this.#stages === stages && stages.metrics().checkpointsCompleted < 1)
      await delay(1000, undefined, { ref: false });
    // The job ended first: its next start tries again.
    if (this.#stages !== stages || this.#olderGenerationsGone) return;
    this.#olderGenerationsGone = true;
    const clients = new KafkaClients();
    try {
      const gone = await deleteOlderGenerations({
        checkpointsDir: this.#o.config.checkpoints.dir,
        app: this.#o.config.app,
        current: generation,
        port: await clients.port({ bootstrapServers: kafka.bootstrapServers, tls: kafka.tls, sasl: kafka.sasl })(),
      });
      if (gone.generations.length > 0)
        this.#log(
          `deleted ${gone.topics.length} exchange topic(s) of older generation(s) ${gone.generations.join(', ')}: ${gone.topics.join(', ')}`,
        );
    } catch (err) {
      this.#olderGenerationsGone = false;
      this.#log(
        `could not delete the exchange topics of older generations (next start tries again): ${(err as Error).message}`,
      );
    } finally {
      await clients.close();
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  async #sleep(ms: number): Promise<void> {
    // Unreferenced: a shutdown ends the sleep early (nudge), and its timer must not keep the process up.
    await Promise.race([delay(ms, undefined, { ref: false }), this.#idle()]);
  }

  #nudge(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    const stages = this.#stages;
    this.#nudge();
    if (stages !== undefined) await stages.cancel().catch(() => undefined);
  }

  /** Records the job did not process as data, in the log as they happen (a lost result can be traced). */
  #logDrops(m: { lateDropped: number; droppedTooOld: number; deadLetters: number }): void {
    const now = { late: m.lateDropped, tooOld: m.droppedTooOld, deadLetters: m.deadLetters };
    const was = this.#drops;
    this.#drops = now;
    const more = (Object.keys(now) as (keyof typeof now)[]).filter((k) => now[k] > was[k]);
    if (more.length > 0)
      this.#log(`dropped since the last report: ${more.map((k) => `${k} +${now[k] - was[k]}`).join(', ')}`);
  }

  report(): WorkerReport {
    const stages = this.#stages;
    const now = Date.now();
    const m = stages?.metrics();
    const wm = m?.watermark;
    if (wm !== undefined && wm > this.#lastWatermark) {
      this.#lastWatermark = wm;
      this.#watermarkAdvancedAt = now;
    }
    if (m !== undefined) this.#logDrops(m);
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
      operators: (stages?.operators() ?? []).map((o) => ({
        operatorId: o.operatorId,
        kind: o.kind,
        recordsIn: o.recordsIn,
        recordsOut: o.recordsOut,
        backpressure: this.#backpressure(o.operatorId, o.blockedMs, now),
        ...(o.watermark <= MIN_WATERMARK || o.watermark >= MAX_WATERMARK ? {} : { watermark: o.watermark }),
      })),
      splits: (stages?.splits() ?? []).map((s) => ({
        operatorId: s.operatorId,
        split: s.split,
        paused: s.paused,
        ...(s.watermark <= MIN_WATERMARK || s.watermark >= MAX_WATERMARK ? {} : { watermark: s.watermark }),
      })),
    };
    const preview: Record<string, PreviewRecord[]> = {};
    if (stages !== undefined) {
      for (const [op, recs] of stages.preview(this.#previewing)) {
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
      ...(this.#pausedFor === undefined ? {} : { pausedFor: this.#pausedFor }),
      metrics,
      savepoints: [...this.#savepoints.values()],
      ...(Object.keys(preview).length === 0 ? {} : { preview }),
    };
  }

  /** The share of the time since the last report that the operator kept its input waiting. */
  #backpressure(operatorId: string, blockedMs: number, now: number): number {
    const prev = this.#blocked.get(operatorId);
    this.#blocked.set(operatorId, { blockedMs, at: now });
    if (prev === undefined || now <= prev.at || blockedMs < prev.blockedMs) return 0;
    return Math.min(1, Math.round(((blockedMs - prev.blockedMs) / (now - prev.at)) * 1000) / 1000);
  }

  /** Does what the coordinator asks (each wish is repeated until the reports show it done). */
  apply(c: WorkerCommands): void {
    this.#previewing = c.previewing;
    if (c.cancel && !this.#cancel) {
      this.#cancel = true;
      void this.#stages?.cancel();
      this.#nudge();
    }
    const inFlight = this.#savepointAbort;
    if (inFlight !== undefined && c.savepoint?.id !== inFlight.id) inFlight.ctl.abort();
    const sp = c.savepoint;
    if (sp !== undefined && !this.#savepoints.has(sp.id) && this.#state === 'RUNNING' && this.#stages !== undefined) {
      void this.#savepoint(this.#stages, sp);
    }
    if (c.resumeFrom !== undefined && this.#state === 'STOPPED' && !this.#resume) {
      this.#log(`resuming after savepoint ${this.#pausedFor ?? ''}`);
      this.#resume = true;
      this.#nudge();
    }
  }

  /**
   * Every stage stops at its part of the savepoint. Each part is also linked into the stage's own
   * checkpoints: its transaction committed after them, so a restart must restore it (or newer),
   * and it must not depend on the savepoint staying where it is (it may be disposed).
   */
  async #savepoint(stages: WorkerStages, sp: NonNullable<WorkerCommands['savepoint']>): Promise<void> {
    const ctl = new AbortController();
    this.#savepointAbort = { id: sp.id, ctl };
    this.#savepoints.set(sp.id, { id: sp.id, state: 'IN_PROGRESS' });
    if (!sp.stop) this.#pausedFor = sp.id;
    try {
      await stages.savepoint(sp.id, sp.dir, ctl.signal, async (stage, path) => {
        await linkAsCheckpoint(path, join(this.#checkpointDir, stage));
      });
      this.#savepoints.set(sp.id, { id: sp.id, state: 'COMPLETED', path: sp.dir });
    } catch (err) {
      this.#savepoints.set(sp.id, { id: sp.id, state: 'FAILED', error: (err as Error).message });
      // Stages that already stopped at their part restart from it; the others keep running or restart.
      if (this.#stages === stages && !stages.running) void stages.cancel();
    } finally {
      this.#savepointDone(sp.id);
    }
  }

  #savepointDone(id: string): void {
    if (this.#savepointAbort?.id === id) this.#savepointAbort = undefined;
  }

  async #heartbeats(): Promise<void> {
    const every = this.#o.heartbeatMs ?? 250;
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
      await delay(every);
    }
  }
}
