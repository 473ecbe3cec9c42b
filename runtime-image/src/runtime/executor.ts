import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as delay } from 'node:timers/promises';
import type { ConnectorContext, SinkRecovery } from '../connectors/contract.ts';
import { EpochCounter, checkpointDue, checkpointsToDelete } from '../core/barriers.ts';
import { keyGroupRangeFor, validateParallelism } from '../core/key-groups.ts';
import { must } from '../core/must.ts';
import { MAX_WATERMARK, MIN_WATERMARK } from '../core/watermarks.ts';
import { validateGraph, type Graph } from '../graph/graph.ts';
import { checkSavepointCompatibility } from '../snapshot/compat.ts';
import {
  checkpointDirName,
  completedCheckpoints,
  ensureDir,
  loadKeyedState,
  markCommitted,
  removeSnapshot,
  type SnapshotManifest,
} from '../snapshot/format.ts';
import { takeSnapshot } from './checkpoint.ts';
import {
  JobState,
  type CheckpointInfo,
  type Job,
  type JobMetrics,
  type JobOptions,
  type JobResult,
  type SampledRecord,
  type SavepointRequest,
} from './job.ts';
import type { OperatorCounters } from './operator.ts';
import { pendingEpoch, planRestore, restoredWorkerCount } from './restore.ts';
import { SourceDriver } from './sources.ts';
import { PREVIEW_SAMPLE, TaskGraph } from './tasks.ts';

export * from './job.ts';

/** How long recovery keeps asking sinks whether a pending snapshot's epoch committed: 12 × 250 ms. */
const MARKER_RECHECKS = 12;
const MARKER_RECHECK_MS = 250;

type Request =
  | { kind: 'checkpoint'; resolve: (c: CheckpointInfo) => void; reject: (e: Error) => void }
  | { kind: 'savepoint'; req: SavepointRequest; resolve: (c: CheckpointInfo) => void; reject: (e: Error) => void }
  | { kind: 'stop' }
  | { kind: 'cancel' };

/** Validates, restores and starts a job; resolves once it runs. */
export async function startJob(graph: Graph, options: JobOptions = {}): Promise<Job> {
  const problems = validateGraph(graph);
  if (problems.length > 0) throw new Error(`invalid pipeline '${graph.name}':\n  - ${problems.join('\n  - ')}`);
  const parallelism = options.parallelism ?? 1;
  validateParallelism(parallelism, graph.maxParallelism);
  const executor = new Executor(graph, parallelism, options);
  try {
    await executor.init();
  } catch (err) {
    // Nothing runs: release what connectors opened (connections, fenced producers).
    for (const n of graph.nodes) if (n.kind === 'sink') await n.sink.close().catch(() => undefined);
    executor.abort();
    throw err;
  }
  executor.start();
  return executor.handle();
}

/** The job's lifecycle: restore, the loop (requests, sources, ticks, checkpoints), stop, metrics. */
class Executor {
  readonly #graph: Graph;
  readonly #p: number;
  readonly #o: JobOptions;
  readonly #now: () => number;
  readonly #batchSize: number;
  readonly #tasks: TaskGraph;
  readonly #sources: SourceDriver;
  readonly #requests: Request[] = [];
  readonly #counters: OperatorCounters = { lateDropped: 0, lateToSideOutput: 0 };
  #state: JobState = JobState.created;
  #epochs = new EpochCounter();
  #restored: SnapshotManifest | undefined;
  #restoredFrom: string | undefined;
  #recordsOut = 0;
  #lastCheckpoint: CheckpointInfo | undefined;
  #lastCheckpointStart: number;
  #completed = 0;
  #failedCheckpoints = 0;
  #resolveDone!: (r: JobResult) => void;
  readonly #done: Promise<JobResult>;
  #finalSavepoint: CheckpointInfo | undefined;
  readonly #abort = new AbortController();
  /** Workers of the snapshots this job may restore, known before it chooses one (for fencing). */
  #restorableWorkers: number | undefined;

