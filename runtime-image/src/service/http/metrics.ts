import type { FastifyPluginCallback } from 'fastify';
import type { Registry } from 'prom-client';
import { contractRoute } from './schemas.ts';

export const metricsRoutes: FastifyPluginCallback<{ registry: Registry }> = (app, o, done) => {
  app.route({
    ...contractRoute('getMetrics'),
    handler: async (_req, reply) => reply.type(o.registry.contentType).send(await o.registry.metrics()),
  });
  done();
};
