import type { FastifyPluginCallback } from 'fastify';
import type { ControlPort } from '../control.ts';
import { contractRoute } from './schemas.ts';

export const workerRoutes: FastifyPluginCallback<{ control: ControlPort }> = (app, o, done) => {
  app.route({ ...contractRoute('getWorkers'), handler: (_req, reply) => reply.send(o.control.workers()) });
  done();
};
