// The operator's own HTTP: liveness, readiness and Prometheus metrics.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface HttpDeps {
  registry: Registry;
  /** Process alive and its informers not wedged. */
  healthy: () => boolean;
  /** Caches synced and (with leader election) either leading or standing by. */
  ready: () => boolean;
}

const statusSchema = {
  response: {
    200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] },
    503: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] },
  },
} as const;

export function buildApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', { schema: statusSchema }, (_req, reply) =>
    deps.healthy() ? reply.send({ status: 'ok' }) : reply.code(503).send({ status: 'unhealthy' }),
  );
  app.get('/readyz', { schema: statusSchema }, (_req, reply) =>
    deps.ready() ? reply.send({ status: 'ok' }) : reply.code(503).send({ status: 'not ready' }),
  );
  app.get('/metrics', async (_req, reply) => {
    const body = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(body);
  });
  return app;
}
