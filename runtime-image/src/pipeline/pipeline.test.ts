import { test } from 'node:test';
import assert from 'node:assert/strict';
import { count, composite, sum } from '../graph/aggregates.ts';
import { PipelineBuilder, tumbling } from '../graph/builder.ts';
import type { Graph } from '../graph/graph.ts';
import type { WindowResult } from '../operators/window.ts';
import { startJob } from '../runtime/executor.ts';
import { collectingSink, collectionSource } from '../testing/collections.ts';
import { compilePipeline, parseDuration } from './compile.ts';
import { compileExpression } from './expressions.ts';
import { parsePipelineYaml, validatePipeline } from './validate.ts';
import { pipelineJsonSchema } from './schema.ts';
import type { SourceConnector } from '../connectors/contract.ts';

const good = `name: orders
source:
  id: gen
  generator: { seed: 1, keys: 3, eventsPerSplit: 100, startTs: 0 }
steps:
  - keyBy: e.campaign
  - id: per-second
    window:
      tumbling: 1s
      aggregate:
        n: { count: true }
  - sink: { console: {} }
`;

test('a valid YAML pipeline parses and compiles, with derived ids that are stable', () => {
  const r = parsePipelineYaml(good);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const a = compilePipeline(r.pipeline).graph;
  const b = compilePipeline(r.pipeline).graph;
  assert.deepEqual(
    a.nodes.map((n) => [n.id, n.kind]),
    b.nodes.map((n) => [n.id, n.kind]),
  );
  assert.equal(a.nodes[2]?.id, 'per-second');
  assert.match(a.nodes[1]?.id ?? '', /^keyBy-[0-9a-f]{8}$/);
});

test('schema errors name the field and the line', () => {
  const text = `name: orders
source:
  id: gen
  generator: { keys: 0 }
steps:
  - keyBy: e.campaign
  - window:
      tumbling: 1s
      agregate: {}
`;
  const r = parsePipelineYaml(text);
  assert.equal(r.ok, false);
  const byField = new Map(r.errors.map((e) => [e.field, e]));
  assert.equal(byField.get('source.generator.keys')?.line, 4);
  assert.equal(byField.get('steps[1].window.agregate')?.line, 9);
  assert.match(byField.get('steps[1].window.agregate')?.message ?? '', /unknown field 'agregate'/);
  assert.ok(byField.has('steps[1].window'), 'the missing aggregate is reported on the window');
});

test('semantic errors: one kind per step, known inputs, CEL that parses', () => {
  const r = validatePipeline({
    name: 'x',
    source: { id: 'gen', generator: {} },
    steps: [
      { keyBy: 'e.k', filter: 'true' },
      { map: 'e.(' },
      { input: 'nope', sink: { console: {} } },
      { id: 'b', branch: { big: 'e.n > 1.0' } },
      { input: 'b.small', sink: { console: {} } },
    ],
  });
  assert.equal(r.ok, false);
  const msgs = r.errors.map((e) => `${e.field}: ${e.message}`);
  assert.ok(
    msgs.some((m) => m.startsWith('steps[0]: a step needs exactly one of')),
    msgs.join('\n'),
  );
  assert.ok(
    msgs.some((m) => m.startsWith("steps[1].map: invalid CEL expression 'e.('")),
    msgs.join('\n'),
  );
  assert.ok(
    msgs.some((m) => m.startsWith("steps[2].input: input 'nope'")),
    msgs.join('\n'),
  );
  assert.ok(
    msgs.some((m) => m.startsWith("steps[4].input: step 'b' has no port 'small'")),
    msgs.join('\n'),
  );
});

test('YAML syntax errors carry the line', () => {
  const r = parsePipelineYaml('name: x\nsource: [\n');
  assert.equal(r.ok, false);
  assert.ok((r.errors[0]?.line ?? 0) >= 2);
});

test('CEL expressions: parsed once, safe, results as plain JS values', () => {
  const f = compileExpression('{"c": e.campaign, "n": 2, "big": e.amount > 10.0}');
  assert.deepEqual(f({ campaign: 'x', amount: 11 }), { c: 'x', n: 2, big: true });
  assert.throws(() => compileExpression('e.constructor.constructor("return process")()'), /invalid CEL expression/);
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.throws(() => parseDuration('1 minute'), /not a duration/);
});

test('the exported JSON Schema is plain JSON', () => {
  const s = pipelineJsonSchema as { type?: string; properties?: Record<string, unknown> };
  assert.equal(s.type, 'object');
  assert.ok(s.properties?.steps);
});

