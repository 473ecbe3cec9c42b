// A fake of the runtime control API for tests only: serves exactly the operations of the
// runtime's openapi.yaml that the operator calls (tagged `operator`; routes and schemas are
// generated from it) for many apps at once, one base URL
// per app, with failure switches to drive the operator down every edge of the lifecycle.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AppRef } from '../client.ts';
import { inlineRefs, routePath, runtimeApiDocument } from '@weir/runtime/api';
import type {
  CheckpointSummary,
  CompatibilityRequest,
  CompatibilityResult,
  EventTimeSummary,
  JobSummary,
  SavepointRequest,
  SavepointStatus,
} from '@weir/runtime/api';

export interface Faults {
  /**
   * ok: completes after savepointDelayMs; fail: fails after it (the job keeps running); slow: never
   * finishes (a cancel aborts it); late: never finishes by itself, and completes just as a cancel
   * arrives (the race a cancel can lose: the cancel answers COMPLETED).
   */
  savepoint: 'ok' | 'fail' | 'slow' | 'late';
  /** Savepoint requests are answered but lost (as if never sent): the runtime does not know the id. */
  loseSavepointRequests: boolean;
  /** Problems the compatibility check reports (empty = compatible). */
  incompatible: string[];
  jobFailed: boolean;
  /** The job restarts continuously and never completes a checkpoint. */
  crashLoop: boolean;
  /** The watermark never advances. */
  stallWatermark: boolean;
  /** The job never leaves CREATED. */
  neverRuns: boolean;
  /** Runs of these images fail (a bad version to roll back from). */
  failingImages: string[];
  /** Runs of these images started while listed never leave CREATED until the image is unlisted. */
  neverRunsImages: string[];
}

export const healthyFaults = (): Faults => ({
  savepoint: 'ok',
  loseSavepointRequests: false,
  incompatible: [],
  jobFailed: false,
  crashLoop: false,
  stallWatermark: false,
  neverRuns: false,
  failingImages: [],
  neverRunsImages: [],
});

interface FakeSavepoint {
  req: SavepointRequest;
  readyAt: number;
  settled?: SavepointStatus;
}

export interface FakeJob {
  image: string | undefined;
  specHash: string | undefined;
  restoredFrom: string | undefined;
  token: string | undefined;
  startedAt: number;
  stopped?: 'STOPPED' | 'CANCELED';
  /** Started while its image was in neverRunsImages (a version held before it runs). */
  held: boolean;
  savepoints: Map<string, FakeSavepoint>;
}

/** One run of a job, as the pods would live it: for asserting that two versions never overlap. */
export interface FakeRun {
  app: string;
  image: string | undefined;
  specHash: string | undefined;
  restoredFrom: string | undefined;
  startedAt: number;
  stoppedAt?: number;
}

export interface RecordedRequest {
  app: string;
  operationId: string;
  body: unknown;
  /** As received (lower-case names): what a proxy in between forwarded, or added. */
  headers: Record<string, string | string[] | undefined>;
}

export interface FakeRuntimeOptions {
  checkpointIntervalMs?: number;
  savepointDelayMs?: number;
  /**
   * Serve this one app at the root paths of the document too (/v1/job, ...), as a real
   * coordinator does: for reaching the fake through a Service, e.g. the API server's proxy.
   */
  rootApp?: AppRef;
}

type Handler = (app: string, job: FakeJob | undefined, req: FastifyRequest, reply: FastifyReply) => unknown;

export class FakeRuntime {
  readonly jobs = new Map<string, FakeJob>();
  readonly requests: RecordedRequest[] = [];
  readonly runs: FakeRun[] = [];
  readonly disposed: string[] = [];
  /** Savepoints taken, by app, across job restarts (a savepoint outlives its job). */
  readonly savepointsTaken = new Map<string, string[]>();
  readonly #faults = new Map<string, Faults>();
  readonly #app: FastifyInstance;
  readonly #checkpointMs: number;
  readonly #savepointMs: number;
  readonly #rootApp: AppRef | undefined;
  #url = '';

  constructor(opts: FakeRuntimeOptions = {}) {
    this.#checkpointMs = opts.checkpointIntervalMs ?? 50;
    this.#savepointMs = opts.savepointDelayMs ?? 50;
    this.#rootApp = opts.rootApp;
    this.#app = Fastify({ logger: false });
    this.#routes();
  }

  get url(): string {
    return this.#url;
  }

  baseUrl(app: AppRef): string {
    return `${this.#url}/apps/${app.namespace}/${app.name}`;
  }

  /** The failure switches of one app (mutable; new apps start healthy). */
  faults(app: AppRef | string): Faults {
    const key = typeof app === 'string' ? app : `${app.namespace}/${app.name}`;
    let f = this.#faults.get(key);
    if (f === undefined) {
      f = healthyFaults();
      this.#faults.set(key, f);
    }
    return f;
  }

