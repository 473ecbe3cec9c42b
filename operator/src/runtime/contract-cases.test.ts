// One set of cases, run with the operator's own RuntimeClient against the real runtime (its
// processes started from the operator's manifests) and against the test fake: the two cannot
// drift apart without a test failing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { inlineRefs } from '@weir/runtime/api';
import { spec } from '../testing/fixtures.ts';
import { names } from '../names.ts';
import { fetchTransport, RuntimeClient, type AppRef } from './client.ts';
import { LocalRuntime } from './testing/local-runtime.ts';
import { startFakeRuntime, type FakeRuntime } from './testing/fake-runtime.ts';

const TOKEN = 'contract-token';
const app: AppRef = { namespace: 'contract', name: 'clicks' };

interface Target {
  readonly client: RuntimeClient;
  /** A client with the wrong token. */
  readonly intruder: RuntimeClient;
  /** A fresh run of the job (after a stop or cancel). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

const ajv = new Ajv({ allErrors: true, validateFormats: false });
function conforms(name: string, value: unknown): void {
  const ok = ajv.validate(inlineRefs({ $ref: `#/components/schemas/${name}` }) as object, value);
  assert.ok(ok, `${name}: ${ajv.errorsText()} in ${JSON.stringify(value)}`);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function contractCases(name: string, makeTarget: () => Promise<Target>): void {
  describe(`runtime contract: ${name}`, () => {
    let t: Target;
    before(async () => {
      t = await makeTarget();
    });
    after(() => t.close());

    it('a wrong token is refused (401)', async () => {
      await assert.rejects(t.intruder.triggerSavepoint(app, { requestId: 'x', stop: false, trigger: 'manual' }), /401/);
    });

    it('job, checkpoints and event time conform to the document; the job runs and checkpoints', async () => {
      const view = await until('a completed checkpoint', async () => {
        const v = await t.client.view(app);
        return v?.job.state === 'RUNNING' && v.checkpoints.completedSinceStart > 0 ? v : undefined;
      });
      conforms('JobSummary', view.job);
      conforms('CheckpointSummary', view.checkpoints);
      conforms('EventTimeSummary', view.eventTime);
      assert.ok(view.checkpoints.lastCompleted !== undefined);
      assert.ok(view.job.startTime !== undefined);
    });

    it('a savepoint without stop: idempotent on requestId, completes with a path, the job keeps running', async () => {
      const req = { requestId: 'manual-g1-1', stop: false, trigger: 'manual' as const };
      const a = await t.client.triggerSavepoint(app, req);
      const b = await t.client.triggerSavepoint(app, req);
      conforms('SavepointStatus', a);
      assert.equal(a.id, b.id);
      const done = await until('the savepoint', async () => {
        const s = await t.client.savepoint(app, a.id);
        return s?.state === 'COMPLETED' ? s : undefined;
      });
      conforms('SavepointStatus', done);
      assert.ok(done.path !== undefined && done.path !== '');
      assert.equal((await t.client.view(app))?.job.state, 'RUNNING');
      // Finished: a cancel answers what it ended as.
      assert.equal((await t.client.cancelSavepoint(app, a.id))?.state, 'COMPLETED');
      await t.client.disposeSavepoint(app, done.path);
      await t.client.disposeSavepoint(app, done.path);
    });

    it('an unknown savepoint is not an error: undefined', async () => {
      assert.equal(await t.client.savepoint(app, 'never-asked'), undefined);
      assert.equal(await t.client.cancelSavepoint(app, 'never-asked'), undefined);
    });

    it('the compatibility check answers a verdict', async () => {
      const r = await t.client.checkCompatibility(app, { image: 'weir/app:2', allowNonRestoredState: false });
      assert.ok(r !== undefined);
      conforms('CompatibilityResult', r);
    });

    it('stop-with-savepoint: completes, and the job is STOPPED', async () => {
      const s = await t.client.triggerSavepoint(app, { requestId: 'upgrade-g2-1', stop: true, trigger: 'upgrade' });
      const done = await until('the savepoint', async () => {
        const x = await t.client.savepoint(app, s.id);
        return x?.state === 'COMPLETED' ? x : undefined;
      });
      assert.ok(done.path !== undefined);
      await until('STOPPED', async () => ((await t.client.view(app))?.job.state === 'STOPPED' ? true : undefined));
    });

    it('a savepoint of a job that does not run is refused (409)', async () => {
      await assert.rejects(
        t.client.triggerSavepoint(app, { requestId: 'late-1', stop: false, trigger: 'manual' }),
        /409/,
      );
    });

    it('cancel: the job ends CANCELED', async () => {
      await t.restart();
      await until('RUNNING', async () => ((await t.client.view(app))?.job.state === 'RUNNING' ? true : undefined));
      await t.client.cancel(app);
      await t.client.cancel(app);
      await until('CANCELED', async () => ((await t.client.view(app))?.job.state === 'CANCELED' ? true : undefined));
    });
  });
}

const clients = (baseUrl: (a: AppRef) => string) => ({
  client: new RuntimeClient(fetchTransport(baseUrl, 10_000), () => Promise.resolve(TOKEN)),
  intruder: new RuntimeClient(fetchTransport(baseUrl, 10_000), () => Promise.resolve('not-the-token')),
});

contractCases('the fake', async () => {
  const fake: FakeRuntime = await startFakeRuntime({ checkpointIntervalMs: 20, savepointDelayMs: 20 });
  const key = `${app.namespace}/${app.name}`;
  fake.startJob(key, { token: TOKEN });
  return {
    ...clients((a) => fake.baseUrl(a)),
    restart: () => {
      fake.startJob(key, { token: TOKEN });
      return Promise.resolve();
    },
    close: () => fake.close(),
  };
});

contractCases('the real runtime (coordinator and worker processes from the manifests)', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'weir-contract-'));
  const s = spec({
    parallelism: 1,
    checkpoints: { ...spec().checkpoints, intervalSeconds: 1 },
    pipeline: {
      name: 'clicks',
      source: { id: 'clicks', generator: { seed: 3, ratePerSecond: 2000, keys: 8 } },
      steps: [
        { id: 'by-campaign', keyBy: 'e.campaign' },
        { id: 'per-second', window: { tumbling: '1s', aggregate: { clicks: { count: 'true' } } } },
        { id: 'out', sink: { console: {} } },
      ],
    },
  });
  let n = 0;
  const start = () =>
    LocalRuntime.start({
      id: { ...app, uid: 'uid-1' },
      spec: s,
      deployment: { specHash: `hash-${++n}` },
      secrets: { [names(app.name).token]: { token: TOKEN } },
      stateDir,
      log: process.env.WEIR_TEST_LOG === '1' ? (l) => process.stderr.write(`${l}\n`) : undefined,
    });
  let rt = await start();
  return {
    ...clients(() => rt.url),
    restart: async () => {
      await rt.stop();
      rt = await start();
    },
    close: async () => {
      await rt.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
});
