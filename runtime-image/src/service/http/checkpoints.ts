import type { FastifyPluginCallback } from 'fastify';
import type { ControlPort } from '../control.ts';
import { contractRoute } from './schemas.ts';

export const checkpointRoutes: FastifyPluginCallback<{ control: ControlPort }> = (app, o, done) => {
  app.route({ ...contractRoute('getCheckpoints'), handler: (_req, reply) => reply.send(o.control.checkpoints()) });
  done();
};
