import type { ConnectorContext } from '../connectors/contract.ts';
import { BarrierAligner } from '../core/barriers.ts';
import { keyGroupRangeFor, taskIndexForKeyGroup, type KeyGroupRange } from '../core/key-groups.ts';
import { must } from '../core/must.ts';
import { MIN_WATERMARK, WatermarkTracker } from '../core/watermarks.ts';
import { validateWindowSpec } from '../core/windows.ts';
import { KEYED_KINDS, topologicalOrder, type Graph, type GraphNode } from '../graph/graph.ts';
import { asyncIoOperator } from '../operators/async-io.ts';
import {
  branchOperator,
  filterOperator,
  flatMapOperator,
  keyByOperator,
  mapOperator,
  type RecordFailure,
} from '../operators/basic.ts';
import { lookupOperator } from '../operators/lookup.ts';
import { processOperator } from '../operators/process.ts';
import { sinkOperator } from '../operators/sink.ts';
import { windowOperator } from '../operators/window.ts';
import { KeyedStateStore } from '../state/keyed-state.ts';
import { TimerQueue } from '../state/timers.ts';
import type { MaybePromise, Message, Operator, OperatorContext, OperatorCounters, Output, Rec } from './operator.ts';

/** An input of a task: the upstream task that feeds it and the index of that input at the receiver. */
export interface Channel {
  readonly task: Task;
  readonly index: number;
}

export interface Task {
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
  /** The channels this task feeds: data, watermarks and barriers go down all of them. */
  readonly downstream: Channel[];
}

export interface NodeRuntime {
  readonly node: GraphNode;
  readonly keyed: boolean;
  readonly tasks: Task[];
  readonly outputs: Map<string, NodeRuntime[]>;
  /** Records into and out of the operator (all its instances) since the job started. */
  recordsIn: number;
  recordsOut: number;
  /** Time its input spent waiting on it (a sink's send in flight, async I/O at capacity): backpressure. */
  blockedMs: number;
  /** The live preview's sample of its input, when someone looks (the newest `PREVIEW_SAMPLE` records). */
  sample: Rec[] | undefined;
}

/** Records an operator's live preview keeps between two reads. */
export const PREVIEW_SAMPLE = 100;

/** Keeps the newest records of a batch: copies at most PREVIEW_SAMPLE references per batch. */
export function sampleInto(sample: Rec[], batch: readonly Rec[]): void {
  const from = Math.max(0, batch.length - PREVIEW_SAMPLE);
  for (const r of batch.slice(from)) sample.push(r);
  if (sample.length > 2 * PREVIEW_SAMPLE) sample.splice(0, sample.length - PREVIEW_SAMPLE);
}

/** Per-record failures of an operator go to the graph's dead letters, when it has some. */
function recordFailureFor(graph: Graph, operatorId: string): RecordFailure {
  const dl = graph.deadLetters;
  if (dl === undefined) return undefined;
  return (r, err) => {
    dl.write({ operatorId, error: err instanceof Error ? err.message : String(err), value: r.value, origin: r.origin });
  };
}

function operatorFor(node: GraphNode, graph: Graph, connector: () => ConnectorContext): Operator {
  const onFailure = recordFailureFor(graph, node.id);
  switch (node.kind) {
    case 'source':
      // Sources are polled by the job loop; their task forwards what they emit.
      return { processBatch: (batch, out) => out.emit(batch) };
    case 'map':
      return mapOperator(node.fn, onFailure);
    case 'filter':
      return filterOperator(node.fn, onFailure);
    case 'flatMap':
      return flatMapOperator(node.fn, onFailure);
    case 'branch':
      return branchOperator(node.routes, onFailure);
    case 'keyBy':
      return keyByOperator(node.fn, graph.maxParallelism, onFailure);
    case 'window':
      validateWindowSpec(node.window);
      return windowOperator(node.window, node.aggregate, node.lateness, onFailure);
    case 'process':
      return processOperator(node.fn, onFailure);
    case 'asyncIo':
      return asyncIoOperator(node.fn, node.options);
    case 'sink':
      return sinkOperator(node.sink, connector());
    case 'lookup':
      return lookupOperator(node.table, node.key, node.as, connector(), onFailure);
  }
}

export interface TaskGraphOptions {
  readonly parallelism: number;
  /**
   * The key groups of this process (a worker's share); its keyed tasks split them. Absent: all.
   * A worker's keyed state is restored for these only.
   */
  readonly keyGroups?: KeyGroupRange | undefined;
  readonly now: () => number;
  readonly counters: OperatorCounters;
  readonly connector: (operatorId: string) => ConnectorContext;
  /** Records that reached a sink. */
  readonly onSinkRecords: (n: number) => void;
}

