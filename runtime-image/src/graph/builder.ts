import type { SinkConnector, SourceConnector } from '../connectors/contract.ts';
import { DEFAULT_MAX_PARALLELISM, stableHash } from '../core/key-groups.ts';
import type { WatermarkStrategy } from '../core/watermarks.ts';
import type { WindowSpec } from '../core/windows.ts';
import type { AsyncIoOptions } from '../operators/async-io.ts';
import type { KeyedProcessFunction } from '../operators/process.ts';
import type { WindowResult } from '../operators/window.ts';
import { count, reduce, type AggregateFunction } from './aggregates.ts';
import { validateGraph, type Edge, type Graph, type GraphNode, type LatenessPolicy, type NodeKind } from './graph.ts';

export interface OperatorOptions {
  /** Stable id that savepoints are keyed by. Derived from the upstream id and the kind if absent. */
  readonly id?: string | undefined;
}

type NodeBody = GraphNode extends infer N ? (N extends GraphNode ? Omit<N, 'id' | 'inputs'> : never) : never;

/** Derived ids depend only on the path from the source, so unrelated edits elsewhere do not change them. */
function deriveId(kind: NodeKind, inputs: readonly Edge[], taken: ReadonlySet<string>): string {
  const basis = inputs.map((e) => `${e.from}:${e.port ?? ''}`).join('|');
  let id = `${kind}-${stableHash(`${basis}>${kind}`).toString(16).padStart(8, '0')}`;
  for (let n = 2; taken.has(id); n++)
    id = `${kind}-${stableHash(`${basis}>${kind}#${n}`).toString(16).padStart(8, '0')}`;
  return id;
}

/** A typed dataflow builder: source → map / filter / flatMap / branch → keyBy → window → aggregate → process → sink. */
export class PipelineBuilder {
  readonly name: string;
  readonly maxParallelism: number;
  readonly #nodes: GraphNode[] = [];
  readonly #ids = new Set<string>();

  constructor(name: string, options: { readonly maxParallelism?: number | undefined } = {}) {
    this.name = name;
    this.maxParallelism = options.maxParallelism ?? DEFAULT_MAX_PARALLELISM;
  }

