// `weir coordinator` and `weir worker`: the processes the operator's pods run (args: [role]).
import { once } from 'node:events';
import Fastify from 'fastify';
import type { CompatibilityRequest, CompatibilityResult } from '../api/contract.ts';
import { compilePipeline } from '../pipeline/compile.ts';
import { checkSavepointCompatibility } from '../snapshot/compat.ts';
import { readDataflowManifest } from '../snapshot/job-snapshot.ts';
import {
  coordinatorStateFile,
  deploymentCheckpointDir,
  loadProcessSettings,
  workerIndex,
  type ProcessSettings,
} from './config.ts';
import { Coordinator } from './coordinator.ts';
import { loadDataflow } from './dataflow.ts';
import { buildControlApi } from './http/app.ts';
import { engineFaults, parseFaults } from './faults.ts';
import { Worker } from './worker.ts';

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
};

/** Checks a dataflow against a snapshot: the request's pipeline, or this pod's own. */
function compatibilityChecker(s: ProcessSettings) {
  return async (req: CompatibilityRequest, snapshot: string): Promise<CompatibilityResult> => {
    let graph;
    try {
      graph =
        req.pipeline !== undefined
          ? compilePipeline(req.pipeline).graph
          : (await loadDataflow({ pipelineFile: s.pipelineFile, entrypoint: s.entrypoint }, s.config)).graph;
    } catch (err) {
      return { compatible: false, problems: [`the pipeline does not compile: ${(err as Error).message}`] };
    }
    let manifest;
    try {
      ({ manifest } = await readDataflowManifest(snapshot));
    } catch (err) {
      return { compatible: false, problems: [`cannot read the snapshot: ${(err as Error).message}`] };
    }
    const r = checkSavepointCompatibility(graph, manifest, { allowNonRestoredState: req.allowNonRestoredState });
    return { compatible: r.compatible, problems: r.problems.map((p) => `${p.operatorId}: ${p.message}`) };
  };
}

/** How long a worker may take to stop after SIGTERM (the pods' grace period is 60 s). */
const SHUTDOWN_TIMEOUT_MS = 20_000;

async function untilSignal(): Promise<string> {
  const [sig] = (await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')])) as [string];
  return sig;
}

export async function runCoordinator(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const s = await loadProcessSettings('coordinator', env);
  const c = s.config;
  const coordinator = await Coordinator.open({
    parallelism: c.parallelism,
    specHash: c.specHash,
    restoreFrom: c.restoreFrom ?? undefined,
    checkpointDir: deploymentCheckpointDir(c),
    savepointDir: c.savepoints.dir,
    stateFile: coordinatorStateFile(c),
    checkCompatibility: compatibilityChecker(s),
  });
  const faults = parseFaults(c.config);
  const app = buildControlApi({ control: coordinator, token: s.token, registry: coordinator.registry, faults });
  const address = await app.listen({ host: env.WEIR_LISTEN_HOST ?? '0.0.0.0', port: c.controlApi.port });
  log(`coordinator of ${c.app.namespace}/${c.app.name} (parallelism ${c.parallelism}) serving ${address}`);
  const sig = await untilSignal();
  log(`${sig}: closing`);
  await app.close();
  return 0;
}

export async function runWorker(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const s = await loadProcessSettings('worker', env);
  const c = s.config;
  const index = workerIndex(s.podName, c.parallelism);
  const faults = parseFaults(c.config);
  const worker = new Worker({
    faults: engineFaults(faults, index, () => {
      log(`injected: dying at ${faults.crashAt ?? ''} (spec.config weir.faults.crashAt)`);
      process.kill(process.pid, 'SIGKILL');
      // A container's PID 1 cannot SIGKILL itself (the kernel ignores it): without this the "crash" was
      // a failure inside the process, and its pod never restarted.
      process.exit(137);
    }),
    failTaskAfterMs: faults.failTaskAfterMs,
    config: c,
    index,
    pod: s.podName,
    token: s.token,
    coordinatorUrl: `http://${c.coordinator}`,
    dataflow: () => loadDataflow({ pipelineFile: s.pipelineFile, entrypoint: s.entrypoint }, c),
    log,
  });
  // Probes: live while the process is; ready while the job runs (restored and processing).
  const probes = Fastify({ logger: false });
  probes.get('/v1/health', (_req, reply) => reply.send({ status: 'ok' }));
  probes.get('/v1/ready', (_req, reply) =>
    worker.state === 'RUNNING'
      ? reply.send({ status: 'ok' })
      : reply.code(503).send({ code: 'UNAVAILABLE', message: `the worker is ${worker.state}` }),
  );
  const address = await probes.listen({
    host: env.WEIR_LISTEN_HOST ?? '0.0.0.0',
    port: Number(env.WEIR_WORKER_PORT ?? 8082),
  });
  log(`worker ${index} of ${c.app.namespace}/${c.app.name} (probes on ${address}), coordinator ${c.coordinator}`);
  const running = worker.run();
  const sig = await Promise.race([untilSignal(), running.then(() => 'done')]);
  log(`${sig}: stopping`);
  // Bounded, well inside the pod's grace period: a stuck close must not hold the next version back.
  const stopped = await Promise.race([
    (async () => {
      await worker.shutdown();
      await running;
      await probes.close();
      return true;
    })(),
    new Promise<false>((resolve) => {
      setTimeout(() => {
        resolve(false);
      }, SHUTDOWN_TIMEOUT_MS).unref();
    }),
  ]);
  if (!stopped) log(`shutdown did not finish in ${SHUTDOWN_TIMEOUT_MS} ms: exiting anyway`);
  return 0;
}
