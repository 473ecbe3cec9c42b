import type { FastifyPluginCallback } from 'fastify';
import type { CompatibilityRequest, SavepointRequest } from '../../api/contract.ts';
import type { ControlPort } from '../control.ts';
import { notFound } from '../errors.ts';
import { contractRoute } from './schemas.ts';

export const savepointRoutes: FastifyPluginCallback<{ control: ControlPort }> = (app, o, done) => {
  const { control } = o;
  app.route({
    ...contractRoute('triggerSavepoint'),
    handler: async (req, reply) => reply.code(202).send(await control.triggerSavepoint(req.body as SavepointRequest)),
  });
  app.route({
    ...contractRoute('getSavepoint'),
    handler: (req, reply) => {
      const { id } = req.params as { id: string };
      const s = control.savepoint(id);
      if (s === undefined) throw notFound(`no savepoint '${id}'`);
      return reply.send(s);
    },
  });
  app.route({
    ...contractRoute('cancelSavepoint'),
    handler: async (req, reply) => {
      const { id } = req.params as { id: string };
      const s = await control.cancelSavepoint(id);
      if (s === undefined) throw notFound(`no savepoint '${id}'`);
      return reply.send(s);
    },
  });
  app.route({
    ...contractRoute('disposeSavepoint'),
    handler: async (req, reply) => {
      await control.disposeSavepoint((req.body as { path: string }).path);
      return reply.code(204).send();
    },
  });
  app.route({
    ...contractRoute('checkCompatibility'),
    handler: async (req, reply) => reply.send(await control.checkCompatibility(req.body as CompatibilityRequest)),
  });
  done();
};