  constructor(graph: Graph, parallelism: number, options: JobOptions) {
    this.#graph = graph;
    this.#p = parallelism;
    this.#o = options;
    this.#now = options.clock ?? Date.now;
    this.#batchSize = options.batchSize ?? 1024;
    this.#lastCheckpointStart = this.#now();
    this.#done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    const w = options.worker;
    this.#tasks = new TaskGraph(graph, {
      parallelism,
      keyGroups: w === undefined ? undefined : keyGroupRangeFor(w.index, w.count, graph.maxParallelism),
      now: this.#now,
      counters: this.#counters,
      connector: (id) => this.#connectorContext(id),
      onSinkRecords: (n) => {
        this.#recordsOut += n;
      },
    });
    this.#sources = new SourceDriver(this.#now, graph.deadLetters, options.faults?.stallWatermark === true);
  }

  abort(): void {
    this.#abort.abort();
  }

  /** What connectors know of their place in the job. */
  #connectorContext(operatorId: string): ConnectorContext {
    const w = this.#o.worker ?? { index: 0, count: 1 };
    const maxP = this.#graph.maxParallelism;
    return {
      job: this.#o.identity ?? this.#graph.name,
      operatorId,
      task: {
        index: w.index,
        count: w.count,
        keyGroups: keyGroupRangeFor(w.index, w.count, maxP),
        maxParallelism: maxP,
        restoredCount: this.#restored?.workers ?? this.#restorableWorkers,
      },
      now: this.#now,
      signal: this.#abort.signal,
    };
  }

  async init(): Promise<void> {
    const g = this.#graph;
    // Sinks recover first: they fence earlier writers and say what they committed, which decides the snapshot.
    this.#restorableWorkers = await restoredWorkerCount(this.#o.restoreFrom);
    const recoveries: SinkRecovery[] = [];
    for (const node of g.nodes) {
      if (node.kind === 'sink' && node.sink.recover !== undefined)
        recoveries.push(await node.sink.recover(this.#connectorContext(node.id)));
    }
    this.#o.faults?.onRestorePhase?.('sinks-recovered');
    if (this.#o.restoreFrom !== undefined) this.#state = JobState.restoring;
    await this.#settleMarkers(recoveries);
    const plan = await planRestore(this.#o.restoreFrom, this.#o.checkpoints?.dir, recoveries);
    this.#epochs = new EpochCounter(plan.lastEpoch);
    if (plan.manifest !== undefined && plan.dir !== undefined) {
      const report = checkSavepointCompatibility(g, plan.manifest, {
        allowNonRestoredState: this.#o.allowNonRestoredState,
      });
      if (!report.compatible) {
        throw new Error(
          `the snapshot ${plan.dir} does not fit pipeline '${g.name}':\n  - ${report.problems.map((p) => `${p.operatorId}: ${p.message}`).join('\n  - ')}`,
        );
      }
      this.#restored = plan.manifest;
      this.#restoredFrom = plan.dir;
    }
    await this.#restoreTasks();
    await this.#sources.open(this.#tasks, this.#restored, (id) => this.#connectorContext(id));
    this.#o.faults?.onRestorePhase?.('state-loaded');
    // The sinks rolled the restored snapshot forward when they opened: its output is now committed.
    if (plan.markCommitted && plan.dir !== undefined) await markCommitted(plan.dir);
  }

  /**
   * Before a pending snapshot is discarded because a sink reports an older commit, the sinks are
   * asked again for a while: a commit that was in flight when the job died may become visible
   * only a moment after the fence (see `SinkConnector.recheck`). Updates `recoveries` in place.
   */
  async #settleMarkers(recoveries: SinkRecovery[]): Promise<void> {
    const pending = await pendingEpoch(this.#o.restoreFrom);
    if (pending === undefined) return;
    const sinks = this.#graph.nodes.flatMap((n) => (n.kind === 'sink' && n.sink.recover !== undefined ? [n.sink] : []));
    for (let attempt = 0; attempt < MARKER_RECHECKS; attempt++) {
      const behind = recoveries.some((r) => r.committedEpoch !== undefined && r.committedEpoch < pending);
      if (!behind) return;
      await delay(MARKER_RECHECK_MS);
      for (const [i, s] of sinks.entries()) {
        if (s.recheck !== undefined) recoveries[i] = await s.recheck();
      }
    }
  }

  /** Keyed state, operator state and watermarks of the restored snapshot; then every operator opens. */
  async #restoreTasks(): Promise<void> {
    const dir = this.#restoredFrom;
    for (const t of this.#tasks.tasks) {
      const node = t.node.node;
      const snap = this.#restored?.operators[node.id];
      if (snap !== undefined && dir !== undefined) {
        if (t.store !== undefined && t.timers !== undefined && snap.files !== undefined) {
          const ttlOf = (s: string): number | undefined =>
            node.kind === 'process' ? node.fn.state[s]?.ttlMs : undefined;
          await loadKeyedState(dir, snap.files, t.store.range, t.store, t.timers, ttlOf);
        }
        if (snap.state !== undefined && snap.state !== null && t.op.restore !== undefined)
          await t.op.restore(snap.state);
        if (snap.watermark > t.wm) t.wm = t.outWm = snap.watermark;
      }
      await t.op.open?.(t.ctx);
    }
  }

  start(): void {
    this.#state = JobState.running;
    void this.#run().then(this.#resolveDone, (err: unknown) => {
      this.#resolveDone({ state: JobState.failed, error: err instanceof Error ? err : new Error(String(err)) });
    });
  }

  async #run(): Promise<JobResult> {
    try {
      for (;;) {
        const outcome = await this.#serveRequests();
        if (outcome !== undefined) return outcome;
        const polled = await this.#sources.poll(this.#tasks, this.#batchSize);
        await this.#tasks.tick(this.#now());
        await this.#tasks.releaseWatermarks();
        if (this.#sources.exhausted && (await this.#finish())) {
          return { state: JobState.finished };
        }
        const now = this.#now();
        if (
          this.#o.checkpoints !== undefined &&
          checkpointDue(now, this.#lastCheckpointStart, this.#o.checkpoints.intervalMs, false)
        ) {
          await this.#checkpoint('checkpoint', undefined);
        }
        if (polled === 0) await delay(1);
        else await yieldToLoop();
      }
    } catch (err) {
      this.#state = JobState.failed;
      for (const r of this.#requests.splice(0))
        if ('reject' in r) r.reject(err instanceof Error ? err : new Error(String(err)));
      await this.#closeAll('cancel').catch(() => undefined);
      throw err;
    }
  }

  async #serveRequests(): Promise<JobResult | undefined> {
    while (this.#requests.length > 0) {
      const r = must(this.#requests.shift(), 'request');
      if (r.kind === 'cancel') {
        await this.#closeAll('cancel');
        this.#state = JobState.cancelled;
        this.#failPending('the job was cancelled');
        return { state: JobState.cancelled };
      }
      if (r.kind === 'stop') {
        // Without a checkpoint directory the final commit still happens, only nothing is written to restore from.
        const final = await this.#checkpoint('checkpoint', undefined, this.#o.checkpoints === undefined);
        const info = final.path !== undefined ? final : undefined;
        await this.#closeAll('stop');
        this.#state = JobState.stopped;
        this.#failPending('the job stopped');
        return { state: JobState.stopped, savepoint: info };
      }
      try {
        if (r.kind === 'checkpoint') {
          if (this.#o.checkpoints === undefined)
            throw new Error('checkpoints are not configured for this job (no checkpoint directory)');
          r.resolve(await this.#checkpoint('checkpoint', undefined));
          continue;
        }
        if (r.req.drain === true) await this.#drainEventTime();
        const info = await this.#checkpoint('savepoint', r.req.dir);
        r.resolve(info);
        if (r.req.stop === true || r.req.drain === true) {
          await this.#closeAll(r.req.drain === true ? 'finish' : 'stop');
          this.#state = JobState.stopped;
          this.#finalSavepoint = info;
          this.#failPending('the job stopped with a savepoint');
          return { state: JobState.stopped, savepoint: info };
        }
      } catch (err) {
        this.#failedCheckpoints++;
        r.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return undefined;
  }

  #failPending(reason: string): void {
    for (const r of this.#requests.splice(0)) if ('reject' in r) r.reject(new Error(reason));
  }

  /** Bounded input exhausted: fire everything, take a final checkpoint so sinks commit, close. */
  async #finish(): Promise<boolean> {
    await this.#drainEventTime();
    await this.#checkpoint('checkpoint', undefined, this.#o.checkpoints === undefined);
    await this.#closeAll('finish');
    this.#state = JobState.finished;
    this.#failPending('the job finished');
    return true;
  }

  async #drainEventTime(): Promise<void> {
    await this.#sources.finishEventTime(this.#tasks);
    // Operators with work in flight (async I/O) finish it; what they emit then needs the watermark too.
    for (let round = 0; round < this.#tasks.nodes.length + 1; round++) {
      const had = await this.#tasks.drain();
      await this.#tasks.releaseWatermarks();
      if (!had) break;
    }
  }

  /** Where a snapshot of this epoch goes (none: only the commit happens). */
  #snapshotDir(kind: 'checkpoint' | 'savepoint', epoch: number, savepointDir: string | undefined): string | undefined {
    const cp = this.#o.checkpoints;
    if (kind === 'savepoint') {
      const base = this.#o.savepointDir ?? (cp !== undefined ? join(cp.dir, '..', 'savepoints') : undefined);
      const dir =
        savepointDir ?? (base !== undefined ? join(base, `sp-${String(epoch).padStart(10, '0')}`) : undefined);
      if (dir === undefined) throw new Error('no savepoint directory: pass one or configure savepointDir');
      return dir;
    }
    return cp !== undefined ? join(cp.dir, checkpointDirName(epoch)) : undefined;
  }

  /** A snapshot under the next epoch (`checkpoint.ts`); then old checkpoints beyond retention go. */
  async #checkpoint(
    kind: 'checkpoint' | 'savepoint',
    savepointDir: string | undefined,
    inMemory = false,
  ): Promise<CheckpointInfo> {
    const started = this.#now();
    this.#lastCheckpointStart = started;
    const epoch = this.#epochs.next();
    const dir = inMemory ? undefined : this.#snapshotDir(kind, epoch, savepointDir);
    if (dir !== undefined) {
      await removeSnapshot(dir);
      await ensureDir(dir);
    }
    const { bytes } = await takeSnapshot(
      {
        graph: this.#graph,
        parallelism: this.#p,
        workers: this.#o.worker?.count ?? 1,
        tasks: this.#tasks,
        sources: this.#sources,
        faults: this.#o.faults,
      },
      epoch,
      kind,
      dir,
      started,
    );
    const info: CheckpointInfo = {
      epoch,
      kind,
      path: dir,
      completedAt: this.#now(),
      durationMs: this.#now() - started,
      bytes,
    };
    this.#lastCheckpoint = info;
    this.#completed++;
    const cp = this.#o.checkpoints;
    if (kind === 'checkpoint' && cp !== undefined && dir !== undefined) {
      for (const old of checkpointsToDelete(await completedCheckpoints(cp.dir), cp.retain ?? 3)) {
        await removeSnapshot(join(cp.dir, checkpointDirName(old)));
      }
    }
    return info;
  }

  async #closeAll(mode: 'finish' | 'stop' | 'cancel'): Promise<void> {
    await this.#tasks.stop(mode);
    await this.#sources.close();
    // Last: connectors release what they share (a Kafka source's connection may serve the sinks too).
    this.#abort.abort();
  }

  metrics(): JobMetrics {
    let entries = 0;
    let timers = 0;
    for (const t of this.#tasks.tasks) {
      if (t.store !== undefined) for (const table of t.store.tables()) entries += table.size;
      if (t.timers !== undefined) timers += t.timers.event.size + t.timers.processing.size;
    }
    const wm = this.#sources.watermark;
    return {
      state: this.#state,
      recordsIn: this.#sources.recordsIn,
      recordsOut: this.#recordsOut,
      watermark: wm,
      watermarkLagMs: wm > MIN_WATERMARK && wm < MAX_WATERMARK ? this.#now() - wm : undefined,
      backlog: this.#sources.backlog(),
      lateDropped: this.#counters.lateDropped,
      lateToSideOutput: this.#counters.lateToSideOutput,
      deadLetters: this.#graph.deadLetters?.count() ?? 0,
      droppedTooOld: this.#sources.dropped,
      alignmentPauses: this.#sources.alignmentPauses,
      splitsPaused: this.#sources.splitsPaused,
      stateEntries: entries,
      timers,
      checkpointsCompleted: this.#completed,
      checkpointsFailed: this.#failedCheckpoints,
      lastCheckpoint: this.#lastCheckpoint,
      restoredFrom: this.#restoredFrom,
    };
  }

  handle(): Job {
    const request = <T>(make: (resolve: (v: T) => void, reject: (e: Error) => void) => Request): Promise<T> => {
      if (this.#isTerminal()) return Promise.reject(new Error(`the job is ${this.#state}`));
      return new Promise<T>((resolve, reject) => this.#requests.push(make(resolve, reject)));
    };
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the state getter reads the live executor
    const self = this;
    return {
      name: this.#graph.name,
      get state() {
        return self.#state;
      },
      metrics: () => this.metrics(),
      operators: () =>
        this.#tasks.nodes.map((rt) => ({
          operatorId: rt.node.id,
          kind: rt.node.kind,
          recordsIn: rt.recordsIn,
          recordsOut: rt.recordsOut,
          watermark: Math.min(...rt.tasks.map((t) => t.wm)),
          blockedMs: rt.blockedMs,
        })),
      splits: () => this.#sources.splitStates(),
      preview: (ids) => {
        const out = new Map<string, SampledRecord[]>();
        for (const rt of this.#tasks.nodes) {
          const wanted = ids.includes(rt.node.id);
          if (rt.sample !== undefined && rt.sample.length > 0)
            out.set(
              rt.node.id,
              rt.sample.slice(-PREVIEW_SAMPLE).map((r) => ({ value: r.value, ts: r.ts })),
            );
          rt.sample = wanted ? [] : undefined;
        }
        return out;
      },
      triggerCheckpoint: () => request<CheckpointInfo>((resolve, reject) => ({ kind: 'checkpoint', resolve, reject })),
      triggerSavepoint: (req = {}) =>
        request<CheckpointInfo>((resolve, reject) => ({ kind: 'savepoint', req, resolve, reject })),
      stop: () => {
        if (!this.#isTerminal()) this.#requests.push({ kind: 'stop' });
        return this.#done;
      },
      cancel: () => {
        if (!this.#isTerminal()) this.#requests.unshift({ kind: 'cancel' });
        return this.#done;
      },
      done: this.#done.then((r) =>
        r.savepoint === undefined && this.#finalSavepoint !== undefined ? { ...r, savepoint: this.#finalSavepoint } : r,
      ),
    };
  }

  #isTerminal(): boolean {
    return (
      this.#state === JobState.finished ||
      this.#state === JobState.stopped ||
      this.#state === JobState.cancelled ||
      this.#state === JobState.failed
    );
  }
}
