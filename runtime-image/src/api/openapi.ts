import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface OpenApiOperation {
  operationId: string;
  tags?: string[];
  requestBody?: { content: { 'application/json': { schema: unknown } } };
  responses: Record<string, { content?: { 'application/json': { schema: unknown } } } | { $ref: string }>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, unknown> };
}

let cached: OpenApiDocument | undefined;

/** The runtime control API (openapi.yaml next to this file): what the coordinator serves and the operator calls. */
export function runtimeApiDocument(): OpenApiDocument {
  cached ??= parse(readFileSync(new URL('./openapi.yaml', import.meta.url), 'utf8')) as OpenApiDocument;
  return cached;
}

/** A JSON schema of the document with its component $refs inlined (for validators that do not resolve them). */
export function inlineRefs(schema: unknown, doc: OpenApiDocument = runtimeApiDocument()): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inlineRefs(s, doc));
  if (typeof schema !== 'object' || schema === null) return schema;
  const ref = (schema as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    if (target === undefined) throw new Error(`openapi.yaml: unresolved $ref ${ref}`);
    return inlineRefs(target, doc);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inlineRefs(v, doc)]));
}

/** "/v1/savepoints/{id}" → "/v1/savepoints/:id" (fastify's syntax). */
export function routePath(openApiPath: string): string {
  return openApiPath.replace(/\{(\w+)\}/g, ':$1');
}