/** What a task does when the barrier of a checkpoint has arrived on all its inputs. */
export type SnapshotTask = (task: Task) => Promise<void>;

/**
 * The tasks of a job and how messages move between them: keyed operators run as `parallelism`
 * instances (each owning a key-group range), the others once. Data, watermarks and barriers are
 * messages of one closed union, sent along channels in order; a task handles one at a time.
 */
export class TaskGraph {
  readonly nodes: NodeRuntime[] = [];
  readonly #graph: Graph;
  readonly #o: TaskGraphOptions;

  constructor(graph: Graph, options: TaskGraphOptions) {
    this.#graph = graph;
    this.#o = options;
    const byId = new Map<string, NodeRuntime>();
    for (const node of topologicalOrder(graph.nodes)) {
      const rt: NodeRuntime = {
        node,
        keyed: KEYED_KINDS.has(node.kind),
        tasks: [],
        outputs: new Map(),
        recordsIn: 0,
        recordsOut: 0,
        blockedMs: 0,
        sample: undefined,
      };
      byId.set(node.id, rt);
      this.nodes.push(rt);
      for (const e of node.inputs) {
        const from = must(byId.get(e.from), `operator ${e.from}`);
        const port = e.port ?? '';
        const list = from.outputs.get(port) ?? [];
        list.push(rt);
        from.outputs.set(port, list);
      }
    }
    for (const rt of this.nodes) this.#createTasks(rt, byId);
    // Every task of an upstream node feeds every task of a downstream node, one channel each.
    for (const rt of this.nodes) {
      let channel = 0;
      for (const e of rt.node.inputs) {
        for (const t of must(byId.get(e.from), `operator ${e.from}`).tasks) {
          for (const d of rt.tasks) t.downstream.push({ task: d, index: channel });
          channel++;
        }
      }
    }
  }

  get tasks(): Task[] {
    return this.nodes.flatMap((rt) => rt.tasks);
  }

