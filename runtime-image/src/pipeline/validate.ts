import { Ajv } from 'ajv';
import { parseDocument, LineCounter, isNode } from 'yaml';
import { compileExpression } from './expressions.ts';
import { PipelineSpec, SOURCE_TYPES, STEP_KINDS, pipelineJsonSchema } from './schema.ts';

export type FieldPath = readonly (string | number)[];

export interface PipelineError {
  /** Where: `steps[2].window.tumbling`. */
  readonly field: string;
  readonly path: FieldPath;
  readonly message: string;
  /** 1-based, when the pipeline came from YAML text. */
  readonly line?: number | undefined;
  readonly column?: number | undefined;
}

export type PipelineValidation =
  | { readonly ok: true; readonly pipeline: PipelineSpec }
  | { readonly ok: false; readonly errors: readonly PipelineError[] };

const ajv = new Ajv({ allErrors: true, strict: false });
const schemaCheck = ajv.compile(pipelineJsonSchema);

export function formatPath(path: FieldPath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s === '' ? '(root)' : s;
}

/** ajv reports JSON pointers (`/steps/0/window`); array indexes become numbers. */
function parsePointer(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((t) => (/^(0|[1-9][0-9]*)$/.test(t) ? Number(t) : t));
}

const err = (path: FieldPath, message: string): PipelineError => ({ field: formatPath(path), path, message });

/** The checks a schema cannot express: one kind per step, inputs that exist, expressions that parse. */
function semanticErrors(p: PipelineSpec): PipelineError[] {
  const errors: PipelineError[] = [];
  const sourceKinds = SOURCE_TYPES.filter((k) => p.source[k] !== undefined);
  if (sourceKinds.length !== 1)
    errors.push(
      err(
        ['source'],
        `a source needs exactly one of ${SOURCE_TYPES.join(', ')} (has ${sourceKinds.length === 0 ? 'none' : sourceKinds.join(', ')})`,
      ),
    );
  const cel = (path: FieldPath, source: string | undefined): void => {
    if (source === undefined) return;
    try {
      compileExpression(source);
    } catch (e) {
      errors.push(err(path, (e as Error).message));
    }
  };
  cel(['source', 'timestamp'], p.source.timestamp);
  const kafkaSinks = p.steps.filter((s) => s.sink?.kafka !== undefined && s.sink.kafka.delivery !== 'at-least-once');
  if (p.source.kafka?.deadLetterTopic !== undefined && p.source.kafka.onError !== 'fail' && kafkaSinks.length === 0)
    errors.push(
      err(
        ['source', 'kafka', 'deadLetterTopic'],
        'dead letters are written in the transaction of the pipeline’s exactly-once Kafka sink: add a sink.kafka step',
      ),
    );
  p.steps.forEach((s, i) => {
    cel(['steps', i, 'sink', 'kafka', 'key'], s.sink?.kafka?.key);
  });
  const ids = new Map<string, readonly string[]>([[p.source.id, []]]);
  p.steps.forEach((step, i) => {
    const kinds = STEP_KINDS.filter((k) => step[k] !== undefined);
    if (kinds.length !== 1) {
      errors.push(
        err(
          ['steps', i],
          `a step needs exactly one of ${STEP_KINDS.join(', ')} (has ${kinds.length === 0 ? 'none' : kinds.join(', ')})`,
        ),
      );
      return;
    }
    const kind = kinds[0];
    if (kind === undefined) return;
    if (step.input !== undefined) {
      const [from, port, ...extra] = step.input.split('.');
      const ports = ids.get(from ?? '');
      if (ports === undefined || extra.length > 0)
        errors.push(err(['steps', i, 'input'], `input '${step.input}' is not an earlier step id (or <id>.<port>)`));
      else if (port !== undefined && !ports.includes(port))
        errors.push(
          err(
            ['steps', i, 'input'],
            `step '${from ?? ''}' has no port '${port}' (ports: ${ports.join(', ') || 'none'})`,
          ),
        );
    } else if (i > 0 && p.steps[i - 1]?.sink !== undefined) {
      errors.push(err(['steps', i, 'input'], "the previous step is a sink: name this step's input"));
    }
    if (kind === 'lookup' && step.lookup !== undefined) {
      cel(['steps', i, 'lookup', 'key'], step.lookup.key);
      const tables = (p.tables ?? []).map((t) => t.id);
      if (!tables.includes(step.lookup.table))
        errors.push(
          err(
            ['steps', i, 'lookup', 'table'],
            `no table '${step.lookup.table}' (tables: ${tables.join(', ') || 'none'})`,
          ),
        );
    }
    if (kind === 'map' || kind === 'filter' || kind === 'flatMap' || kind === 'keyBy')
      cel(['steps', i, kind], step[kind]);
    if (kind === 'branch')
      for (const [name, expr] of Object.entries(step.branch ?? {})) cel(['steps', i, 'branch', name], expr);
    if (kind === 'window' && step.window !== undefined) {
      const w = step.window;
      const types = (['tumbling', 'sliding', 'session'] as const).filter((t) => w[t] !== undefined);
      if (types.length !== 1)
        errors.push(
          err(
            ['steps', i, 'window'],
            `a window needs exactly one of tumbling, sliding, session (has ${types.length === 0 ? 'none' : types.join(', ')})`,
          ),
        );
      for (const [name, agg] of Object.entries(w.aggregate)) {
        for (const [fn, expr] of Object.entries(agg))
          if (typeof expr === 'string') cel(['steps', i, 'window', 'aggregate', name, fn], expr);
      }
    }
    const ports = kind === 'branch' ? Object.keys(step.branch ?? {}) : kind === 'window' ? ['late'] : [];
    const id = step.id ?? `step-${i}`;
    if (ids.has(id)) errors.push(err(['steps', i, 'id'], `id '${id}' is used twice`));
    ids.set(id, ports);
  });
  return errors;
}

