import type { FastifyPluginCallback } from 'fastify';
import { runtimeApiDocument } from '../../api/openapi.ts';
import { contractRoute } from './schemas.ts';

export const documentRoutes: FastifyPluginCallback = (app, _o, done) => {
  app.route({ ...contractRoute('getOpenApi'), handler: (_req, reply) => reply.send(runtimeApiDocument()) });
  done();
};
