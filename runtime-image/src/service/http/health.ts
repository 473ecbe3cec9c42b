import type { FastifyPluginCallback } from 'fastify';
import { contractRoute } from './schemas.ts';

export const healthRoutes: FastifyPluginCallback = (app, _o, done) => {
  app.route({ ...contractRoute('health'), handler: (_req, reply) => reply.send({ status: 'ok' }) });
  done();
};
