// The control API (openapi.yaml): built from its dependencies, listened on by the caller, so that
// tests drive it through inject. One plugin per resource; schemas come from the document.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ErrorBody } from '../../api/contract.ts';
import type { ControlPort } from '../control.ts';
import { ControlError } from '../errors.ts';
import { checkpointRoutes } from './checkpoints.ts';
import { documentRoutes } from './document.ts';
import { eventTimeRoutes } from './event-time.ts';
import { healthRoutes } from './health.ts';
import { internalRoutes } from './internal.ts';
import { jobRoutes } from './job.ts';
import { metricsRoutes } from './metrics.ts';
import { operatorRoutes } from './operators.ts';
import { savepointRoutes } from './savepoints.ts';
import { workerRoutes } from './workers.ts';

export interface ControlApiDeps {
  readonly control: ControlPort;
  /** Every route but health needs it in `X-Weir-Token`. */
  readonly token: string;
  readonly registry: Registry;
  readonly logger?: boolean;
  /** Fault switches (tests only): answer late, or with 503 for a fraction of requests. */
  readonly faults?:
    { readonly apiDelayMs?: number | undefined; readonly apiErrorRate?: number | undefined } | undefined;
}

/** Paths anyone may call: the process is up. */
const OPEN = new Set(['/v1/health']);

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Compares digests in constant time, so the answer's timing says nothing about the token. */
export function tokenMatches(expected: string, given: string | string[] | undefined): boolean {
  if (typeof given !== 'string' || expected === '') return false;
  return timingSafeEqual(digest(expected), digest(given));
}

function errorBody(code: ErrorBody['code'], message: string): ErrorBody {
  return { code, message };
}

export function buildControlApi(deps: ControlApiDeps): FastifyInstance {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: 1 << 20,
    // The contract rejects unknown fields (additionalProperties: false) rather than dropping them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  const faults = deps.faults;
  if (faults?.apiDelayMs !== undefined || faults?.apiErrorRate !== undefined) {
    app.addHook('onRequest', async (_req, reply) => {
      if (faults.apiDelayMs !== undefined) await new Promise((r) => setTimeout(r, faults.apiDelayMs));
      if (Math.random() < (faults.apiErrorRate ?? 0))
        return reply.code(503).send(errorBody('UNAVAILABLE', 'injected: spec.config weir.faults.apiErrorRate'));
      return undefined;
    });
  }
  app.addHook('onRequest', async (req, reply) => {
    if (OPEN.has(req.url.split('?')[0] ?? '')) return;
    if (!tokenMatches(deps.token, req.headers['x-weir-token'])) {
      return reply.code(401).send(errorBody('UNAUTHORIZED', 'missing or wrong X-Weir-Token'));
    }
  });
  app.setErrorHandler(async (err: FastifyError, _req, reply) => {
    if (err instanceof ControlError) return reply.code(err.status).send(errorBody(err.code, err.message));
    if (err.validation !== undefined || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 400) {
      return reply.code(400).send(errorBody('BAD_REQUEST', err.message));
    }
    if (err.statusCode === 413 || err.statusCode === 415) {
      return reply.code(400).send(errorBody('BAD_REQUEST', err.message));
    }
    reply.log.error(err);
    return reply.code(500).send({ code: 'INTERNAL', message: err.message });
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`)),
  );
  const { control } = deps;
  void app.register(healthRoutes);
  void app.register(jobRoutes, { control });
  void app.register(checkpointRoutes, { control });
  void app.register(eventTimeRoutes, { control });
  void app.register(workerRoutes, { control });
  void app.register(savepointRoutes, { control });
  void app.register(operatorRoutes, { control });
  void app.register(internalRoutes, { control });
  void app.register(documentRoutes);
  void app.register(metricsRoutes, { registry: deps.registry });
  return app;
}
