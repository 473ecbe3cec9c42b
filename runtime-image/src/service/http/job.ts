import type { FastifyPluginCallback } from 'fastify';
import type { ControlPort } from '../control.ts';
import { contractRoute } from './schemas.ts';

export const jobRoutes: FastifyPluginCallback<{ control: ControlPort }> = (app, o, done) => {
  app.route({ ...contractRoute('getJob'), handler: (_req, reply) => reply.send(o.control.job()) });
  app.route({ ...contractRoute('cancelJob'), handler: (_req, reply) => reply.code(202).send(o.control.cancelJob()) });
  done();
};
