// The control API through inject, with the real coordinator behind it and workers simulated by
// their heartbeats (the process tests run real workers).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type {
  CheckpointSummary,
  ErrorBody,
  EventTimeDetail,
  JobSummary,
  OperatorList,
  Preview,
  SavepointStatus,
  WorkerCommands,
  WorkerList,
  WorkerReport,
} from '../../api/contract.ts';
import { runtimeApiDocument } from '../../api/openapi.ts';
import { Coordinator } from '../coordinator.ts';
import { buildControlApi } from './app.ts';

const TOKEN = 'test-token-1';

function report(index: number, over: Partial<WorkerReport> = {}): WorkerReport {
  return {
    index,
    incarnation: `inc-${index}`,
    state: 'RUNNING',
    restarts: 0,
    metrics: {
      recordsIn: 100 * (index + 1),
      recordsOut: 10,
      watermark: Date.parse('2026-12-01T10:00:00Z') + index * 1000,
      checkpointsCompleted: 2,
      lastCheckpoint: { epoch: 2, completedAt: Date.now(), durationMs: 12, bytes: 300 },
      operators: [
        { operatorId: 'src', kind: 'source', recordsIn: 100, recordsOut: 100 },
        { operatorId: 'out', kind: 'sink', recordsIn: 10, recordsOut: 0, watermark: 1_700_000_000_000 },
      ],
      splits: [{ operatorId: 'src', split: `events-${index}`, paused: false }],
    },
    savepoints: [],
    ...over,
  };
}

