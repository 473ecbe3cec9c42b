// Walks a JSON Schema alongside a value: the shared traversal behind CEL evaluation and CRD shaping.

export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  required?: string[];
  default?: unknown;
  anyOf?: JsonSchema[];
  'x-kubernetes-validations'?: readonly { rule: string; message: string }[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [keyword: string]: unknown;
}

/** A field path the way Kubernetes prints it: `spec.kafka.bootstrapServers[0]`. */
export const joinPath = (parent: string, segment: string | number): string =>
  typeof segment === 'number' ? `${parent}[${segment}]` : parent === '' ? segment : `${parent}.${segment}`;

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every (schema, value, path) pair below `schema`, where the value is present. */
export function* walkSchema(
  schema: JsonSchema,
  value: unknown,
  path = '',
): Generator<{ schema: JsonSchema; value: unknown; path: string }> {
  yield { schema, value, path };
  if (Array.isArray(value) && schema.items) {
    for (const [i, item] of value.entries()) yield* walkSchema(schema.items, item, joinPath(path, i));
    return;
  }
  if (!isRecord(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const sub =
      schema.properties?.[key] ?? (isRecord(schema.additionalProperties) ? schema.additionalProperties : undefined);
    if (sub) yield* walkSchema(sub, child, joinPath(path, key));
  }
}

/** A deep copy of a schema with `transform` applied to every sub-schema, children first. */
export function mapSchema(schema: JsonSchema, transform: (s: JsonSchema) => JsonSchema): JsonSchema {
  const copy: JsonSchema = { ...schema };
  if (schema.properties) {
    copy.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, s]) => [k, mapSchema(s, transform)]),
    );
  }
  if (schema.items) copy.items = mapSchema(schema.items, transform);
  if (isRecord(schema.additionalProperties)) {
    copy.additionalProperties = mapSchema(schema.additionalProperties, transform);
  }
  if (schema.anyOf) copy.anyOf = schema.anyOf.map((s) => mapSchema(s, transform));
  return transform(copy);
}

/** Fields with a default are filled in by the API server before validation, so they are never required of users. */
export const withoutDefaultedRequired = (schema: JsonSchema): JsonSchema => {
  if (!schema.required || !schema.properties) return schema;
  const required = schema.required.filter((name) => schema.properties?.[name]?.default === undefined);
  const { required: _dropped, ...rest } = schema;
  return required.length > 0 ? { ...rest, required } : rest;
};
