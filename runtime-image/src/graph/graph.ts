import type { DeadLetterWriter, SinkConnector, SourceConnector, TableConnector } from '../connectors/contract.ts';
import type { WatermarkStrategy } from '../core/watermarks.ts';
import type { WindowSpec } from '../core/windows.ts';
import type { AggregateFunction } from './aggregates.ts';
import type { KeyedProcessFunction } from '../operators/process.ts';
import type { AsyncIoOptions } from '../operators/async-io.ts';

/** An input edge: from another node's main output, or one of its named ports (side output, branch). */
export interface Edge {
  readonly from: string;
  readonly port?: string | undefined;
}

export interface LatenessPolicy {
  /** Keep fired windows this long after they close and re-fire them (with a new revision) on late data. */
  readonly allowedLatenessMs?: number | undefined;
  /** What happens to data later than that: dropped (and counted) or sent to the `late` port. */
  readonly tooLate?: 'drop' | 'side' | undefined;
}

interface Base {
  readonly id: string;
  readonly inputs: readonly Edge[];
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the graph is untyped; the builder types it */
export type GraphNode =
  | (Base & {
      readonly kind: 'source';
      readonly source: SourceConnector<any>;
      readonly watermarks: WatermarkStrategy;
      readonly timestamp?: ((v: any) => number) | undefined;
    })
  | (Base & { readonly kind: 'map'; readonly fn: (v: any) => unknown })
  | (Base & { readonly kind: 'filter'; readonly fn: (v: any) => boolean })
  | (Base & { readonly kind: 'flatMap'; readonly fn: (v: any) => Iterable<unknown> })
  | (Base & {
      readonly kind: 'branch';
      readonly routes: readonly { readonly name: string; readonly when: (v: any) => boolean }[];
    })
  | (Base & { readonly kind: 'keyBy'; readonly fn: (v: any) => string | number })
  | (Base & {
      readonly kind: 'window';
      readonly window: WindowSpec;
      readonly aggregate: AggregateFunction<any, any, any>;
      readonly lateness: LatenessPolicy;
    })
  | (Base & { readonly kind: 'process'; readonly fn: KeyedProcessFunction<any, any> })
  | (Base & {
      readonly kind: 'asyncIo';
      readonly fn: (v: any, signal: AbortSignal) => Promise<unknown>;
      readonly options: AsyncIoOptions;
    })
  | (Base & { readonly kind: 'sink'; readonly sink: SinkConnector<any> })
  | (Base & {
      readonly kind: 'lookup';
      readonly table: TableConnector;
      readonly key: (v: any) => unknown;
      /** The field the row is added under (null when the table has no row for the key). */
      readonly as: string;
    });
/* eslint-enable @typescript-eslint/no-explicit-any */

export type NodeKind = GraphNode['kind'];

/** Kinds that keep keyed state and run as `parallelism` instances, each owning a key-group range. */
export const KEYED_KINDS: ReadonlySet<NodeKind> = new Set(['window', 'process']);
/** Kinds whose state goes into snapshots. */
export const STATEFUL_KINDS: ReadonlySet<NodeKind> = new Set([
  'source',
  'window',
  'process',
  'asyncIo',
  'sink',
  'lookup',
]);

export interface Graph {
  readonly name: string;
  /** Number of key groups; fixed for the life of the job (savepoints are split by it). */
  readonly maxParallelism: number;
  readonly nodes: readonly GraphNode[];
  /** Records that fail in an expression or user code go here instead of failing the job (absent: they fail it). */
  readonly deadLetters?: DeadLetterWriter | undefined;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Structural checks; returns problems naming the operator. */
export function validateGraph(graph: Graph): string[] {
  const problems: string[] = [];
  const byId = new Map<string, GraphNode>();
  for (const n of graph.nodes) {
    if (!ID.test(n.id)) problems.push(`operator id '${n.id}' must match ${ID.source}`);
    if (byId.has(n.id)) problems.push(`operator id '${n.id}' is used twice`);
    byId.set(n.id, n);
  }
  const keyedOutput = new Map<string, boolean>();
  const order = topologicalOrder(graph.nodes, problems);
  for (const n of order) {
    if (n.kind === 'source') {
      if (n.inputs.length > 0) problems.push(`source '${n.id}' cannot have inputs`);
    } else if (n.inputs.length === 0) {
      problems.push(`operator '${n.id}' (${n.kind}) has no input`);
    }
    let keyed = n.inputs.length > 0;
    for (const e of n.inputs) {
      const from = byId.get(e.from);
      if (from === undefined) {
        problems.push(`operator '${n.id}' reads from unknown operator '${e.from}'`);
        continue;
      }
      if (from.kind === 'sink') problems.push(`operator '${n.id}' reads from sink '${from.id}'`);
      if (e.port !== undefined) {
        const ports =
          from.kind === 'branch'
            ? from.routes.map((r) => r.name)
            : from.kind === 'window'
              ? ['late']
              : from.kind === 'asyncIo'
                ? ['errors']
                : [];
        if (from.kind !== 'process' && !ports.includes(e.port)) {
          problems.push(`operator '${n.id}' reads port '${e.port}' that '${from.id}' does not have`);
        }
      }
      keyed &&= keyedOutput.get(e.from) === true;
    }
    if (KEYED_KINDS.has(n.kind) && !keyed)
      problems.push(`operator '${n.id}' (${n.kind}) needs a keyed input: add keyBy before it`);
    if (n.kind === 'window' && n.window.type === 'session' && n.aggregate.merge === undefined) {
      problems.push(`operator '${n.id}': session windows need an aggregate with merge`);
    }
    keyedOutput.set(
      n.id,
      n.kind === 'keyBy' ||
        (KEYED_KINDS.has(n.kind) && keyed) ||
        (keyed && (n.kind === 'filter' || n.kind === 'lookup')),
    );
  }
  if (!graph.nodes.some((n) => n.kind === 'source')) problems.push('the pipeline has no source');
  return problems;
}

export function topologicalOrder(nodes: readonly GraphNode[], problems: string[] = []): GraphNode[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const out: GraphNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: GraphNode): void => {
    const s = state.get(n.id);
    if (s === 'done') return;
    if (s === 'visiting') {
      problems.push(`the pipeline has a cycle through '${n.id}'`);
      return;
    }
    state.set(n.id, 'visiting');
    for (const e of n.inputs) {
      const from = byId.get(e.from);
      if (from !== undefined) visit(from);
    }
    state.set(n.id, 'done');
    out.push(n);
  };
  for (const n of nodes) visit(n);
  return out;
}
