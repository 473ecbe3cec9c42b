import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchTransport, RuntimeClient, type AppRef } from '../client.ts';
import { startFakeRuntime, type FakeRuntime } from './fake-runtime.ts';

const app: AppRef = { namespace: 'ns', name: 'held' };
const key = 'ns/held';

describe('fake runtime failure switches for crash tests', () => {
  let fake: FakeRuntime;
  let client: RuntimeClient;
  before(async () => {
    fake = await startFakeRuntime({ checkpointIntervalMs: 20, savepointDelayMs: 20 });
    client = new RuntimeClient(
      fetchTransport((a) => fake.baseUrl(a)),
      () => Promise.resolve('t'),
    );
  });
  after(() => fake.close());

  it('neverRunsImages holds runs of a listed image in CREATED until it is unlisted; other images run', async () => {
    fake.faults(app).neverRunsImages = ['weir/app:2'];
    fake.startJob(key, { image: 'weir/app:1', token: 't' });
    assert.equal((await client.view(app))?.job.state, 'RUNNING');
    fake.startJob(key, { image: 'weir/app:2', token: 't' });
    assert.equal((await client.view(app))?.job.state, 'CREATED');
    fake.faults(app).neverRunsImages = [];
    assert.equal((await client.view(app))?.job.state, 'RUNNING');
    // A run started while the image was not listed is not held by listing it later.
    fake.startJob(key, { image: 'weir/app:2', specHash: 'next', token: 't' });
    fake.faults(app).neverRunsImages = ['weir/app:2'];
    assert.equal((await client.view(app))?.job.state, 'RUNNING');
    fake.faults(app).neverRunsImages = [];
  });

  it('loseSavepointRequests answers but forgets the request; asking again under the same id then works', async () => {
    fake.startJob(key, { image: 'weir/app:1', token: 't' });
    fake.faults(app).loseSavepointRequests = true;
    const lost = await client.triggerSavepoint(app, { requestId: 'up-1', stop: true, trigger: 'upgrade' });
    assert.equal(lost.state, 'IN_PROGRESS');
    assert.equal(await client.savepoint(app, 'up-1'), undefined, 'the runtime does not know the id');
    fake.faults(app).loseSavepointRequests = false;
    await client.triggerSavepoint(app, { requestId: 'up-1', stop: true, trigger: 'upgrade' });
    const deadline = Date.now() + 5_000;
    while ((await client.savepoint(app, 'up-1'))?.state !== 'COMPLETED') {
      assert.ok(Date.now() < deadline, 'savepoint up-1 completes');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(fake.savepointsTaken.get(key), ['file:///weir/savepoints/ns/held/up-1']);
  });
});
