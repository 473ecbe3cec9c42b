// The fault switches end to end: set in the StreamApplication's spec.config, carried by the
// operator's manifests to the runtime processes, observed through the operator's RuntimeClient.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decide } from '../decide/decide.ts';
import { deploymentHash } from '../decide/spec-diff.ts';
import { Phase } from '../decide/types.ts';
import { names } from '../names.ts';
import { input, spec, T0 } from '../testing/fixtures.ts';
import { fetchTransport, RuntimeClient, type AppRef, type RuntimeView } from './client.ts';
import { LocalRuntime } from './testing/local-runtime.ts';

const TOKEN = 'faults-token';
const app: AppRef = { namespace: 'faults', name: 'clicks' };

async function withRuntime(
  faults: Record<string, string>,
  run: (rt: LocalRuntime, client: RuntimeClient) => Promise<void>,
): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'weir-faults-'));
  const rt = await LocalRuntime.start({
    id: { ...app, uid: 'uid-f' },
    spec: spec({
      parallelism: 1,
      config: Object.fromEntries(Object.entries(faults).map(([k, v]) => [`weir.faults.${k}`, v])),
      checkpoints: { ...spec().checkpoints, intervalSeconds: 1 },
      pipeline: {
        name: 'clicks',
        source: { id: 'clicks', generator: { seed: 3, ratePerSecond: 1000, keys: 4 } },
        steps: [
          { id: 'by-campaign', keyBy: 'e.campaign' },
          { id: 'per-second', window: { tumbling: '1s', aggregate: { clicks: { count: 'true' } } } },
          { id: 'out', sink: { console: {} } },
        ],
      },
    }),
    deployment: { specHash: 'f1' },
    secrets: { [names(app.name).token]: { token: TOKEN } },
    stateDir,
    log: process.env.WEIR_TEST_LOG === '1' ? (l) => process.stderr.write(`${l}\n`) : undefined,
  });
  try {
    await run(
      rt,
      new RuntimeClient(
        fetchTransport(() => rt.url, 10_000),
        () => Promise.resolve(TOKEN),
      ),
    );
  } finally {
    await rt.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function until(
  what: string,
  client: RuntimeClient,
  ok: (v: RuntimeView) => boolean,
  timeoutMs = 60_000,
): Promise<RuntimeView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await client.view(app).catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('fault switches through spec.config weir.faults.* (runtime processes)', () => {
  it('stallWatermark: the job runs and checkpoints, its watermark never advances', { timeout: 120_000 }, async () => {
    await withRuntime({ stallWatermark: 'true' }, async (_rt, client) => {
      const v = await until(
        '2 checkpoints',
        client,
        (x) => x.job.state === 'RUNNING' && x.checkpoints.completedSinceStart >= 2,
      );
      assert.equal(v.eventTime.watermark, undefined);
      assert.equal(v.eventTime.watermarkAdvancedAt, undefined);
    });
  });

  it(
    'failTaskAfterMs: the job fails, restarts with backoff, and the restarts are counted',
    { timeout: 120_000 },
    async () => {
      await withRuntime({ failTaskAfterMs: '1500' }, async (_rt, client) => {
        const v = await until('two restarts', client, (x) => x.job.restarts >= 2);
        assert.ok(['RUNNING', 'RESTARTING'].includes(v.job.state), v.job.state);
      });
    },
  );

  it(
    'crashAt a commit point: the worker process dies there; restarted, it runs again',
    { timeout: 120_000 },
    async () => {
      await withRuntime({ crashAt: 'manifest-written', crashAfterEpochs: '2' }, async (rt, client) => {
        const worker = rt.pod('clicks-worker-0');
        const exit = await Promise.race([
          worker.exited.then(() => worker.process.signalCode),
          new Promise((r) => setTimeout(r, 60_000, 'alive')),
        ]);
        assert.equal(exit, 'SIGKILL');
        rt.startPod('clicks-worker-0', 'worker');
        // The fault is per process: the restarted worker runs (and would die again after two epochs).
        const v = await until('running again', client, (x) => x.job.state === 'RUNNING' && x.job.restarts >= 1);
        assert.equal(v.job.state, 'RUNNING');
      });
    },
  );

  it(
    'apiErrorRate: the control API answers 503 (the operator sees the runtime as unreachable)',
    { timeout: 60_000 },
    async () => {
      await withRuntime({ apiErrorRate: '1' }, async (_rt, client) => {
        assert.equal(await client.view(app), undefined);
      });
    },
  );

  it(
    'a slow control API (apiDelayMs past the client timeout) reads as unreachable, and the operator does not roll back for it',
    { timeout: 60_000 },
    async () => {
      await withRuntime({ apiDelayMs: '1500' }, async (rt) => {
        // The operator's own client, with a timeout shorter than the injected delay.
        const client = new RuntimeClient(
          fetchTransport(() => rt.url, 1000),
          () => Promise.resolve(TOKEN),
        );
        const view = await client.view(app);
        assert.equal(view, undefined, 'a timeout is "did not answer", not "failed"');
        // An upgraded version past its readiness deadline, whose pods are not restarting.
        const v1 = spec();
        const v2 = spec({ image: 'weir/app:2' });
        const d = decide(
          input({
            spec: v2,
            status: {
              phase: Phase.Running,
              lastReconciledSpec: JSON.stringify(v2),
              lastStableSpec: JSON.stringify(v1),
              deployedSpecHash: deploymentHash(v2),
              phaseStartedAt: new Date(T0).toISOString(),
              phaseDeadline: new Date(T0 + 300_000).toISOString(),
              operations: [
                {
                  type: 'upgrade',
                  trigger: 'spec change',
                  snapshot: 'sp-1',
                  outcome: 'Succeeded',
                  startedAt: new Date(T0).toISOString(),
                },
              ],
            },
            observed: {
              nowMs: T0 + 301_000,
              workloads: { present: true, specHash: deploymentHash(v2), podsRemaining: 2, podRestarts: 0 },
            },
          }),
        );
        assert.equal(d.phase, Phase.Running, d.message);
        assert.equal(d.stalled?.reason, 'RuntimeUnreachable');
      });
    },
  );
});
