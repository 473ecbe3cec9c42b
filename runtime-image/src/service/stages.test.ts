import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SinkConnector, SourceConnector } from '../connectors/contract.ts';
import type { Graph, GraphNode } from '../graph/graph.ts';
import { EXCHANGE_SUFFIX, planStages, stageGraph } from './stages.ts';

const src = {} as SourceConnector<unknown>;
const sink = {} as SinkConnector<unknown>;
const node = (id: string, kind: GraphNode['kind'], inputs: string[]): GraphNode =>
  ({
    id,
    kind,
    inputs: inputs.map((from) => ({ from })),
    fn: (v: unknown) => v,
    source: src,
    sink,
    watermarks: { maxOutOfOrdernessMs: 0 },
  }) as unknown as GraphNode;

function graph(nodes: GraphNode[]): Graph {
  return { name: 'g', maxParallelism: 8, nodes };
}

describe('stages: the job cut at its keyBys', () => {
  const revenue = graph([
    node('ads', 'source', []),
    node('clean', 'map', ['ads']),
    node('by-campaign', 'keyBy', ['clean']),
    node('per-minute', 'window', ['by-campaign']),
    node('by-region', 'keyBy', ['per-minute']),
    node('per-region', 'process', ['by-region']),
    node('out', 'sink', ['per-region']),
  ]);

  it('one stage per keyBy after the sources, in data order; each keyBy ends the stage before it', () => {
    const plans = planStages(revenue);
    assert.deepEqual(
      plans.map((p) => [p.name, p.nodes, p.exchangesOut]),
      [
        ['sources', ['ads', 'clean', 'by-campaign'], ['by-campaign']],
        ['by-by-campaign', ['by-campaign', 'per-minute', 'by-region'], ['by-region']],
        ['by-by-region', ['by-region', 'per-region', 'out'], []],
      ],
    );
  });

  it('a stage graph: an exchange source before its keyBy, an exchange sink after each keyBy that leaves', () => {
    const second = planStages(revenue)[1];
    assert.ok(second !== undefined);
    const made: string[] = [];
    const g = stageGraph(revenue, second, {
      source: (k) => {
        made.push(`source:${k.id}`);
        return src;
      },
      sink: (k) => {
        made.push(`sink:${k.id}`);
        return sink;
      },
    });
    assert.equal(g.name, 'g.by-by-campaign');
    assert.deepEqual(
      g.nodes.map((n) => [n.id, n.kind, n.inputs.map((e) => e.from)]),
      [
        [`by-campaign${EXCHANGE_SUFFIX}`, 'source', []],
        ['by-campaign', 'keyBy', [`by-campaign${EXCHANGE_SUFFIX}`]],
        ['per-minute', 'window', ['by-campaign']],
        ['by-region', 'keyBy', ['per-minute']],
        [`by-region${EXCHANGE_SUFFIX}`, 'sink', ['by-region']],
      ],
    );
    assert.deepEqual(made, ['source:by-campaign', 'sink:by-region']);
  });

  it('a job without keyBy is one stage', () => {
    const plans = planStages(graph([node('a', 'source', []), node('m', 'map', ['a']), node('o', 'sink', ['m'])]));
    assert.deepEqual(
      plans.map((p) => p.name),
      ['sources'],
    );
  });

  it('an operator reading from two stages is refused, naming it', () => {
    const g = graph([
      node('a', 'source', []),
      node('k1', 'keyBy', ['a']),
      node('k2', 'keyBy', ['a']),
      node('both', 'map', ['k1', 'k2']),
    ]);
    assert.throws(() => planStages(g), /operator 'both' reads from operators in different stages/);
  });
});
