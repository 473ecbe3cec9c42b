import type { FastifyPluginCallback } from 'fastify';
import type { ControlPort } from '../control.ts';
import { notFound } from '../errors.ts';
import { contractRoute } from './schemas.ts';

export const operatorRoutes: FastifyPluginCallback<{ control: ControlPort }> = (app, o, done) => {
  app.route({ ...contractRoute('getOperators'), handler: (_req, reply) => reply.send(o.control.operators()) });
  app.route({
    ...contractRoute('getPreview'),
    handler: (req, reply) => {
      const { operatorId } = req.params as { operatorId: string };
      const { limit } = req.query as { limit?: number };
      const p = o.control.preview(operatorId, limit ?? 100);
      if (p === undefined) throw notFound(`no operator '${operatorId}'`);
      return reply.send(p);
    },
  });
  done();
};
