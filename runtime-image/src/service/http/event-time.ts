import type { FastifyPluginCallback } from 'fastify';
import type { ControlPort } from '../control.ts';
import { contractRoute } from './schemas.ts';

export const eventTimeRoutes: FastifyPluginCallback<{ control: ControlPort }> = (app, o, done) => {
  app.route({ ...contractRoute('getEventTime'), handler: (_req, reply) => reply.send(o.control.eventTime()) });
  done();
};
