import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { fetchTransport, RuntimeClient, type AppRef } from './client.ts';
import { inlineRefs, runtimeApiDocument } from '@weir/runtime/api';
import type { FakeRuntime } from './testing/fake-runtime.ts';
import { startFakeRuntime } from './testing/fake-runtime.ts';

const app: AppRef = { namespace: 'ns', name: 'orders' };
const key = 'ns/orders';

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('runtime client against the fake runtime (the OpenAPI contract)', () => {
  let fake: FakeRuntime;
  let client: RuntimeClient;
  const ajv = new Ajv({ allErrors: true, validateFormats: false });
  const schema = (name: string) => inlineRefs({ $ref: `#/components/schemas/${name}` }) as object;
  const conforms = (name: string, value: unknown) => {
    const ok = ajv.validate(schema(name), value);
    assert.ok(ok, `${name}: ${ajv.errorsText()}`);
  };

  before(async () => {
    fake = await startFakeRuntime({ checkpointIntervalMs: 20, savepointDelayMs: 20 });
    client = new RuntimeClient(
      fetchTransport((a) => fake.baseUrl(a)),
      () => Promise.resolve('s3cret'),
    );
  });
  after(() => fake.close());

  it('the fake serves exactly the operations of the document that the operator calls (tag operator)', () => {
    const documented = Object.values(runtimeApiDocument().paths).flatMap((m) =>
      Object.values(m)
        .filter((o) => o.tags?.includes('operator') === true)
        .map((o) => o.operationId),
    );
    assert.deepEqual([...fake.operationIds].sort(), documented.sort());
  });

  it('an app without a running job is unreachable, not an error', async () => {
    assert.equal(await client.view({ namespace: 'ns', name: 'nothing' }), undefined);
  });

  it('rejects a wrong token', async () => {
    fake.startJob(key, { token: 'other' });
    await assert.rejects(client.triggerSavepoint(app, { requestId: 'r', stop: false, trigger: 'manual' }), /401/);
    fake.stopJob(key);
  });

  it('after a 401 reads the token again, once: an app created again under the same name has a new one', async () => {
    fake.startJob(key, { token: 'second-life' });
    const asked: boolean[] = [];
    let current = 'first-life';
    const stale = new RuntimeClient(
      fetchTransport((a) => fake.baseUrl(a)),
      (_app, fresh = false) => {
        asked.push(fresh);
        return Promise.resolve(current);
      },
    );
    // The source still gives the old token: one retry, then the 401 stands.
    await assert.rejects(stale.triggerSavepoint(app, { requestId: 'r1', stop: false, trigger: 'manual' }), /401/);
    assert.deepEqual(asked, [false, true]);
    current = 'second-life';
    asked.length = 0;
    const accepted = await stale.triggerSavepoint(app, { requestId: 'r2', stop: false, trigger: 'manual' });
    assert.equal(accepted.id.length > 0, true);
    assert.deepEqual(asked, [false]);
    fake.stopJob(key);
  });

  it('reports job, checkpoints and event time that conform to the document', async () => {
    fake.startJob(key, { specHash: 'abc', restoredFrom: 'sp-0', token: 's3cret' });
    await until('a checkpoint', async () => ((await client.view(app))?.checkpoints.completedSinceStart ?? 0) > 0);
    const view = await client.view(app);
    assert.ok(view);
    conforms('JobSummary', view.job);
    conforms('CheckpointSummary', view.checkpoints);
    conforms('EventTimeSummary', view.eventTime);
    assert.equal(view.job.state, 'RUNNING');
    assert.equal(view.job.restoredFrom, 'sp-0');
  });

  it('stop-with-savepoint is idempotent on requestId and stops the job when complete', async () => {
    fake.startJob(key, { token: 's3cret' });
    const a = await client.triggerSavepoint(app, { requestId: 'up-1', stop: true, trigger: 'upgrade' });
    const b = await client.triggerSavepoint(app, { requestId: 'up-1', stop: true, trigger: 'upgrade' });
    conforms('SavepointStatus', a);
    assert.equal(a.id, b.id);
    await until('savepoint', async () => (await client.savepoint(app, 'up-1'))?.state === 'COMPLETED');
    const done = await client.savepoint(app, 'up-1');
    assert.match(done?.path ?? '', /up-1/);
    assert.equal((await client.view(app))?.job.state, 'STOPPED');
    assert.equal(fake.savepointsTaken.get(key)?.length, 1);
  });

  it('a failed savepoint leaves the job running', async () => {
    fake.startJob(key, { token: 's3cret' });
    fake.faults(app).savepoint = 'fail';
    await client.triggerSavepoint(app, { requestId: 'up-2', stop: true, trigger: 'upgrade' });
    await until('failure', async () => (await client.savepoint(app, 'up-2'))?.state === 'FAILED');
    assert.equal((await client.view(app))?.job.state, 'RUNNING');
    fake.faults(app).savepoint = 'ok';
  });

  it('cancelling a stuck stop-with-savepoint ends it CANCELED and the job keeps running; cancelling again says the same', async () => {
    fake.startJob(key, { token: 's3cret' });
    fake.faults(app).savepoint = 'slow';
    await client.triggerSavepoint(app, { requestId: 'up-3', stop: true, trigger: 'upgrade' });
    assert.equal((await client.savepoint(app, 'up-3'))?.state, 'IN_PROGRESS');
    const cancelled = await client.cancelSavepoint(app, 'up-3');
    conforms('SavepointStatus', cancelled);
    assert.equal(cancelled?.state, 'CANCELED');
    assert.equal((await client.cancelSavepoint(app, 'up-3'))?.state, 'CANCELED', 'idempotent');
    assert.equal((await client.savepoint(app, 'up-3'))?.state, 'CANCELED');
    fake.faults(app).savepoint = 'ok';
    // Healing the runtime does not resurrect a cancelled savepoint, nor stop the job.
    assert.equal((await client.savepoint(app, 'up-3'))?.state, 'CANCELED');
    assert.equal((await client.view(app))?.job.state, 'RUNNING');
    assert.equal(fake.savepointsTaken.get(key)?.includes('file:///weir/savepoints/ns/orders/up-3'), false);
  });

  it('a completed savepoint cannot be cancelled: the answer says COMPLETED and the stop stands', async () => {
    fake.startJob(key, { token: 's3cret' });
    await client.triggerSavepoint(app, { requestId: 'up-4', stop: true, trigger: 'upgrade' });
    await until('savepoint', async () => (await client.savepoint(app, 'up-4'))?.state === 'COMPLETED');
    const late = await client.cancelSavepoint(app, 'up-4');
    assert.equal(late?.state, 'COMPLETED');
    assert.match(late.path ?? '', /up-4/);
    assert.equal((await client.view(app))?.job.state, 'STOPPED');
  });

  it('a cancel that loses the race to completion answers COMPLETED, and the stop has happened', async () => {
    fake.startJob(key, { token: 's3cret' });
    fake.faults(app).savepoint = 'late';
    await client.triggerSavepoint(app, { requestId: 'up-5', stop: true, trigger: 'upgrade' });
    assert.equal((await client.savepoint(app, 'up-5'))?.state, 'IN_PROGRESS');
    const ended = await client.cancelSavepoint(app, 'up-5');
    assert.equal(ended?.state, 'COMPLETED');
    assert.equal((await client.view(app))?.job.state, 'STOPPED');
    fake.faults(app).savepoint = 'ok';
  });

  it('cancelling an unknown savepoint, or with no runtime answering, is undefined', async () => {
    fake.startJob(key, { token: 's3cret' });
    assert.equal(await client.cancelSavepoint(app, 'never-asked'), undefined);
    assert.equal(await client.cancelSavepoint({ namespace: 'ns', name: 'nothing' }, 'x'), undefined);
  });

  it('checks compatibility and disposes savepoints', async () => {
    fake.startJob(key, { token: 's3cret' });
    const req = { image: 'weir/app:2', pipeline: {}, allowNonRestoredState: false };
    assert.deepEqual(await client.checkCompatibility(app, req), { compatible: true, problems: [] });
    fake.faults(app).incompatible = ['operator "sum" missing'];
    const verdict = await client.checkCompatibility(app, req);
    conforms('CompatibilityResult', verdict);
    assert.equal(verdict?.compatible, false);
    await client.disposeSavepoint(app, 'file:///sp/old');
    assert.deepEqual(fake.disposed, ['file:///sp/old']);
  });

  it('rejects a request the document does not allow', async () => {
    const res = await fetch(`${fake.baseUrl(app)}/v1/savepoints`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-weir-token': 's3cret' },
      body: JSON.stringify({ requestId: 'x', stop: 'yes', trigger: 'upgrade' }),
    });
    assert.equal(res.status, 400);
  });
});