  /** What a pod starting does: a new run of the job (restoring `restoredFrom`). */
  startJob(key: string, run: { image?: string; specHash?: string; restoredFrom?: string; token?: string }): void {
    this.#endRun(key);
    this.runs.push({
      app: key,
      image: run.image,
      specHash: run.specHash,
      restoredFrom: run.restoredFrom,
      startedAt: Date.now(),
    });
    this.jobs.set(key, {
      image: run.image,
      specHash: run.specHash,
      restoredFrom: run.restoredFrom,
      token: run.token,
      startedAt: Date.now(),
      held: run.image !== undefined && this.faults(key).neverRunsImages.includes(run.image),
      savepoints: new Map(),
    });
  }

  /** What the pods going away does: the runtime stops answering for that app. */
  stopJob(key: string): void {
    this.#endRun(key);
    this.jobs.delete(key);
  }

  #endRun(key: string): void {
    if (!this.jobs.has(key)) return;
    const run = this.runs.findLast((r) => r.app === key);
    if (run !== undefined) run.stoppedAt ??= Date.now();
  }

  /** The runs of one app, oldest first. */
  runsOf(key: string): FakeRun[] {
    return this.runs.filter((r) => r.app === key);
  }

  /** Listens on `host` (loopback unless a test needs the fake reachable from elsewhere). */
  async listen(host = '127.0.0.1'): Promise<string> {
    this.#url = await this.#app.listen({ host, port: 0 });
    return this.#url;
  }

  async close(): Promise<void> {
    await this.#app.close();
  }

  /** Every operationId the fake serves (must equal the document's). */
  get operationIds(): string[] {
    return Object.keys(this.#handlers());
  }

  #handlers(): Record<string, Handler> {
    return {
      health: () => ({ status: 'ok' }),
      getJob: (app, job) => this.#jobSummary(app, this.#need(job)),
      cancelJob: (app, job, _req, reply) => {
        const j = this.#need(job);
        j.stopped = 'CANCELED';
        return reply.code(202).send(this.#jobSummary(app, j));
      },
      getCheckpoints: (app, job) => this.#checkpoints(app, this.#need(job)),
      getEventTime: (app, job) => this.#eventTime(app, this.#need(job)),
      triggerSavepoint: (app, job, req, reply) => {
        const j = this.#need(job);
        const body = req.body as SavepointRequest;
        const existing = j.savepoints.get(body.requestId);
        if (existing === undefined) {
          if (this.#jobSummary(app, j).state !== 'RUNNING') {
            return reply.code(409).send({ code: 'CONFLICT', message: 'job is not running' });
          }
          if (this.faults(app).loseSavepointRequests) {
            return reply.code(202).send({ id: body.requestId, state: 'IN_PROGRESS' } satisfies SavepointStatus);
          }
          j.savepoints.set(body.requestId, { req: body, readyAt: Date.now() + this.#savepointMs });
        }
        return reply.code(202).send(this.#savepoint(app, j, body.requestId));
      },
      getSavepoint: (app, job, req, reply) => {
        const id = (req.params as { id: string }).id;
        const j = this.#need(job);
        if (!j.savepoints.has(id)) return reply.code(404).send({ code: 'NOT_FOUND', message: `no savepoint ${id}` });
        return this.#savepoint(app, j, id);
      },
      cancelSavepoint: (app, job, req, reply) => {
        const id = (req.params as { id: string }).id;
        const j = this.#need(job);
        const sp = j.savepoints.get(id);
        if (sp === undefined) return reply.code(404).send({ code: 'NOT_FOUND', message: `no savepoint ${id}` });
        this.#settle(app, j);
        if (sp.settled === undefined && this.faults(app).savepoint === 'late') this.#complete(app, j, id, sp);
        // Aborted before its barrier completed: nothing was written and a stop-savepoint stops nothing.
        sp.settled ??= { id, state: 'CANCELED', error: 'cancelled on request' };
        return sp.settled;
      },
      disposeSavepoint: (_app, _job, req, reply) => {
        this.disposed.push((req.body as { path: string }).path);
        return reply.code(204).send();
      },
      checkCompatibility: (app, job) => {
        this.#need(job);
        const problems = this.faults(app).incompatible;
        return { compatible: problems.length === 0, problems } satisfies CompatibilityResult;
      },
    };
  }

  #routes(): void {
    const doc = runtimeApiDocument();
    const handlers = this.#handlers();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if (op.tags?.includes('operator') !== true) continue;
        const handler = handlers[op.operationId];
        if (handler === undefined) throw new Error(`fake runtime: no handler for ${op.operationId}`);
        const response: Record<string, unknown> = {};
        for (const [code, r] of Object.entries(op.responses)) {
          const schema = 'content' in r ? r.content?.['application/json'].schema : undefined;
          if (schema !== undefined) response[code] = inlineRefs(schema);
        }
        const body = op.requestBody?.content['application/json'].schema;
        const root = this.#rootApp;
        for (const url of [
          `/apps/:namespace/:name${routePath(path)}`,
          ...(root === undefined ? [] : [routePath(path)]),
        ]) {
          this.#app.route({
            method: method.toUpperCase(),
            url,
            schema: { ...(body === undefined ? {} : { body: inlineRefs(body) }), response },
            handler: async (req, reply) => {
              const params = req.params as { namespace?: string; name?: string };
              const { namespace, name } =
                params.namespace === undefined || params.name === undefined
                  ? (root ?? { namespace: '', name: '' })
                  : { namespace: params.namespace, name: params.name };
              const app = `${namespace}/${name}`;
              this.requests.push({ app, operationId: op.operationId, body: req.body, headers: { ...req.headers } });
              const job = this.jobs.get(app);
              if (
                op.operationId !== 'health' &&
                job?.token !== undefined &&
                req.headers['x-weir-token'] !== job.token
              ) {
                return reply.code(401).send({ code: 'UNAUTHORIZED', message: 'bad or missing X-Weir-Token' });
              }
              try {
                return await handler(app, job, req, reply);
              } catch (err) {
                if (err instanceof Unavailable)
                  return reply.code(503).send({ code: 'UNAVAILABLE', message: 'no job running' });
                throw err;
              }
            },
          });
        }
      }
    }
  }

  #need(job: FakeJob | undefined): FakeJob {
    if (job === undefined) throw new Unavailable();
    return job;
  }

  #settle(app: string, job: FakeJob): void {
    const faults = this.faults(app);
    for (const [id, sp] of job.savepoints) {
      const stuck = faults.savepoint === 'slow' || faults.savepoint === 'late';
      if (sp.settled !== undefined || stuck || Date.now() < sp.readyAt) continue;
      if (faults.savepoint === 'fail') {
        sp.settled = { id, state: 'FAILED', error: 'injected: savepoint barrier timed out' };
        continue;
      }
      this.#complete(app, job, id, sp);
    }
  }

  #complete(app: string, job: FakeJob, id: string, sp: FakeSavepoint): void {
    const path = `file:///weir/savepoints/${app}/${id}`;
    sp.settled = { id, state: 'COMPLETED', path };
    this.savepointsTaken.set(app, [...(this.savepointsTaken.get(app) ?? []), path]);
    if (sp.req.stop) job.stopped = 'STOPPED';
  }

  #savepoint(app: string, job: FakeJob, id: string): SavepointStatus {
    this.#settle(app, job);
    return job.savepoints.get(id)?.settled ?? { id, state: 'IN_PROGRESS' };
  }

  #elapsed(job: FakeJob): number {
    return Date.now() - job.startedAt;
  }

  #jobSummary(app: string, job: FakeJob): JobSummary {
    this.#settle(app, job);
    const f = this.faults(app);
    const ticks = Math.floor(this.#elapsed(job) / this.#checkpointMs);
    const failed = f.jobFailed || (job.image !== undefined && f.failingImages.includes(job.image));
    const held = job.held && job.image !== undefined && f.neverRunsImages.includes(job.image);
    const state = job.stopped ?? (failed ? 'FAILED' : f.neverRuns || held ? 'CREATED' : 'RUNNING');
    return {
      state,
      restarts: f.crashLoop ? ticks : 0,
      startTime: new Date(job.startedAt).toISOString(),
      ...(job.specHash === undefined ? {} : { specHash: job.specHash }),
      ...(job.restoredFrom === undefined ? {} : { restoredFrom: job.restoredFrom }),
      ...(failed ? { failure: 'injected: task failed' } : {}),
    };
  }

  #checkpoints(app: string, job: FakeJob): CheckpointSummary {
    const f = this.faults(app);
    const running = this.#jobSummary(app, job).state === 'RUNNING' && !f.crashLoop;
    const n = running ? Math.floor(this.#elapsed(job) / this.#checkpointMs) : 0;
    if (n === 0) return { completedSinceStart: 0 };
    return {
      completedSinceStart: n,
      lastCompleted: {
        id: n,
        time: new Date(job.startedAt + n * this.#checkpointMs).toISOString(),
        path: `file:///weir/checkpoints/${app}/${job.startedAt}/chk-${n}`,
      },
    };
  }

  #eventTime(app: string, job: FakeJob): EventTimeSummary {
    const f = this.faults(app);
    if (f.stallWatermark || this.#jobSummary(app, job).state !== 'RUNNING') {
      return {
        watermark: new Date(job.startedAt - 1000).toISOString(),
        lagSeconds: (Date.now() - job.startedAt) / 1000 + 1,
      };
    }
    const now = Date.now();
    return {
      watermark: new Date(now - 500).toISOString(),
      watermarkAdvancedAt: new Date(now).toISOString(),
      lagSeconds: 0.5,
      recordsLag: 3,
    };
  }
}

class Unavailable extends Error {}

export async function startFakeRuntime(opts: FakeRuntimeOptions = {}, host?: string): Promise<FakeRuntime> {
  const fake = new FakeRuntime(opts);
  await fake.listen(host);
  return fake;
}

export type { CompatibilityRequest };
