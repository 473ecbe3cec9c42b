import type { FastifyPluginCallback } from 'fastify';
import type { WorkerReport } from '../../api/contract.ts';
import type { ControlPort } from '../control.ts';
import { contractRoute } from './schemas.ts';

/** Between the coordinator and its workers (same token): heartbeats carry reports one way and wishes back. */
export const internalRoutes: FastifyPluginCallback<{ control: ControlPort }> = (app, o, done) => {
  app.route({
    ...contractRoute('workerHeartbeat'),
    handler: async (req, reply) => reply.send(await o.control.heartbeat(req.body as WorkerReport)),
  });
  done();
};
