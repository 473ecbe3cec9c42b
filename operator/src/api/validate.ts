// In-code validation of StreamApplications with the same schema and CEL rules the API server enforces,
// plus what the API server cannot see (unknown fields are errors here, as with `kubectl --validate=strict`).
import { parse as parseCel } from '@marcbachmann/cel-js';
import { validatePipeline } from '@weir/runtime';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvFormatsModule from 'ajv-formats';
import { PATTERN_MEANINGS, StreamApplicationSchema } from './schema.ts';
import { isRecord, joinPath, mapSchema, walkSchema, withoutDefaultedRequired, type JsonSchema } from './schema-walk.ts';
import type { StreamApplication } from './types.ts';

export interface FieldError {
  /** e.g. `spec.upgrade.mode` */
  readonly path: string;
  readonly message: string;
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export const formatErrors = (errors: readonly FieldError[]): string =>
  errors.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)).join('; ');

const K8S_KEYWORDS = [
  'x-kubernetes-validations',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
];

/** The plain JSON Schema of a StreamApplication (TypeBox's symbols dropped, defaulted fields not required). */
export const STREAM_APPLICATION_JSON_SCHEMA: JsonSchema = mapSchema(
  JSON.parse(JSON.stringify(StreamApplicationSchema)) as JsonSchema,
  withoutDefaultedRequired,
);

// Objects with declared properties reject unknown ones in code; the API server would silently prune them.
const closeObjects = (schema: JsonSchema): JsonSchema =>
  schema.type === 'object' &&
  schema.properties &&
  Object.keys(schema.properties).length > 0 &&
  schema.additionalProperties === undefined &&
  !schema['x-kubernetes-preserve-unknown-fields']
    ? { ...schema, additionalProperties: false }
    : schema;

// CommonJS: under nodenext the default import is `module.exports`, whose `default` is the plugin.
const addFormats = ajvFormatsModule.default;

let compiled: ValidateFunction | undefined;
const schemaValidator = (): ValidateFunction => {
  if (!compiled) {
    const ajv = new Ajv({
      allErrors: true,
      verbose: true,
      useDefaults: true,
      strictTypes: false,
      keywords: K8S_KEYWORDS,
    });
    addFormats(ajv, ['date-time']);
    ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
    compiled = ajv.compile(mapSchema(STREAM_APPLICATION_JSON_SCHEMA, closeObjects));
  }
  return compiled;
};

const pathOf = (instancePath: string): string =>
  instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<string>((path, s) => joinPath(path, /^\d+$/.test(s) ? Number(s) : s), '');

