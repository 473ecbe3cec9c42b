import { eventTimeOf } from '../connectors/file-source.ts';
import {
  KafkaClients,
  deadLettersFor,
  sinkFor,
  sourceFor,
  tableFor,
  type ConnectorBuildContext,
} from './connectors.ts';
import { DEFAULT_MAX_PARALLELISM } from '../core/key-groups.ts';
import type { WindowSpec } from '../core/windows.ts';
import { avg, composite, count, max, min, sum, type AggregateFunction } from '../graph/aggregates.ts';
import { validateGraph, type Edge, type Graph, type GraphNode } from '../graph/graph.ts';
import { stableHash } from '../core/key-groups.ts';
import { asBoolean, asNumber, compileExpression } from './expressions.ts';
import { STEP_KINDS, type StepSpec } from './schema.ts';
import { must } from '../core/must.ts';
import { formatPipelineErrors, validatePipeline } from './validate.ts';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/.exec(v);
  if (m?.[1] === undefined || m[2] === undefined) throw new Error(`'${v}' is not a duration (e.g. 500ms, 30s, 5m, 2h)`);
  return Number(m[1]) * (UNITS[m[2]] ?? 1);
}

export interface CompiledPipeline {
  readonly graph: Graph;
  readonly parallelism: number | undefined;
  readonly checkpointIntervalMs: number | undefined;
  readonly checkpointRetain: number | undefined;
}

export interface CompileOptions {
  /** Relative paths in the pipeline (files, sink dirs) resolve against this directory. */
  readonly baseDir?: string | undefined;
  /** The job's Kafka clients (tests inject their own port). */
  readonly kafka?: KafkaClients | undefined;
}

function aggregateFor(
  spec: NonNullable<StepSpec['window']>['aggregate'],
): AggregateFunction<unknown, unknown, unknown> {
  const parts: Record<string, AggregateFunction<unknown, unknown, unknown>> = {};
  for (const [name, a] of Object.entries(spec)) {
    const num = (src: string): ((e: unknown) => number) => asNumber(compileExpression(src), src);
    let f: AggregateFunction<unknown, unknown, unknown>;
    if (a.count !== undefined) {
      if (typeof a.count === 'boolean') f = count();
      else {
        const when = asBoolean(compileExpression(a.count), a.count);
        f = sum((e) => (when(e) ? 1 : 0));
      }
    } else if (a.sum !== undefined) f = sum(num(a.sum));
    else if (a.min !== undefined) f = min(num(a.min));
    else if (a.max !== undefined) f = max(num(a.max));
    else if (a.avg !== undefined) f = avg(num(a.avg));
    else throw new Error(`aggregate '${name}' has no function`);
    parts[name] = f;
  }
  return composite(parts);
}

function windowFor(w: NonNullable<StepSpec['window']>): WindowSpec {
  if (w.tumbling !== undefined) return { type: 'tumbling', sizeMs: parseDuration(w.tumbling) };
  if (w.sliding !== undefined)
    return { type: 'sliding', sizeMs: parseDuration(w.sliding.size), slideMs: parseDuration(w.sliding.slide) };
  if (w.session !== undefined)
    return { type: 'session', gapMs: parseDuration(w.session.gap), maxLengthMs: parseDuration(w.session.maxLength) };
  throw new Error('a window needs tumbling, sliding or session');
}