  /** @internal */
  add(body: NodeBody, inputs: readonly Edge[], options: OperatorOptions | undefined): string {
    const id = options?.id ?? deriveId(body.kind, inputs, this.#ids);
    if (this.#ids.has(id)) throw new Error(`operator id '${id}' is used twice`);
    this.#ids.add(id);
    this.#nodes.push({ ...body, id, inputs });
    return id;
  }

  source<T>(
    id: string,
    source: SourceConnector<T>,
    options: { readonly watermarks?: WatermarkStrategy; readonly timestamp?: (v: T) => number } = {},
  ): Stream<T> {
    const nodeId = this.add(
      {
        kind: 'source',
        source,
        watermarks: options.watermarks ?? { maxOutOfOrdernessMs: 0 },
        timestamp: options.timestamp,
      },
      [],
      { id },
    );
    return new Stream<T>(this, { from: nodeId });
  }

  /** Merges several streams of the same type into one operator's input. */
  union<T>(streams: readonly Stream<T>[]): UnionInput<T> {
    return new UnionInput(
      this,
      streams.map((s) => s.edge),
    );
  }

  build(): Graph {
    const graph: Graph = { name: this.name, maxParallelism: this.maxParallelism, nodes: [...this.#nodes] };
    const problems = validateGraph(graph);
    if (problems.length > 0) throw new Error(`invalid pipeline '${this.name}':\n  - ${problems.join('\n  - ')}`);
    return graph;
  }
}

export class Stream<T> {
  readonly #b: PipelineBuilder;
  readonly edge: Edge;

  constructor(builder: PipelineBuilder, edge: Edge) {
    this.#b = builder;
    this.edge = edge;
  }

  get id(): string {
    return this.edge.from;
  }

  #next<U>(body: NodeBody, options?: OperatorOptions): Stream<U> {
    return new Stream<U>(this.#b, { from: this.#b.add(body, [this.edge], options) });
  }

  map<U>(fn: (v: T) => U, options?: OperatorOptions): Stream<U> {
    return this.#next({ kind: 'map', fn }, options);
  }

  filter(fn: (v: T) => boolean, options?: OperatorOptions): Stream<T> {
    return this.#next({ kind: 'filter', fn }, options);
  }

  flatMap<U>(fn: (v: T) => Iterable<U>, options?: OperatorOptions): Stream<U> {
    return this.#next({ kind: 'flatMap', fn }, options);
  }

  /** Splits the stream by predicates (first match wins); unmatched records stay on `rest`. */
  branch<R extends string>(
    routes: Readonly<Record<R, (v: T) => boolean>>,
    options?: OperatorOptions,
  ): Record<R, Stream<T>> & { rest: Stream<T> } {
    const list = Object.entries(routes).map(([name, when]) => ({ name, when: when as (v: unknown) => boolean }));
    const id = this.#b.add({ kind: 'branch', routes: list }, [this.edge], options);
    const out: Record<string, Stream<T>> = { rest: new Stream<T>(this.#b, { from: id }) };
    for (const r of list) out[r.name] = new Stream<T>(this.#b, { from: id, port: r.name });
    return out as Record<R, Stream<T>> & { rest: Stream<T> };
  }

  keyBy(fn: (v: T) => string | number, options?: OperatorOptions): KeyedStream<T> {
    return new KeyedStream<T>(this.#b, { from: this.#b.add({ kind: 'keyBy', fn }, [this.edge], options) });
  }

  asyncMap<U>(
    fn: (v: T, signal: AbortSignal) => Promise<U | undefined>,
    asyncOptions: AsyncIoOptions,
    options?: OperatorOptions,
  ): Stream<U> {
    return this.#next({ kind: 'asyncIo', fn, options: asyncOptions }, options);
  }

  /** A named side output of this operator (`late` of a window, a process function's ports, `errors` of async I/O). */
  sideOutput<U>(port: string): Stream<U> {
    return new Stream<U>(this.#b, { from: this.edge.from, port });
  }

  sink(sink: SinkConnector<T>, options?: OperatorOptions): string {
    return this.#b.add({ kind: 'sink', sink }, [this.edge], options);
  }
}

export class UnionInput<T> {
  readonly #b: PipelineBuilder;
  readonly #edges: readonly Edge[];
  constructor(b: PipelineBuilder, edges: readonly Edge[]) {
    this.#b = b;
    this.#edges = edges;
  }
  map<U>(fn: (v: T) => U, options?: OperatorOptions): Stream<U> {
    return new Stream<U>(this.#b, { from: this.#b.add({ kind: 'map', fn }, this.#edges, options) });
  }
}

export class KeyedStream<T> {
  readonly #b: PipelineBuilder;
  readonly edge: Edge;
  constructor(b: PipelineBuilder, edge: Edge) {
    this.#b = b;
    this.edge = edge;
  }

  window(window: WindowSpec, lateness: LatenessPolicy = {}): WindowedStream<T> {
    return new WindowedStream<T>(this.#b, this.edge, window, lateness);
  }

  process<U>(fn: KeyedProcessFunction<T, U>, options?: OperatorOptions): Stream<U> {
    return new Stream<U>(this.#b, { from: this.#b.add({ kind: 'process', fn }, [this.edge], options) });
  }

  filter(fn: (v: T) => boolean, options?: OperatorOptions): KeyedStream<T> {
    return new KeyedStream<T>(this.#b, { from: this.#b.add({ kind: 'filter', fn }, [this.edge], options) });
  }
}

export class WindowedStream<T> {
  readonly #b: PipelineBuilder;
  readonly #edge: Edge;
  readonly #window: WindowSpec;
  readonly #lateness: LatenessPolicy;
  constructor(b: PipelineBuilder, edge: Edge, window: WindowSpec, lateness: LatenessPolicy) {
    this.#b = b;
    this.#edge = edge;
    this.#window = window;
    this.#lateness = lateness;
  }

  aggregate<ACC, OUT>(aggregate: AggregateFunction<T, ACC, OUT>, options?: OperatorOptions): Stream<WindowResult<OUT>> {
    const id = this.#b.add(
      { kind: 'window', window: this.#window, aggregate, lateness: this.#lateness },
      [this.#edge],
      options,
    );
    return new Stream<WindowResult<OUT>>(this.#b, { from: id });
  }

  reduce(fn: (a: T, b: T) => T, options?: OperatorOptions): Stream<WindowResult<T | null>> {
    return this.aggregate(reduce(fn), options);
  }

  count(options?: OperatorOptions): Stream<WindowResult<number>> {
    return this.aggregate(count<T>(), options);
  }
}

export function tumbling(sizeMs: number, offsetMs?: number): WindowSpec {
  return { type: 'tumbling', sizeMs, offsetMs };
}
export function sliding(sizeMs: number, slideMs: number, offsetMs?: number): WindowSpec {
  return { type: 'sliding', sizeMs, slideMs, offsetMs };
}
export function session(gapMs: number, maxLengthMs: number): WindowSpec {
  return { type: 'session', gapMs, maxLengthMs };
}
