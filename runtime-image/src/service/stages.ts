// A job run as several workers is cut at every keyBy into stages (Kafka Streams' sub-topologies):
// the stage before a keyBy writes its records into an exchange topic with one partition per key
// group, exactly once and with its watermarks in band; the stage after reads the partitions of
// its worker's key groups. Kafka carries the exchange; each stage runs as a job of its own, so
// that each commits its own transaction and its readers see only committed records.
import type { SinkConnector, SourceConnector } from '../connectors/contract.ts';
import type { Graph, GraphNode } from '../graph/graph.ts';

/** Where a stage starts: the job's sources, or a keyBy whose input crosses workers. */
export type StageHead = { readonly kind: 'sources' } | { readonly kind: 'exchange'; readonly keyBy: string };

export interface StagePlan {
  readonly head: StageHead;
  /** Directory and job-name suffix: `sources`, or `by-<keyBy id>`. */
  readonly name: string;
  /** Operators of the original graph in this stage (a keyBy head belongs to both sides). */
  readonly nodes: readonly string[];
  /** keyBys in this stage whose records go out through an exchange. */
  readonly exchangesOut: readonly string[];
}

import { EXCHANGE_SUFFIX } from '../snapshot/job-snapshot.ts';

export { EXCHANGE_SUFFIX };

export function stageName(head: StageHead): string {
  return head.kind === 'sources' ? 'sources' : `by-${head.keyBy}`;
}

/** Cuts the graph at its keyBys. Fails, naming the operator, where an operator reads from two stages. */
export function planStages(graph: Graph): StagePlan[] {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const stageOf = new Map<string, string>();
  const order: string[] = [];
  const stageFor = (n: GraphNode): string => {
    const known = stageOf.get(n.id);
    if (known !== undefined) return known;
    let s: string;
    if (n.kind === 'source') s = 'sources';
    else if (n.kind === 'keyBy') s = `by-${n.id}`;
    else {
      const inputs = new Set(n.inputs.map((e) => stageFor(must(byId.get(e.from), e.from))));
      if (inputs.size !== 1) {
        throw new Error(
          `operator '${n.id}' reads from operators in different stages (${[...inputs].join(', ')}): across workers an operator reads from one keyBy's stage; key its inputs the same way first`,
        );
      }
      s = [...inputs][0] ?? 'sources';
    }
    stageOf.set(n.id, s);
    if (!order.includes(s)) order.push(s);
    return s;
  };
  for (const n of graph.nodes) stageFor(n);
  const sorted = [...order].sort((a, b) => (a === 'sources' ? -1 : b === 'sources' ? 1 : 0));
  return sorted.map((name) => {
    const head: StageHead = name === 'sources' ? { kind: 'sources' } : { kind: 'exchange', keyBy: name.slice(3) };
    const nodes = graph.nodes.filter((n) => stageOf.get(n.id) === name).map((n) => n.id);
    // A keyBy's records leave the stage of its input.
    const exchangesOut = graph.nodes
      .filter((n) => n.kind === 'keyBy' && n.inputs.some((e) => stageOf.get(e.from) === name))
      .map((n) => n.id);
    return { head, name, nodes: [...nodes, ...exchangesOut.filter((k) => !nodes.includes(k))], exchangesOut };
  });
}

function must<T>(v: T | undefined, id: string): T {
  if (v === undefined) throw new Error(`unknown operator '${id}'`);
  return v;
}

/** What the stages of one worker need for the exchange: connectors per keyBy. */
export interface ExchangeConnectors {
  readonly source: (keyBy: GraphNode & { kind: 'keyBy' }) => SourceConnector<unknown>;
  readonly sink: (keyBy: GraphNode & { kind: 'keyBy' }) => SinkConnector<unknown>;
}

/**
 * The graph of one stage, cut from a freshly built graph of the whole job (connectors are
 * single-use): the stage's operators, an exchange source before a keyBy head, an exchange sink
 * after each keyBy whose records leave.
 */
export function stageGraph(graph: Graph, plan: StagePlan, exchange: ExchangeConnectors): Graph {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const nodes: GraphNode[] = [];
  const head = plan.head;
  for (const id of plan.nodes) {
    const n = must(byId.get(id), id);
    if (head.kind === 'exchange' && id === head.keyBy && n.kind === 'keyBy') {
      const source = `${id}${EXCHANGE_SUFFIX}`;
      // The exchange carries event time in band: the source adds no out-of-orderness of its own.
      nodes.push({
        id: source,
        kind: 'source',
        inputs: [],
        source: exchange.source(n),
        watermarks: { maxOutOfOrdernessMs: 0 },
      });
      nodes.push({ ...n, inputs: [{ from: source }] });
      continue;
    }
    nodes.push(n);
  }
  for (const k of plan.exchangesOut) {
    const n = must(byId.get(k), k);
    if (n.kind !== 'keyBy') continue;
    nodes.push({ id: `${k}${EXCHANGE_SUFFIX}`, kind: 'sink', inputs: [{ from: k }], sink: exchange.sink(n) });
  }
  return {
    name: `${graph.name}.${plan.name}`,
    maxParallelism: graph.maxParallelism,
    nodes,
    deadLetters: graph.deadLetters,
  };
}
