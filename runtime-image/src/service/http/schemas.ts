import type { FastifySchema } from 'fastify';
import { inlineRefs, routePath, runtimeApiDocument, type OpenApiOperation } from '../../api/openapi.ts';

export interface ContractRoute {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly schema: FastifySchema;
}

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required?: boolean;
  schema: unknown;
}

/** Method, fastify URL and schemas (body, params, query, responses) of one operation of the contract. */
export function contractRoute(operationId: string): ContractRoute {
  const doc = runtimeApiDocument();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods) as [string, OpenApiOperation & { parameters?: Parameter[] }][]) {
      if (op.operationId !== operationId) continue;
      const response: Record<string, unknown> = {};
      for (const [code, r] of Object.entries(op.responses)) {
        const schema = 'content' in r ? r.content?.['application/json']?.schema : undefined;
        if (schema !== undefined) response[code] = inlineRefs(schema);
      }
      const params = (op.parameters ?? []).filter((p) => p.in === 'path');
      const query = (op.parameters ?? []).filter((p) => p.in === 'query');
      const object = (ps: Parameter[]) => ({
        type: 'object',
        properties: Object.fromEntries(ps.map((p) => [p.name, inlineRefs(p.schema)])),
        required: ps.filter((p) => p.required === true).map((p) => p.name),
      });
      const body = op.requestBody?.content['application/json'].schema;
      return {
        method: method.toUpperCase() as 'GET' | 'POST',
        url: routePath(path),
        schema: {
          ...(body === undefined ? {} : { body: inlineRefs(body) }),
          ...(params.length === 0 ? {} : { params: object(params) }),
          ...(query.length === 0 ? {} : { querystring: object(query) }),
          response,
        },
      };
    }
  }
  throw new Error(`openapi.yaml has no operation '${operationId}'`);
}