test('a YAML pipeline and the same pipeline built in TypeScript give identical results', async () => {
  const records = Array.from({ length: 400 }, (_, i) => ({
    value: { k: `k${i % 7}`, amount: i % 13, type: i % 3 === 0 ? 'sale' : 'click', ts: i * 10 },
    ts: i * 10,
  }));
  const source = (): SourceConnector<unknown> => collectionSource([{ id: 's', records }], { perPoll: 50 });
  const viaYaml = collectingSink<WindowResult<Record<string, number>>>();
  const compiled = compilePipeline({
    name: 'same',
    source: { id: 'src', generator: {}, watermarks: { maxOutOfOrderness: 0 } },
    steps: [
      { filter: 'e.type == "sale" || e.amount > 5.0' },
      { keyBy: 'e.k' },
      { id: 'w', window: { tumbling: '1s', aggregate: { n: { count: true }, total: { sum: 'e.amount' } } } },
      { id: 'out', sink: { discard: {} } },
    ],
  }).graph;
  // swap the connectors for in-memory ones (same ids and operators otherwise)
  const yamlGraph: Graph = {
    ...compiled,
    nodes: compiled.nodes.map((n) =>
      n.kind === 'source' ? { ...n, source: source() } : n.kind === 'sink' ? { ...n, sink: viaYaml } : n,
    ),
  };
  const viaCode = collectingSink<WindowResult<Record<string, number>>>();
  const b = new PipelineBuilder('same');
  b.source('src', source() as SourceConnector<{ k: string; amount: number; type: string }>)
    .filter((e) => e.type === 'sale' || e.amount > 5)
    .keyBy((e) => e.k)
    .window(tumbling(1000))
    .aggregate(composite({ n: count(), total: sum((e: { amount: number }) => e.amount) }), { id: 'w' })
    .sink(viaCode, { id: 'out' });
  await (
    await startJob(yamlGraph)
  ).done;
  await (
    await startJob(b.build())
  ).done;
  assert.ok(viaCode.committed.length > 20);
  assert.deepEqual(viaYaml.committed, viaCode.committed);
});

test('YAML branch and flatMap steps route records by port', async () => {
  const records = [1, 2, 3, 4, 5].map((n) => ({ value: { n, tags: ['x', 'y'].slice(0, (n % 2) + 1) }, ts: n }));
  const compiled = compilePipeline({
    name: 'routes',
    source: { id: 'src', generator: {} },
    steps: [
      { id: 'split', branch: { even: 'int(e.n) % 2 == 0' } },
      { id: 'tags', input: 'split.even', flatMap: 'e.tags' },
      { id: 'even-out', sink: { discard: {} } },
      { id: 'odd-out', input: 'split', sink: { discard: {} } },
    ],
  }).graph;
  const even = collectingSink<unknown>();
  const odd = collectingSink<unknown>();
  const graph: Graph = {
    ...compiled,
    nodes: compiled.nodes.map((n) =>
      n.kind === 'source'
        ? { ...n, source: collectionSource([{ id: 's', records }]) }
        : n.kind === 'sink'
          ? { ...n, sink: n.id === 'even-out' ? even : odd }
          : n,
    ),
  };
  await (
    await startJob(graph)
  ).done;
  assert.deepEqual(even.committed, ['x', 'x']);
  assert.deepEqual(
    odd.committed.map((v) => (v as { n: number }).n),
    [1, 3, 5],
  );
});

test('Kafka blocks: errors name the field and the line', () => {
  const text = `name: kafka-errors
source:
  id: ads
  kafka: { topic: ads, startFrom: yesterday, deadLetterTopic: dlq }
tables:
  - id: campaigns
    kafka: { topic: campaigns, format: xml }
steps:
  - lookup: { table: nope, key: e.campaign, as: info }
  - sink: { kafka: { topic: out, delivery: at-least-once, key: 'e.(' } }
`;
  const r = parsePipelineYaml(text);
  assert.equal(r.ok, false);
  const byField = new Map(r.errors.map((e) => [e.field, e]));
  assert.equal(byField.get('source.kafka.startFrom')?.line, 4);
  assert.equal(byField.get('tables[0].kafka.format')?.line, 7);
  const fixed = parsePipelineYaml(
    text.replace('startFrom: yesterday', 'startFrom: earliest').replace('format: xml', 'format: json'),
  );
  assert.equal(fixed.ok, false);
  const msgs = fixed.errors.map((e) => `${e.field}: ${e.message}`);
  assert.ok(msgs.includes("steps[0].lookup.table: no table 'nope' (tables: campaigns)"), msgs.join('\n'));
  assert.ok(
    msgs.some((m) => m.startsWith("steps[1].sink.kafka.key: invalid CEL expression 'e.('")),
    msgs.join('\n'),
  );
  assert.ok(
    msgs.some((m) => m.startsWith('source.kafka.deadLetterTopic: dead letters are written in the transaction')),
    msgs.join('\n'),
  );
});
