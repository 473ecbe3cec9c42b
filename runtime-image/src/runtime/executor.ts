import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as delay } from 'node:timers/promises';
import type { ConnectorContext, Json, SinkRecovery, SourceSplit } from '../connectors/contract.ts';
import { BarrierAligner, EpochCounter, checkpointDue, checkpointsToDelete } from '../core/barriers.ts';
import { keyGroupRangeFor, taskIndexForKeyGroup, validateParallelism } from '../core/key-groups.ts';
import { MAX_WATERMARK, MIN_WATERMARK, SplitWatermarks, WatermarkTracker, splitsAhead } from '../core/watermarks.ts';
import { validateWindowSpec } from '../core/windows.ts';
import { KEYED_KINDS, topologicalOrder, validateGraph, type Graph, type GraphNode } from '../graph/graph.ts';
import { asyncIoOperator } from '../operators/async-io.ts';
import {
  branchOperator,
  filterOperator,
  flatMapOperator,
  keyByOperator,
  mapOperator,
  type RecordFailure,
} from '../operators/basic.ts';
import { processOperator } from '../operators/process.ts';
import { lookupOperator } from '../operators/lookup.ts';
import { sinkOperator } from '../operators/sink.ts';
import { windowOperator } from '../operators/window.ts';
import { checkSavepointCompatibility, variantOf } from '../snapshot/compat.ts';
import {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  checkpointDirName,
  completedCheckpoints,
  ensureDir,
  loadKeyedState,
  markCommitted,
  removeSnapshot,
  writeKeyedState,
  writeManifest,
  type KeyedStateFile,
  type OperatorSnapshot,
  type SnapshotManifest,
} from '../snapshot/format.ts';
import { KeyedStateStore } from '../state/keyed-state.ts';
import { TimerQueue } from '../state/timers.ts';
import type { MaybePromise, Message, Operator, OperatorContext, OperatorCounters, Output, Rec } from './operator.ts';
import { must } from '../core/must.ts';
import { planRestore, restoredWorkerCount } from './restore.ts';