/** Compiles a pipeline document to the same graph the TypeScript builder makes. */
export function compilePipeline(value: unknown, options: CompileOptions = {}): CompiledPipeline {
  const v = validatePipeline(value);
  if (!v.ok) throw new Error(`invalid pipeline:\n${formatPipelineErrors(v.errors)}`);
  const p = v.pipeline;
  const checkpointIntervalMs =
    p.checkpoints?.interval === undefined ? undefined : parseDuration(p.checkpoints.interval);
  const kafka = options.kafka ?? new KafkaClients();
  const deadLetters = deadLettersFor(p.source, kafka);
  const connectors: ConnectorBuildContext = {
    baseDir: options.baseDir ?? process.cwd(),
    checkpointIntervalMs,
    kafka,
    deadLetters,
  };
  const nodes: GraphNode[] = [];
  const src = p.source;
  const ts = src.timestamp !== undefined ? asNumber(compileExpression(src.timestamp), src.timestamp) : undefined;
  const field = src.files?.timestampField;
  nodes.push({
    kind: 'source',
    id: src.id,
    inputs: [],
    source: sourceFor(src, connectors, parseDuration),
    watermarks: {
      maxOutOfOrdernessMs:
        src.watermarks?.maxOutOfOrderness === undefined ? 0 : parseDuration(src.watermarks.maxOutOfOrderness),
      idleTimeoutMs: src.watermarks?.idleTimeout === undefined ? undefined : parseDuration(src.watermarks.idleTimeout),
      maxDriftMs: src.watermarks?.maxDrift === undefined ? undefined : parseDuration(src.watermarks.maxDrift),
    },
    timestamp: ts ?? (field !== undefined ? (e: unknown) => eventTimeOf(e, field, `source '${src.id}'`) : undefined),
  });
  let previous: Edge = { from: src.id };
  const stepIds = new Map<string, string>([[src.id, src.id]]);
  p.steps.forEach((step, i) => {
    const stepKey = step.id ?? `step-${i}`;
    let input = previous;
    if (step.input !== undefined) {
      const [from = '', port] = step.input.split('.');
      input = { from: stepIds.get(from) ?? from, port };
    }
    // Steps without an id get one derived from their input and kind: stable while the path to them is.
    const kind = STEP_KINDS.find((k) => step[k] !== undefined) ?? 'map';
    const id =
      step.id ??
      `${kind}-${stableHash(`${input.from}:${input.port ?? ''}>${kind}`)
        .toString(16)
        .padStart(8, '0')}`;
    stepIds.set(stepKey, id);
    const base = { id, inputs: [input] };
    if (step.map !== undefined) nodes.push({ ...base, kind: 'map', fn: compileExpression(step.map) });
    else if (step.filter !== undefined)
      nodes.push({ ...base, kind: 'filter', fn: asBoolean(compileExpression(step.filter), step.filter) });
    else if (step.flatMap !== undefined) {
      const f = compileExpression(step.flatMap);
      const src2 = step.flatMap;
      nodes.push({
        ...base,
        kind: 'flatMap',
        fn: (e: unknown) => {
          const r = f(e);
          if (!Array.isArray(r)) throw new TypeError(`CEL expression '${src2}' must give a list`);
          return r as unknown[];
        },
      });
    } else if (step.branch !== undefined) {
      nodes.push({
        ...base,
        kind: 'branch',
        routes: Object.entries(step.branch).map(([name, expr]) => ({
          name,
          when: asBoolean(compileExpression(expr), expr),
        })),
      });
    } else if (step.keyBy !== undefined) {
      const f = compileExpression(step.keyBy);
      const src2 = step.keyBy;
      nodes.push({
        ...base,
        kind: 'keyBy',
        fn: (e: unknown) => {
          const k = f(e);
          if (typeof k !== 'string' && typeof k !== 'number')
            throw new TypeError(`keyBy '${src2}' must give a string or number`);
          return k;
        },
      });
    } else if (step.window !== undefined) {
      const w = step.window;
      nodes.push({
        ...base,
        kind: 'window',
        window: windowFor(w),
        aggregate: aggregateFor(w.aggregate),
        lateness: {
          allowedLatenessMs: w.allowedLateness === undefined ? undefined : parseDuration(w.allowedLateness),
          tooLate: w.tooLate,
        },
      });
    } else if (step.lookup !== undefined) {
      const l = step.lookup;
      const table = must(
        p.tables?.find((t) => t.id === l.table),
        `table '${l.table}'`,
      );
      nodes.push({
        ...base,
        kind: 'lookup',
        table: tableFor(table, connectors),
        key: compileExpression(l.key),
        as: l.as,
      });
    } else if (step.sink !== undefined) {
      nodes.push({ ...base, kind: 'sink', sink: sinkFor(step.sink, connectors, parseDuration) });
    }
    previous = { from: id };
  });
  const graph: Graph = {
    name: p.name,
    maxParallelism: p.maxParallelism ?? DEFAULT_MAX_PARALLELISM,
    nodes,
    deadLetters,
  };
  const problems = validateGraph(graph);
  if (problems.length > 0) throw new Error(`invalid pipeline '${p.name}':\n  - ${problems.join('\n  - ')}`);
  return {
    graph,
    parallelism: p.parallelism,
    checkpointIntervalMs,
    checkpointRetain: p.checkpoints?.retain,
  };
}