/** Turns ajv's errors into one message per problem, in words a person understands. */
export const describeSchemaErrors = (errors: readonly ErrorObject[]): FieldError[] => {
  // Branch failures of an int-or-string `anyOf` are summarised by the anyOf error itself.
  const relevant = errors.filter((e) => !/\/anyOf\/\d+\//.test(e.schemaPath));
  const described = relevant.map((e): FieldError => {
    const path = pathOf(e.instancePath);
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required':
        return { path: joinPath(path, String(p.missingProperty)), message: 'required field is missing' };
      case 'additionalProperties':
        return {
          path: joinPath(path, String(p.additionalProperty)),
          message: 'unknown field (check its spelling and nesting)',
        };
      case 'enum':
        return {
          path,
          message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(e.data)}`,
        };
      case 'anyOf':
        return { path, message: `must be an integer or a quantity such as 500m or 2Gi, got ${JSON.stringify(e.data)}` };
      case 'pattern': {
        const pattern = String(p.pattern);
        return {
          path,
          message: `must be ${PATTERN_MEANINGS[pattern] ?? `of the form ${pattern}`}, got ${JSON.stringify(e.data)}`,
        };
      }
      case 'type':
        return { path, message: `must be of type ${String(p.type)}, got ${JSON.stringify(e.data)}` };
      default:
        return {
          path,
          message: `${e.message ?? 'is invalid'}${e.keyword === 'format' ? '' : `, got ${JSON.stringify(e.data)}`}`,
        };
    }
  });
  const seen = new Set<string>();
  return described.filter((d) => !seen.has(`${d.path}\0${d.message}`) && seen.add(`${d.path}\0${d.message}`));
};

// CEL sees integers as int (BigInt in cel-js), as the API server does.
const toCelValue = (schema: JsonSchema, value: unknown): unknown => {
  if (schema.type === 'integer' && typeof value === 'number') return BigInt(value);
  if (Array.isArray(value)) return (value as unknown[]).map((v) => (schema.items ? toCelValue(schema.items, v) : v));
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        const sub =
          schema.properties?.[k] ?? (isRecord(schema.additionalProperties) ? schema.additionalProperties : undefined);
        return [k, sub ? toCelValue(sub, v) : v];
      }),
    );
  }
  return value;
};

const celPrograms = new Map<string, ReturnType<typeof parseCel>>();
const celProgram = (rule: string) => {
  let program = celPrograms.get(rule);
  if (!program) {
    program = parseCel(rule);
    celPrograms.set(rule, program);
  }
  return program;
};

const valueAt = (root: unknown, path: string): { found: boolean; value: unknown } => {
  let current: unknown = root;
  for (const segment of path === '' ? [] : path.split('.')) {
    if (!isRecord(current) || !(segment in current)) return { found: false, value: undefined };
    current = current[segment];
  }
  return { found: true, value: current };
};

/** Evaluates every `x-kubernetes-validations` rule that applies to `value` (and, for transition rules, `old`). */
export const evaluateCelRules = (schema: JsonSchema, value: unknown, old?: unknown): FieldError[] => {
  const errors: FieldError[] = [];
  for (const node of walkSchema(schema, value)) {
    for (const { rule, message } of node.schema['x-kubernetes-validations'] ?? []) {
      const isTransition = /\boldSelf\b/.test(rule);
      // Transition rules only apply to updates, where the old object has the field; list items are not correlated.
      const previous =
        isTransition && !node.path.includes('[') ? valueAt(old, node.path) : { found: false, value: undefined };
      if (isTransition && !previous.found) continue;
      let passed: unknown;
      try {
        passed = celProgram(rule)({
          self: toCelValue(node.schema, node.value),
          ...(isTransition ? { oldSelf: toCelValue(node.schema, previous.value) } : {}),
        });
      } catch (error) {
        errors.push({ path: node.path, message: `${message} (rule could not be evaluated: ${String(error)})` });
        continue;
      }
      if (passed !== true) errors.push({ path: node.path, message });
    }
  }
  return errors;
};

// The API server only knows spec.pipeline is an object; the runtime's own schema and expression checks judge it.
const pipelineProblems = (pipeline: unknown): FieldError[] => {
  const result = validatePipeline(pipeline);
  return result.ok
    ? []
    : result.errors.map((e) => ({
        path: e.field === '(root)' ? 'spec.pipeline' : joinPath('spec.pipeline', e.field),
        message: e.message,
      }));
};

/**
 * Validates a StreamApplication the way the API server would (schema, defaults, CEL rules; `old` for updates),
 * and more strictly: unknown fields are errors.
 * Returns the object with defaults applied; the input is not modified.
 */
export const validateStreamApplication = (obj: unknown, old?: unknown): ValidationResult<StreamApplication> => {
  const value: unknown = structuredClone(obj);
  const validate = schemaValidator();
  if (!validate(value)) return { ok: false, errors: describeSchemaErrors(validate.errors ?? []) };
  // The API server compares against the stored object, which has its defaults; so does this.
  const stored: unknown = old === undefined ? undefined : structuredClone(old);
  if (stored !== undefined) validate(stored);
  const celErrors = evaluateCelRules(STREAM_APPLICATION_JSON_SCHEMA, value, stored);
  if (celErrors.length > 0) return { ok: false, errors: celErrors };
  const app = value as StreamApplication;
  const pipelineErrors = app.spec.pipeline === undefined ? [] : pipelineProblems(app.spec.pipeline);
  if (pipelineErrors.length > 0) return { ok: false, errors: pipelineErrors };
  return { ok: true, value: app };
};