export const JobState = {
  created: 'created',
  restoring: 'restoring',
  running: 'running',
  finished: 'finished',
  stopped: 'stopped',
  cancelled: 'cancelled',
  failed: 'failed',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

/** Hooks that let tests (and fault-injection e2e runs) hit every edge of the checkpoint protocol. */
export interface FaultSwitches {
  /** Called at each step of a checkpoint; throw or kill the process to simulate a crash there. */
  readonly onCheckpointPhase?: (
    phase: 'barrier' | 'state-written' | 'manifest-written' | 'committed',
    epoch: number,
  ) => void;
  /** Called during restore: after the sinks recovered (fenced, markers read), and after state was loaded. */
  readonly onRestorePhase?: (phase: 'sinks-recovered' | 'state-loaded') => void;
}

export interface CheckpointOptions {
  readonly dir: string;
  readonly intervalMs?: number | undefined;
  /** Completed checkpoints to keep (default 3). */
  readonly retain?: number | undefined;
}

export interface JobOptions {
  readonly parallelism?: number | undefined;
  readonly checkpoints?: CheckpointOptions | undefined;
  /** Where savepoints go unless a trigger names a directory. */
  readonly savepointDir?: string | undefined;
  /** A snapshot directory, or a checkpoint directory (its newest completed checkpoint is used). */
  readonly restoreFrom?: string | undefined;
  readonly allowNonRestoredState?: boolean | undefined;
  /** Processing-time clock (ms). */
  readonly clock?: (() => number) | undefined;
  /** Records taken from a split per poll. */
  readonly batchSize?: number | undefined;
  readonly faults?: FaultSwitches | undefined;
  /** This process's share of a job run as several workers (default: the whole job, `{ index: 0, count: 1 }`). */
  readonly worker?: { readonly index: number; readonly count: number } | undefined;
}

export interface CheckpointInfo {
  readonly epoch: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly path: string | undefined;
  readonly completedAt: number;
  readonly durationMs: number;
  readonly bytes: number;
}

export interface JobMetrics {
  readonly state: JobState;
  readonly recordsIn: number;
  readonly recordsOut: number;
  /** The combined watermark of the sources (MIN_WATERMARK before the first). */
  readonly watermark: number;
  /** Processing time minus watermark, when there is a watermark. */
  readonly watermarkLagMs: number | undefined;
  /** Records the sources could emit now but have not yet, where they know it. */
  readonly backlog: number | undefined;
  readonly lateDropped: number;
  readonly lateToSideOutput: number;
  /** Records sent to the dead-letter topic (undecodable, or failing in an expression). */
  readonly deadLetters: number;
  /** Times a split was paused by event-time alignment, and how many are paused now. */
  readonly alignmentPauses: number;
  readonly splitsPaused: number;
  readonly stateEntries: number;
  /** Registered timers (one per open window and key): what event-time alignment keeps bounded. */
  readonly timers: number;
  readonly checkpointsCompleted: number;
  readonly checkpointsFailed: number;
  readonly lastCheckpoint: CheckpointInfo | undefined;
  readonly restoredFrom: string | undefined;
}

export interface SavepointRequest {
  /** Directory for this savepoint; default `<savepointDir>/sp-<epoch>`. */
  readonly dir?: string | undefined;
  /** Stop the job after the savepoint (for upgrades: windows are not fired). */
  readonly stop?: boolean | undefined;
  /** Before the savepoint, advance event time to the end so every window and timer fires (permanent stop). */
  readonly drain?: boolean | undefined;
}

export interface JobResult {
  readonly state: JobState;
  readonly error?: Error | undefined;
  readonly savepoint?: CheckpointInfo | undefined;
}

/** The handle a CLI or the control API drives a job through. */
export interface Job {
  readonly name: string;
  readonly state: JobState;
  metrics(): JobMetrics;
  triggerCheckpoint(): Promise<CheckpointInfo>;
  triggerSavepoint(request?: SavepointRequest): Promise<CheckpointInfo>;
  /** Stop gracefully: a final checkpoint (so a restart resumes exactly), then stop without draining. */
  stop(): Promise<JobResult>;
  /** Stop now: no snapshot, uncommitted sink writes are aborted. */
  cancel(): Promise<JobResult>;
  readonly done: Promise<JobResult>;
}

interface Channel {
  readonly task: Task;
  readonly index: number;
}

interface Task {
  readonly node: NodeRuntime;
  readonly index: number;
  readonly op: Operator;
  readonly ctx: OperatorContext;
  readonly out: Output;
  readonly store: KeyedStateStore | undefined;
  readonly timers: { readonly event: TimerQueue; readonly processing: TimerQueue } | undefined;
  readonly tracker: WatermarkTracker | undefined;
  readonly aligner: BarrierAligner | undefined;
  /** Input watermark. */
  wm: number;
  /** Output watermark. */
  outWm: number;
  /** Downstream channels fed by this task's watermark. */
  readonly downstream: Channel[];
}

interface NodeRuntime {
  readonly node: GraphNode;
  readonly keyed: boolean;
  tasks: Task[];
  readonly outputs: Map<string, NodeRuntime[]>;
  inputChannels: number;
}

interface SplitRuntime {
  readonly source: NodeRuntime;
  readonly split: SourceSplit<unknown>;
  readonly watermarks: SplitWatermarks;
  readonly input: number;
  done: boolean;
  /** Paused by event-time alignment. */
  paused: boolean;
}

type Request =
  | { kind: 'checkpoint'; resolve: (c: CheckpointInfo) => void; reject: (e: Error) => void }
  | { kind: 'savepoint'; req: SavepointRequest; resolve: (c: CheckpointInfo) => void; reject: (e: Error) => void }
  | { kind: 'stop' }
  | { kind: 'cancel' };

/** Per-record failures of an operator go to the graph's dead letters, when it has some. */
function recordFailureFor(graph: Graph, operatorId: string): RecordFailure {
  const dl = graph.deadLetters;
  if (dl === undefined) return undefined;
  return (r, err) => {
    dl.write({ operatorId, error: err instanceof Error ? err.message : String(err), value: r.value, origin: r.origin });
  };
}

function operatorFor(node: GraphNode, graph: Graph, connector: () => ConnectorContext): Operator {
  const maxParallelism = graph.maxParallelism;
  const onFailure = recordFailureFor(graph, node.id);
  switch (node.kind) {
    case 'source':
      throw new Error('sources are driven by the task loop, not as operators');
    case 'map':
      return mapOperator(node.fn, onFailure);
    case 'filter':
      return filterOperator(node.fn, onFailure);
    case 'flatMap':
      return flatMapOperator(node.fn, onFailure);
    case 'branch':
      return branchOperator(node.routes, onFailure);
    case 'keyBy':
      return keyByOperator(node.fn, maxParallelism, onFailure);
    case 'window':
      validateWindowSpec(node.window);
      return windowOperator(node.window, node.aggregate, node.lateness);
    case 'process':
      return processOperator(node.fn);
    case 'asyncIo':
      return asyncIoOperator(node.fn, node.options);
    case 'sink':
      return sinkOperator(node.sink, connector());
    case 'lookup':
      return lookupOperator(node.table, node.key, node.as, connector(), onFailure);
  }
}

const sourceOperator: Operator = { processBatch: () => undefined };

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

class Executor {
  readonly #graph: Graph;
  readonly #p: number;
  readonly #o: JobOptions;
  readonly #now: () => number;
  readonly #batchSize: number;
  readonly #nodes: NodeRuntime[] = [];
  readonly #splits: SplitRuntime[] = [];
  readonly #sourceTrackers = new Map<NodeRuntime, WatermarkTracker>();
  readonly #requests: Request[] = [];
  readonly #counters: OperatorCounters = { lateDropped: 0, lateToSideOutput: 0 };
  #state: JobState = JobState.created;
  #epochs = new EpochCounter();
  #restored: SnapshotManifest | undefined;
  #restoredFrom: string | undefined;
  #recordsIn = 0;
  #recordsOut = 0;
  #lastCheckpoint: CheckpointInfo | undefined;
  #lastCheckpointStart: number;
  #completed = 0;
  #failedCheckpoints = 0;
  #resolveDone!: (r: JobResult) => void;
  readonly #done: Promise<JobResult>;
  #finalSavepoint: CheckpointInfo | undefined;
  #sourceWatermark = MIN_WATERMARK;
  readonly #abort = new AbortController();
  #alignmentPauses = 0;
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
  }

  abort(): void {
    this.#abort.abort();
  }

  /** What connectors know of their place in the job. */
  #connectorContext(operatorId: string): ConnectorContext {
    const w = this.#o.worker ?? { index: 0, count: 1 };
    const maxP = this.#graph.maxParallelism;
    return {
      job: this.#graph.name,
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
    const plan = await planRestore(this.#o.restoreFrom, this.#o.checkpoints?.dir, recoveries);
    this.#epochs = new EpochCounter(plan.lastEpoch);
    if (plan.manifest !== undefined && plan.dir !== undefined) {
      const dir = plan.dir;
      const manifest = plan.manifest;
      const report = checkSavepointCompatibility(g, manifest, { allowNonRestoredState: this.#o.allowNonRestoredState });
      if (!report.compatible) {
        throw new Error(
          `the snapshot ${dir} does not fit pipeline '${g.name}':\n  - ${report.problems.map((p) => `${p.operatorId}: ${p.message}`).join('\n  - ')}`,
        );
      }
      this.#restored = manifest;
      this.#restoredFrom = dir;
    }
    const order = topologicalOrder(g.nodes);
    const byId = new Map<string, NodeRuntime>();
    for (const node of order) {
      const keyed = KEYED_KINDS.has(node.kind);
      const rt: NodeRuntime = { node, keyed, tasks: [], outputs: new Map(), inputChannels: 0 };
      byId.set(node.id, rt);
      this.#nodes.push(rt);
      for (const e of node.inputs) {
        const from = must(byId.get(e.from), `operator ${e.from}`);
        const port = e.port ?? '';
        const list = from.outputs.get(port) ?? [];
        list.push(rt);
        from.outputs.set(port, list);
      }
    }
    for (const rt of this.#nodes) this.#createTasks(rt, byId);
    // Wire watermark channels: every task of an upstream node feeds every task of a downstream node.
    for (const rt of this.#nodes) {
      let channel = 0;
      for (const e of rt.node.inputs) {
        const from = must(byId.get(e.from), `operator ${e.from}`);
        for (const t of from.tasks) {
          for (const d of rt.tasks) t.downstream.push({ task: d, index: channel });
          channel++;
        }
      }
    }
    const dir = this.#restoredFrom;
    for (const rt of this.#nodes) {
      const snap = this.#restored?.operators[rt.node.id];
      for (const t of rt.tasks) {
        if (snap !== undefined && dir !== undefined) {
          if (t.store !== undefined && t.timers !== undefined && snap.files !== undefined) {
            const node = rt.node;
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
    for (const rt of this.#nodes) {
      if (rt.node.kind !== 'source') continue;
      const snap = this.#restored?.operators[rt.node.id];
      const restored = new Map<string, Json>(Object.entries(snap?.splits ?? {}).map(([k, v]) => [k, v.position]));
      const splits = await rt.node.source.open({ ...this.#connectorContext(rt.node.id), restored });
      const tracker = new WatermarkTracker(Math.max(1, splits.length), snap?.watermark ?? MIN_WATERMARK);
      this.#sourceTrackers.set(rt, tracker);
      if (splits.length === 0) tracker.update(0, MAX_WATERMARK);
      splits.forEach((split, input) => {
        const w = new SplitWatermarks(
          rt.node.kind === 'source' ? rt.node.watermarks : { maxOutOfOrdernessMs: 0 },
          this.#now(),
        );
        const saved = snap?.splits?.[split.id];
        if (saved !== undefined) w.restore(saved.watermark);
        this.#splits.push({ source: rt, split, watermarks: w, input, done: false, paused: false });
      });
      this.#sourceWatermark = Math.max(this.#sourceWatermark, tracker.current);
    }
    this.#o.faults?.onRestorePhase?.('state-loaded');
    // The sinks rolled the restored snapshot forward when they opened: its output is now committed.
    if (plan.markCommitted && plan.dir !== undefined) await markCommitted(plan.dir);
  }

  #createTasks(rt: NodeRuntime, byId: Map<string, NodeRuntime>): void {
    const node = rt.node;
    const count = rt.keyed ? this.#p : 1;
    let inputs = 0;
    for (const e of node.inputs) inputs += must(byId.get(e.from), `operator ${e.from}`).keyed ? this.#p : 1;
    rt.inputChannels = inputs;
    for (let i = 0; i < count; i++) {
      const range = rt.keyed ? keyGroupRangeFor(i, count, this.#graph.maxParallelism) : undefined;
      const store = range !== undefined ? new KeyedStateStore(range, this.#now) : undefined;
      const timers = range !== undefined ? { event: new TimerQueue(), processing: new TimerQueue() } : undefined;
      const op =
        node.kind === 'source' ? sourceOperator : operatorFor(node, this.#graph, () => this.#connectorContext(node.id));
      // eslint-disable-next-line prefer-const -- the context reads the task it belongs to
      let task: Task;
      const ctx: OperatorContext = {
        operatorId: node.id,
        instance: i,
        parallelism: count,
        maxParallelism: this.#graph.maxParallelism,
        keyed:
          range !== undefined && store !== undefined && timers !== undefined
            ? { range, state: store, timers }
            : undefined,
        now: this.#now,
        watermark: () => task.wm,
        counters: this.#counters,
      };
      const out = this.#outputFor(rt);
      task = {
        node: rt,
        index: i,
        op,
        ctx,
        out,
        store,
        timers,
        tracker: inputs > 0 ? new WatermarkTracker(inputs) : undefined,
        aligner: inputs > 0 ? new BarrierAligner(inputs) : undefined,
        wm: MIN_WATERMARK,
        outWm: MIN_WATERMARK,
        downstream: [],
      };
      rt.tasks.push(task);
    }
  }

  #outputFor(rt: NodeRuntime): Output {
    const send = (port: string, batch: Rec[]): MaybePromise => {
      const targets = rt.outputs.get(port);
      if (targets === undefined) return undefined;
      let pending: Promise<void> | undefined;
      for (const target of targets) {
        const r =
          pending === undefined ? this.#deliver(target, batch) : pending.then(() => this.#deliver(target, batch));
        if (r instanceof Promise) pending = r;
      }
      return pending;
    };
    return { emit: (batch) => send('', batch), emitTo: (port, batch) => send(port, batch) };
  }

  /** Routes a batch to a node: keyed nodes get the records of their key-group range. */
  #deliver(rt: NodeRuntime, batch: Rec[]): MaybePromise {
    if (rt.node.kind === 'sink') this.#recordsOut += batch.length;
    const only = rt.tasks.length === 1 ? rt.tasks[0] : undefined;
    if (only !== undefined) return this.#handle(only, { kind: 'data', batch });
    const parts: Rec[][] = rt.tasks.map(() => []);
    const maxP = this.#graph.maxParallelism;
    for (const r of batch) {
      if (r.kg < 0) throw new Error(`operator '${rt.node.id}' received an unkeyed record: add keyBy before it`);
      parts[taskIndexForKeyGroup(r.kg, this.#p, maxP)]?.push(r);
    }
    let pending: Promise<void> | undefined;
    for (const [i, task] of rt.tasks.entries()) {
      const part = parts[i] ?? [];
      if (part.length === 0) continue;
      const r =
        pending === undefined
          ? this.#handle(task, { kind: 'data', batch: part })
          : pending.then(() => this.#handle(task, { kind: 'data', batch: part }));
      if (r instanceof Promise) pending = r;
    }
    return pending;
  }

  /** The one entry point of a task: every message kind in order. */
  #handle(task: Task, msg: Message): MaybePromise {
    switch (msg.kind) {
      case 'data':
        return task.op.processBatch(msg.batch, task.out);
      case 'watermark':
        return this.#advanceWatermark(task, msg.ts);
      case 'barrier':
      case 'stop':
        throw new Error(`${msg.kind} messages are handled by the checkpoint and stop paths`);
    }
  }

  async #advanceWatermark(task: Task, wm: number): Promise<void> {
    task.wm = wm;
    if (task.timers !== undefined) {
      for (let due = task.timers.event.popDue(wm); due !== undefined; due = task.timers.event.popDue(wm)) {
        if (due.length > 0) await task.op.onTimers?.(due, 'event', task.out);
      }
    }
    await task.op.onWatermark?.(wm, task.out);
  }

  /** One pass in topological order: every task whose input watermark rose fires its timers and forwards. */
  async #propagateWatermarks(): Promise<void> {
    for (const [rt, tracker] of this.#sourceTrackers) {
      const task = must(rt.tasks[0], 'source task');
      if (tracker.current > task.outWm) {
        task.wm = task.outWm = tracker.current;
        for (const c of task.downstream) c.task.tracker?.update(c.index, task.outWm);
      }
    }
    for (const rt of this.#nodes) {
      if (rt.node.kind === 'source') continue;
      for (const task of rt.tasks) {
        const input = task.tracker?.current ?? MIN_WATERMARK;
        if (input > task.wm) await this.#handle(task, { kind: 'watermark', ts: input });
        const out = task.op.outputWatermark !== undefined ? task.op.outputWatermark(task.wm) : task.wm;
        if (out > task.outWm) {
          task.outWm = out;
          for (const c of task.downstream) c.task.tracker?.update(c.index, out);
        }
      }
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
        const polled = await this.#pollSources();
        await this.#propagateWatermarks();
        await this.#tick();
        if (this.#splits.every((s) => s.done) && (await this.#finish())) {
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

  /** Event-time alignment: pause the splits running too far ahead of the slowest, resume the rest. */
  #align(now: number): void {
    for (const [rt] of this.#sourceTrackers) {
      const drift = rt.node.kind === 'source' ? rt.node.watermarks.maxDriftMs : undefined;
      if (drift === undefined) continue;
      const splits = this.#splits.filter((s) => s.source === rt);
      const ahead = splitsAhead(
        splits.map((s) => ({ watermark: s.watermarks.current(), active: !s.done && !s.watermarks.isIdle(now) })),
        drift,
      );
      splits.forEach((s, i) => {
        const pause = ahead[i] === true;
        if (pause === s.paused) return;
        s.paused = pause;
        if (pause) {
          this.#alignmentPauses++;
          s.split.pause?.();
        } else s.split.resume?.();
      });
    }
  }

  async #pollSources(): Promise<number> {
    let polled = 0;
    const now = this.#now();
    this.#align(now);
    for (const s of this.#splits) {
      if (s.done || s.paused) continue;
      const res = s.split.poll(this.#batchSize);
      const n = res.records.length;
      if (n > 0) {
        const node = s.source.node;
        const extract = node.kind === 'source' ? node.timestamp : undefined;
        const batch: Rec[] = [];
        let maxTs = MIN_WATERMARK;
        const dl = this.#graph.deadLetters;
        for (const r of res.records) {
          let ts: number;
          try {
            ts = extract !== undefined ? extract(r.value) : r.ts;
            if (!Number.isFinite(ts)) throw new TypeError(`the event time is ${String(ts)}, not a number`);
          } catch (err) {
            const message = `no event time: ${err instanceof Error ? err.message : String(err)}`;
            if (dl === undefined) throw new Error(`source '${node.id}': ${message}`, { cause: err });
            dl.write({ operatorId: node.id, error: message, value: r.value, origin: r.origin });
            continue;
          }
          if (ts > maxTs) maxTs = ts;
          batch.push({ value: r.value, ts, key: undefined, kg: -1, origin: r.origin });
        }
        polled += n;
        this.#recordsIn += n;
        if (batch.length > 0) {
          if (s.split.watermarksInBand === true) s.watermarks.onActivity(now);
          else s.watermarks.onEvent(maxTs, now);
          await this.#emitFromSource(s.source, batch);
        }
      }
      if (res.watermark !== undefined) s.watermarks.onSourceWatermark(res.watermark, now);
      if (res.done === true) {
        s.done = true;
        s.watermarks.finish();
      }
      const tracker = must(this.#sourceTrackers.get(s.source), 'source watermark tracker');
      tracker.update(s.input, s.watermarks.current(), s.watermarks.isIdle(now));
    }
    for (const s of this.#splits) {
      if (!s.done) this.#sourceTrackers.get(s.source)?.setIdle(s.input, s.watermarks.isIdle(now));
    }
    let min = Infinity;
    for (const t of this.#sourceTrackers.values()) min = Math.min(min, t.current);
    if (min !== Infinity && min > this.#sourceWatermark) this.#sourceWatermark = min;
    return polled;
  }

  #emitFromSource(rt: NodeRuntime, batch: Rec[]): MaybePromise {
    return must(rt.tasks[0], 'source task').out.emit(batch);
  }

  async #tick(): Promise<void> {
    const now = this.#now();
    for (const rt of this.#nodes) {
      for (const t of rt.tasks) {
        if (t.timers !== undefined) {
          for (let due = t.timers.processing.popDue(now); due !== undefined; due = t.timers.processing.popDue(now)) {
            if (due.length > 0) await t.op.onTimers?.(due, 'processing', t.out);
          }
        }
        if (t.op.onTick !== undefined) await t.op.onTick(t.out);
        t.store?.sweepExpired(256);
      }
    }
  }

  /** Bounded input exhausted: fire everything, take a final checkpoint so sinks commit, close. */
  async #finish(): Promise<boolean> {
    await this.#drainEventTime();
    // async operators may still hold records: keep looping until nothing is in flight
    await this.#checkpoint('checkpoint', undefined, this.#o.checkpoints === undefined);
    await this.#closeAll('finish');
    this.#state = JobState.finished;
    this.#failPending('the job finished');
    return true;
  }

  async #drainEventTime(): Promise<void> {
    for (const tracker of this.#sourceTrackers.values()) {
      for (let i = 0; i < tracker.inputCount; i++) tracker.update(i, MAX_WATERMARK);
    }
    this.#sourceWatermark = MAX_WATERMARK;
    await this.#propagateWatermarks();
    // Operators with work in flight (async I/O) finish it; what they emit then needs the watermark too.
    for (let round = 0; round < this.#nodes.length + 1; round++) {
      let had = false;
      for (const rt of this.#nodes)
        for (const t of rt.tasks) if (t.op.drain !== undefined && (await t.op.drain(t.out))) had = true;
      await this.#propagateWatermarks();
      if (!had) break;
    }
  }

  /**
   * A consistent snapshot under one epoch: source positions after the last emitted record, then
   * the barrier through the graph in topological order (each task snapshots when aligned), then the
   * manifest as the commit point, then sinks commit. Nothing else runs meanwhile.
   */
  async #checkpoint(
    kind: 'checkpoint' | 'savepoint',
    savepointDir: string | undefined,
    inMemory = false,
  ): Promise<CheckpointInfo> {
    const started = this.#now();
    this.#lastCheckpointStart = started;
    const epoch = this.#epochs.next();
    const cp = this.#o.checkpoints;
    let dir: string | undefined;
    if (!inMemory) {
      if (kind === 'savepoint') {
        const base = this.#o.savepointDir ?? (cp !== undefined ? join(cp.dir, '..', 'savepoints') : undefined);
        dir = savepointDir ?? (base !== undefined ? join(base, `sp-${String(epoch).padStart(10, '0')}`) : undefined);
        if (dir === undefined) throw new Error('no savepoint directory: pass one or configure savepointDir');
      } else if (cp !== undefined) {
        dir = join(cp.dir, checkpointDirName(epoch));
      }
    }
    if (dir !== undefined) {
      await removeSnapshot(dir);
      await ensureDir(dir);
    }
    const faults = this.#o.faults?.onCheckpointPhase;
    faults?.('barrier', epoch);
    const operators: Record<string, OperatorSnapshot> = {};
    const opStates = new Map<Task, unknown>();
    let bytes = 0;
    // Source positions first: everything polled so far is already inside the graph.
    for (const rt of this.#nodes) {
      if (rt.node.kind !== 'source') continue;
      const splits: Record<string, { position: Json; watermark: number }> = {};
      for (const s of this.#splits)
        if (s.source === rt) splits[s.split.id] = { position: s.split.snapshot(), watermark: s.watermarks.current() };
      operators[rt.node.id] = {
        kind: 'source',
        keyed: false,
        splits,
        watermark: must(rt.tasks[0], 'source task').outWm,
      };
      for (const t of rt.tasks) for (const c of t.downstream) this.#barrierArrives(c, epoch);
    }
    for (const rt of this.#nodes) {
      if (rt.node.kind === 'source') continue;
      const files: KeyedStateFile[] = [];
      const states = new Set<string>();
      let state: Json | undefined;
      let wm = MAX_WATERMARK;
      for (const t of rt.tasks) {
        const s = await t.op.onCheckpoint?.(epoch, t.out);
        if (s !== undefined) {
          opStates.set(t, s);
          state = s as Json;
        }
        wm = Math.min(wm, t.wm);
        if (t.store !== undefined && t.timers !== undefined) {
          for (const table of t.store.tables()) states.add(table.name);
          if (dir !== undefined) {
            const file = `${rt.node.id}.${t.index}.jsonl`;
            const b = await writeKeyedState(join(dir, file), t.store, t.timers);
            bytes += b;
            files.push({ file, start: t.store.range.start, end: t.store.range.end, bytes: b });
          }
        }
        for (const c of t.downstream) this.#barrierArrives(c, epoch);
      }
      const node = rt.node;
      operators[node.id] = {
        kind: node.kind,
        variant: variantOf(node),
        keyed: rt.keyed,
        ...(rt.keyed ? { states: [...states], files } : {}),
        ...(node.kind === 'process'
          ? { stateKinds: Object.fromEntries(Object.entries(node.fn.state).map(([k, v]) => [k, v.kind])) }
          : {}),
        ...(state !== undefined ? { state } : {}),
        watermark: wm,
      };
    }
    faults?.('state-written', epoch);
    if (dir !== undefined) {
      const manifest: SnapshotManifest = {
        format: SNAPSHOT_FORMAT,
        version: SNAPSHOT_VERSION,
        kind,
        job: this.#graph.name,
        epoch,
        createdAt: new Date(started).toISOString(),
        maxParallelism: this.#graph.maxParallelism,
        parallelism: this.#p,
        workers: this.#o.worker?.count ?? 1,
        operators,
      };
      await writeManifest(dir, manifest);
    }
    faults?.('manifest-written', epoch);
    for (const [t, s] of opStates) await t.op.onCheckpointComplete?.(epoch, s);
    faults?.('committed', epoch);
    if (dir !== undefined) await markCommitted(dir);
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
    if (kind === 'checkpoint' && cp !== undefined && dir !== undefined) {
      for (const old of checkpointsToDelete(await completedCheckpoints(cp.dir), cp.retain ?? 3)) {
        await removeSnapshot(join(cp.dir, checkpointDirName(old)));
      }
    }
    return info;
  }

  #barrierArrives(c: Channel, epoch: number): void {
    // In one process the barrier reaches a task after all its inputs' data; alignment verifies it arrived on every channel.
    c.task.aligner?.onBarrier(c.index, epoch);
  }

  async #closeAll(mode: 'finish' | 'stop' | 'cancel'): Promise<void> {
    for (const rt of this.#nodes) for (const t of rt.tasks) await t.op.close?.(mode, t.out);
    for (const s of this.#splits) await s.split.close?.();
    // Last: connectors release what they share (a Kafka source's connection may serve the sinks too).
    this.#abort.abort();
  }

  metrics(): JobMetrics {
    let backlog: number | undefined;
    for (const s of this.#splits) {
      const b = s.split.backlog?.();
      if (b !== undefined) backlog = (backlog ?? 0) + b;
    }
    let entries = 0;
    let timers = 0;
    for (const rt of this.#nodes)
      for (const t of rt.tasks) {
        if (t.store !== undefined) for (const table of t.store.tables()) entries += table.size;
        if (t.timers !== undefined) timers += t.timers.event.size + t.timers.processing.size;
      }
    const wm = this.#sourceWatermark;
    return {
      state: this.#state,
      recordsIn: this.#recordsIn,
      recordsOut: this.#recordsOut,
      watermark: wm,
      watermarkLagMs: wm > MIN_WATERMARK && wm < MAX_WATERMARK ? this.#now() - wm : undefined,
      backlog,
      lateDropped: this.#counters.lateDropped,
      lateToSideOutput: this.#counters.lateToSideOutput,
      deadLetters: this.#graph.deadLetters?.count() ?? 0,
      alignmentPauses: this.#alignmentPauses,
      splitsPaused: this.#splits.filter((s) => s.paused).length,
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