  #createTasks(rt: NodeRuntime, byId: Map<string, NodeRuntime>): void {
    const node = rt.node;
    const p = this.#o.parallelism;
    const count = rt.keyed ? p : 1;
    let inputs = 0;
    for (const e of node.inputs) inputs += must(byId.get(e.from), `operator ${e.from}`).keyed ? p : 1;
    for (let i = 0; i < count; i++) {
      const range = rt.keyed ? this.#rangeOf(i, count) : undefined;
      const store = range !== undefined ? new KeyedStateStore(range, this.#o.now) : undefined;
      const timers = range !== undefined ? { event: new TimerQueue(), processing: new TimerQueue() } : undefined;
      const op = operatorFor(node, this.#graph, () => this.#o.connector(node.id));
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
        now: this.#o.now,
        watermark: () => task.wm,
        counters: this.#o.counters,
      };
      task = {
        node: rt,
        index: i,
        op,
        ctx,
        out: this.#outputFor(rt),
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

  /** Task `i` of `count`: its share of the process's key groups. */
  #rangeOf(i: number, count: number): KeyGroupRange {
    const own = this.#o.keyGroups;
    const maxP = this.#graph.maxParallelism;
    if (own === undefined || (own.start === 0 && own.end === maxP)) return keyGroupRangeFor(i, count, maxP);
    if (count !== 1)
      throw new Error('a worker with a share of the key groups runs its keyed operators as one task each');
    return own;
  }

  #outputFor(rt: NodeRuntime): Output {
    const send = (port: string, batch: Rec[]): MaybePromise => {
      rt.recordsOut += batch.length;
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
    rt.recordsIn += batch.length;
    if (rt.sample !== undefined) sampleInto(rt.sample, batch);
    if (rt.node.kind === 'sink') this.#o.onSinkRecords(batch.length);
    const only = rt.tasks.length === 1 ? rt.tasks[0] : undefined;
    if (only !== undefined) return this.send(only, { kind: 'data', batch });
    const parts: Rec[][] = rt.tasks.map(() => []);
    const maxP = this.#graph.maxParallelism;
    for (const r of batch) {
      if (r.kg < 0) throw new Error(`operator '${rt.node.id}' received an unkeyed record: add keyBy before it`);
      parts[taskIndexForKeyGroup(r.kg, this.#o.parallelism, maxP)]?.push(r);
    }
    let pending: Promise<void> | undefined;
    for (const [i, task] of rt.tasks.entries()) {
      const part = parts[i] ?? [];
      if (part.length === 0) continue;
      const r =
        pending === undefined
          ? this.send(task, { kind: 'data', batch: part })
          : pending.then(() => this.send(task, { kind: 'data', batch: part }));
      if (r instanceof Promise) pending = r;
    }
    return pending;
  }

  /**
   * The one entry point of a task: every message kind, in order. `channel` is the input a
   * watermark or barrier arrived on (data carries no channel: routing already chose the task).
   */
  send(task: Task, msg: Message, channel = 0): MaybePromise {
    switch (msg.kind) {
      case 'data': {
        const r = task.op.processBatch(msg.batch, task.out);
        if (!(r instanceof Promise)) return r;
        const from = performance.now();
        return r.then(() => {
          task.node.blockedMs += performance.now() - from;
        });
      }
      case 'watermark': {
        task.tracker?.update(channel, msg.ts);
        const input = task.tracker?.current ?? msg.ts;
        return input > task.wm ? this.#advance(task, input) : undefined;
      }
      case 'barrier':
        // Alignment: the checkpoint happens once the barrier came down every input.
        return task.aligner === undefined || task.aligner.onBarrier(channel, msg.epoch)
          ? this.#snapshotAndForward(task, msg)
          : undefined;
      case 'stop':
        return task.op.close?.(msg.mode, task.out);
    }
  }

  async #advance(task: Task, wm: number): Promise<void> {
    task.wm = wm;
    if (task.timers !== undefined) {
      for (let due = task.timers.event.popDue(wm); due !== undefined; due = task.timers.event.popDue(wm)) {
        if (due.length > 0) await task.op.onTimers?.(due, 'event', task.out);
      }
    }
    await task.op.onWatermark?.(wm, task.out);
    await this.#forwardWatermark(task);
  }

  /** Sends the task's output watermark down its channels if it rose (async I/O may hold it back). */
  async #forwardWatermark(task: Task): Promise<void> {
    const out = task.op.outputWatermark !== undefined ? task.op.outputWatermark(task.wm) : task.wm;
    if (out <= task.outWm) return;
    task.outWm = out;
    for (const c of task.downstream) await this.send(c.task, { kind: 'watermark', ts: out }, c.index);
  }

  /** A source's combined watermark rose: its task forwards it. */
  async sourceWatermark(rt: NodeRuntime, wm: number): Promise<void> {
    const task = must(rt.tasks[0], 'source task');
    if (wm <= task.outWm) return;
    task.wm = wm;
    await this.#forwardWatermark(task);
  }

  /** Output watermarks that operators held back and may now release (after ticks and drains). */
  async releaseWatermarks(): Promise<void> {
    for (const t of this.tasks) if (t.node.node.kind !== 'source') await this.#forwardWatermark(t);
  }

  #snapshot: SnapshotTask | undefined;

  async #snapshotAndForward(task: Task, msg: Extract<Message, { kind: 'barrier' }>): Promise<void> {
    await must(this.#snapshot, 'a checkpoint in progress')(task);
    for (const c of task.downstream) await this.send(c.task, msg, c.index);
  }

  /**
   * One checkpoint: the sources' tasks send the barrier down their channels after everything they
   * emitted; every task snapshots when the barrier arrived on all its inputs, then forwards it.
   */
  async barrier(epoch: number, savepoint: boolean, snapshot: SnapshotTask): Promise<void> {
    this.#snapshot = snapshot;
    try {
      for (const rt of this.nodes) {
        if (rt.node.kind !== 'source') continue;
        for (const t of rt.tasks) await this.send(t, { kind: 'barrier', epoch, savepoint });
      }
      for (const t of this.tasks) {
        if (t.aligner?.aligning === true)
          throw new Error(`task ${t.node.node.id}#${t.index} never aligned epoch ${epoch}`);
      }
    } finally {
      this.#snapshot = undefined;
    }
  }

  /** Processing-time timers, background work (async I/O), state TTL sweeps. */
  async tick(now: number): Promise<void> {
    for (const t of this.tasks) {
      if (t.timers !== undefined) {
        for (let due = t.timers.processing.popDue(now); due !== undefined; due = t.timers.processing.popDue(now)) {
          if (due.length > 0) await t.op.onTimers?.(due, 'processing', t.out);
        }
      }
      if (t.op.onTick !== undefined) await t.op.onTick(t.out);
      t.store?.sweepExpired(256);
    }
  }

  /** Operators with work in flight (async I/O) finish it; returns whether any had some. */
  async drain(): Promise<boolean> {
    let had = false;
    for (const t of this.tasks) if (t.op.drain !== undefined && (await t.op.drain(t.out))) had = true;
    return had;
  }

  /** Every task gets the stop message, in topological order. */
  async stop(mode: 'finish' | 'stop' | 'cancel'): Promise<void> {
    for (const t of this.tasks) await this.send(t, { kind: 'stop', mode });
  }
}