/** Validates a pipeline object (YAML already parsed, or a CRD's `spec.pipeline`). Errors name the field. */
export function validatePipeline(value: unknown): PipelineValidation {
  if (!schemaCheck(value)) {
    const errors = (schemaCheck.errors ?? []).map((e) => {
      const path = parsePointer(e.instancePath);
      const params = e.params as { additionalProperty?: string };
      if (e.keyword === 'additionalProperties' && params.additionalProperty !== undefined) {
        return err([...path, params.additionalProperty], `unknown field '${params.additionalProperty}'`);
      }
      return err(path, e.message ?? 'is invalid');
    });
    // anyOf reports one error per branch: keep one message per field, the most specific first
    const seen = new Set<string>();
    return {
      ok: false,
      errors: errors.filter((e) => {
        const k = `${e.field}|${e.message}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      }),
    };
  }
  const pipeline = value as PipelineSpec;
  const errors = semanticErrors(pipeline);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, pipeline };
}

/** Parses YAML text and validates it; every error carries the line (and column) of the field. */
export function parsePipelineYaml(text: string): PipelineValidation {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return {
          field: '(yaml)',
          path: [],
          message: e.message.split('\n')[0] ?? e.message,
          line: pos.line,
          column: pos.col,
        };
      }),
    };
  }
  const result = validatePipeline(doc.toJS());
  if (result.ok) return result;
  return {
    ok: false,
    errors: result.errors.map((e) => {
      // The deepest node that exists: an unknown field's key, else its nearest parent.
      for (let n = e.path.length; n >= 0; n--) {
        const prefix = e.path.slice(0, n);
        const node = prefix.length === 0 ? doc.contents : doc.getIn(prefix, true);
        let range = isNode(node) ? node.range : undefined;
        if (n === e.path.length && n > 0) {
          // point at the key rather than the value when we can
          const parent = n === 1 ? doc.contents : doc.getIn(prefix.slice(0, -1), true);
          if (parent !== null && typeof parent === 'object' && 'items' in parent) {
            const items = (parent as { items: unknown[] }).items;
            for (const item of items) {
              const key = (item as { key?: unknown }).key;
              if (isNode(key) && (key as { value?: unknown }).value === prefix.at(-1)) range = key.range;
            }
          }
        }
        if (range) {
          const pos = lineCounter.linePos(range[0]);
          return { ...e, line: pos.line, column: pos.col };
        }
      }
      return e;
    }),
  };
}

export function formatPipelineErrors(errors: readonly PipelineError[], file = 'pipeline'): string {
  return errors
    .map((e) => `${file}${e.line !== undefined ? `:${e.line}:${e.column ?? 1}` : ''}: ${e.field}: ${e.message}`)
    .join('\n');
}

export { PipelineSpec };