describe('control API (inject, real coordinator)', () => {
  let dir: string;
  let app: FastifyInstance;
  let coordinator: Coordinator;
  const options = () => ({
    parallelism: 2,
    specHash: 'h1',
    restoreFrom: undefined,
    checkpointDir: join(dir, 'checkpoints', 'd-1'),
    savepointDir: join(dir, 'savepoints'),
    stateFile: join(dir, 'checkpoints', 'd-1', '_coordinator.json'),
    checkCompatibility: () => Promise.resolve({ compatible: false, problems: ['window: state missing'] }),
  });
  /** `token` null: the request carries none. */
  const call = (method: 'GET' | 'POST', url: string, body?: unknown, token: string | null = TOKEN) =>
    app.inject({
      method,
      url,
      headers: token === null ? {} : { 'x-weir-token': token },
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const beat = async (r: WorkerReport): Promise<WorkerCommands> => {
    const res = await call('POST', '/v1/internal/heartbeat', r);
    assert.equal(res.statusCode, 200, res.body);
    return res.json<WorkerCommands>();
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weir-api-'));
    coordinator = await Coordinator.open(options());
    app = buildControlApi({ control: coordinator, token: TOKEN, registry: coordinator.registry });
  });
  after(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('health needs no token; everything else answers 401 without the right one', async () => {
    assert.equal((await call('GET', '/v1/health', undefined, null)).statusCode, 200);
    for (const token of [null, 'wrong', '']) {
      const res = await call('GET', '/v1/job', undefined, token);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json<ErrorBody>().code, 'UNAUTHORIZED');
    }
    assert.equal((await call('GET', '/metrics', undefined, null)).statusCode, 401);
  });

  it('unknown routes and savepoints: 404 with a stable code', async () => {
    const res = await call('GET', '/v1/nothing');
    assert.equal(res.statusCode, 404);
    assert.equal(res.json<ErrorBody>().code, 'NOT_FOUND');
    assert.equal((await call('GET', '/v1/savepoints/nope')).json<ErrorBody>().code, 'NOT_FOUND');
    assert.equal((await call('POST', '/v1/savepoints/nope/cancel')).statusCode, 404);
  });

  it('malformed requests: 400 BAD_REQUEST naming the problem', async () => {
    const cases: unknown[] = [
      { requestId: 'a', stop: true },
      { requestId: 'a', stop: 'yes', trigger: 'manual' },
      { requestId: 'a', stop: true, trigger: 'whenever' },
      { requestId: 'a', stop: true, trigger: 'manual', extra: 1 },
    ];
    for (const body of cases) {
      const res = await call('POST', '/v1/savepoints', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json<ErrorBody>().code, 'BAD_REQUEST');
      assert.match(res.json<ErrorBody>().message, /body/);
    }
    const notJson = await app.inject({
      method: 'POST',
      url: '/v1/savepoints',
      headers: { 'x-weir-token': TOKEN, 'content-type': 'application/json' },
      payload: '{"requestId": ',
    });
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json<ErrorBody>().code, 'BAD_REQUEST');
    const badLimit = await call('GET', '/v1/operators/src/preview?limit=0');
    assert.equal(badLimit.json<ErrorBody>().code, 'BAD_REQUEST');
    const badWorker = await call('POST', '/v1/internal/heartbeat', report(7));
    assert.equal(badWorker.statusCode, 400);
  });

  it('the job is CREATED until every worker runs; a savepoint then is a conflict', async () => {
    assert.equal((await call('GET', '/v1/job')).json<JobSummary>().state, 'CREATED');
    await beat(report(0));
    assert.equal((await call('GET', '/v1/job')).json<JobSummary>().state, 'CREATED');
    const res = await call('POST', '/v1/savepoints', { requestId: 'early', stop: false, trigger: 'manual' });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json<ErrorBody>().code, 'CONFLICT');
    await beat(report(1));
    const job = (await call('GET', '/v1/job')).json<JobSummary>();
    assert.equal(job.state, 'RUNNING');
    assert.equal(job.specHash, 'h1');
    assert.equal(job.restarts, 0);
  });

  it('job, checkpoints, event time, workers and operators from the reports', async () => {
    const cp = (await call('GET', '/v1/checkpoints')).json<CheckpointSummary>();
    assert.equal(cp.completedSinceStart, 2);
    assert.equal(cp.lastCompleted?.path, join(dir, 'checkpoints', 'd-1'));
    const et = (await call('GET', '/v1/event-time')).json<EventTimeDetail>();
    assert.equal(et.watermark, '2026-12-01T10:00:00.000Z', 'the slowest worker');
    assert.ok(et.watermarkAdvancedAt !== undefined);
    assert.deepEqual(
      (et.sources ?? []).map((s) => [s.split, s.worker]),
      [
        ['events-0', 0],
        ['events-1', 1],
      ],
    );
    const workers = (await call('GET', '/v1/workers')).json<WorkerList>();
    assert.equal(workers.parallelism, 2);
    assert.deepEqual(
      workers.workers.map((w) => w.state),
      ['RUNNING', 'RUNNING'],
    );
    const ops = (await call('GET', '/v1/operators')).json<OperatorList>().operators;
    assert.deepEqual(
      ops.map((o) => [o.operatorId, o.recordsIn]),
      [
        ['src', 200],
        ['out', 20],
      ],
    );
    const sink = ops[1];
    assert.ok(sink !== undefined);
    assert.equal(sink.checkpointDurationMs, 12);
    assert.equal(sink.checkpointBytes, 600);
  });

  it('/metrics in the Prometheus format, /v1/openapi the document', async () => {
    const m = await call('GET', '/metrics');
    assert.equal(m.statusCode, 200);
    assert.match(String(m.headers['content-type']), /text\/plain/);
    assert.match(m.body, /weir_operator_records_in\{operator="src"\} 200/);
    assert.match(m.body, /weir_job_running 1/);
    const doc = (await call('GET', '/v1/openapi')).json<{ paths: object }>();
    assert.deepEqual(Object.keys(doc.paths), Object.keys(runtimeApiDocument().paths));
  });

  it('live preview: asking turns sampling on at the workers; their samples come back', async () => {
    assert.equal((await call('GET', '/v1/operators/nope/preview')).statusCode, 404);
    assert.deepEqual((await call('GET', '/v1/operators/out/preview')).json(), { operatorId: 'out', records: [] });
    const cmds = await beat(report(0));
    assert.deepEqual(cmds.previewing, ['out']);
    const sample = [1, 2, 3].map((n) => ({ worker: 0, time: new Date(n * 1000).toISOString(), value: { n } }));
    await beat(report(0, { preview: { out: sample } }));
    const p = (await call('GET', '/v1/operators/out/preview?limit=2')).json<Preview>();
    assert.deepEqual(
      p.records.map((r) => (r.value as { n: number }).n),
      [2, 3],
    );
  });

  it('a savepoint across workers: idempotent on requestId, one at a time, complete when every part is', async () => {
    const req = { requestId: 'manual-1', stop: false, trigger: 'manual' };
    const first = await call('POST', '/v1/savepoints', req);
    assert.equal(first.statusCode, 202);
    assert.deepEqual(first.json(), { id: 'manual-1', state: 'IN_PROGRESS' });
    assert.deepEqual((await call('POST', '/v1/savepoints', req)).json(), { id: 'manual-1', state: 'IN_PROGRESS' });
    const other = await call('POST', '/v1/savepoints', { ...req, requestId: 'manual-2' });
    assert.equal(other.statusCode, 409);
    const c0 = await beat(report(0));
    assert.ok(c0.savepoint !== undefined);
    assert.equal(c0.savepoint.stop, false);
    assert.match(c0.savepoint.dir, /\/w0$/);
    const spDir = c0.savepoint.dir.replace(/\/w0$/, '');
    await beat(report(0, { savepoints: [{ id: 'manual-1', state: 'COMPLETED', path: `${spDir}/w0` }] }));
    assert.equal((await call('GET', '/v1/savepoints/manual-1')).json<SavepointStatus>().state, 'IN_PROGRESS');
    await beat(report(1, { savepoints: [{ id: 'manual-1', state: 'COMPLETED', path: `${spDir}/w1` }] }));
    assert.deepEqual((await call('GET', '/v1/savepoints/manual-1')).json(), {
      id: 'manual-1',
      state: 'COMPLETED',
      path: spDir,
    });
    assert.ok(existsSync(join(spDir, '_savepoint.json')));
    // A completed savepoint cannot be cancelled: the cancel answers what it ended as.
    assert.equal((await call('POST', '/v1/savepoints/manual-1/cancel')).json<SavepointStatus>().state, 'COMPLETED');
  });

  it('cancelling a stop-with-savepoint in progress: CANCELED, and a worker that already stopped resumes', async () => {
    const req = { requestId: 'upgrade-1', stop: true, trigger: 'upgrade' };
    assert.equal((await call('POST', '/v1/savepoints', req)).statusCode, 202);
    const c0 = await beat(report(0));
    const part = c0.savepoint?.dir ?? '';
    await beat(report(0, { state: 'STOPPED', savepoints: [{ id: 'upgrade-1', state: 'COMPLETED', path: part }] }));
    const cancelled = (await call('POST', '/v1/savepoints/upgrade-1/cancel')).json<SavepointStatus>();
    assert.equal(cancelled.state, 'CANCELED');
    const again = await beat(
      report(0, { state: 'STOPPED', savepoints: [{ id: 'upgrade-1', state: 'COMPLETED', path: part }] }),
    );
    assert.equal(again.resumeFrom, part);
    assert.equal(again.savepoint, undefined);
    await beat(report(0));
    assert.equal((await call('GET', '/v1/job')).json<JobSummary>().state, 'RUNNING');
  });

  it('dispose: only savepoints of this app, idempotent', async () => {
    const outside = await call('POST', '/v1/savepoints/dispose', { path: '/etc' });
    assert.equal(outside.statusCode, 400);
    assert.equal(outside.json<ErrorBody>().code, 'BAD_REQUEST');
    const sp = join(dir, 'savepoints', 'sp-x');
    await mkdir(join(sp, 'w0'), { recursive: true });
    assert.equal((await call('POST', '/v1/savepoints/dispose', { path: sp })).statusCode, 204);
    assert.equal(existsSync(sp), false);
    assert.equal((await call('POST', '/v1/savepoints/dispose', { path: sp })).statusCode, 204);
  });

  it('compatibility goes to the checker; job cancel is idempotent and the workers are told', async () => {
    const compat = await call('POST', '/v1/savepoints/compatibility', {
      image: 'weir:2',
      allowNonRestoredState: false,
    });
    assert.deepEqual(compat.json(), { compatible: false, problems: ['window: state missing'] });
    assert.equal((await call('POST', '/v1/job/cancel')).statusCode, 202);
    assert.equal((await call('POST', '/v1/job/cancel')).statusCode, 202);
    assert.equal((await beat(report(0))).cancel, true);
    await beat(report(0, { state: 'CANCELED' }));
    await beat(report(1, { state: 'CANCELED' }));
    assert.equal((await call('GET', '/v1/job')).json<JobSummary>().state, 'CANCELED');
  });

  it('a coordinator that restarts finds the job again from its records', async () => {
    const again = await Coordinator.open(options());
    assert.equal(again.savepoint('manual-1')?.state, 'COMPLETED');
    assert.equal(again.savepoint('upgrade-1')?.state, 'CANCELED');
    assert.equal(again.job().state, 'CREATED', 'no heartbeat yet');
    // A worker process that restarted while the coordinator was away counts as a restart.
    await again.heartbeat(report(0, { incarnation: 'inc-0-second' }));
    assert.equal(again.job().restarts, 1);
  });
});

describe('control API fault switches', () => {
  it('apiErrorRate 1: every request, health included, answers 503 UNAVAILABLE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-api-faults-'));
    const coordinator = await Coordinator.open({
      parallelism: 1,
      specHash: 'h',
      restoreFrom: undefined,
      checkpointDir: join(dir, 'ck'),
      savepointDir: join(dir, 'sp'),
      stateFile: join(dir, 'ck', 'c.json'),
      checkCompatibility: () => Promise.resolve({ compatible: true, problems: [] }),
    });
    const app = buildControlApi({
      control: coordinator,
      token: TOKEN,
      registry: coordinator.registry,
      faults: { apiErrorRate: 1 },
    });
    try {
      const res = await app.inject({ method: 'GET', url: '/v1/health' });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json<ErrorBody>().code, 'UNAVAILABLE');
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
