// The runtime image, built from this checkout on the local base images and started with
// testcontainers the way the operator's pods run it: its manifests' args, env and mounts, a
// read-only root filesystem, no capabilities, another uid. Needs Docker: skipped without it,
// except under CI=true where it fails.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { appManifests, compatibilityCheckManifests } from '../act/manifests.ts';
import type { KubeObject } from '../names.ts';
import { spec } from '../testing/fixtures.ts';

// No Ryuk: its image would come from a registry this machine cannot reach; the test removes what it starts.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
const { GenericContainer, Network } = await import('testcontainers');
type Started = Awaited<ReturnType<InstanceType<typeof GenericContainer>['start']>>;

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const IMAGE = 'weir/runtime:test';
const TOKEN = 'image-test-token';

function dockerWorks(): boolean {
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { stdio: 'pipe', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

interface Container {
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: unknown; secretKeyRef?: unknown } }[];
  securityContext: { runAsUser: number };
}

function container(o: KubeObject): Container {
  const c = (o.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0];
  if (c === undefined) throw new Error(`${o.metadata.name} has no container`);
  return c;
}

/** The pod's env as the kubelet resolves it for this test (pod name, the token Secret). */
function envOf(c: Container, pod: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.fieldRef !== undefined) out[e.name] = pod;
    else if (e.valueFrom?.secretKeyRef !== undefined) out[e.name] = TOKEN;
  }
  return out;
}

/** A container as restricted as the pods: read-only root, no capabilities, no privilege escalation. */
class PodLikeContainer extends GenericContainer {
  constructor(image: string) {
    super(image);
    this.hostConfig.ReadonlyRootfs = true;
    this.hostConfig.CapDrop = ['ALL'];
    this.hostConfig.SecurityOpt = ['no-new-privileges'];
  }
}

describe('the runtime image', () => {
  const docker = dockerWorks();
  let dir: string;
  const started: Started[] = [];
  const networks: { stop(): Promise<unknown> }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weir-image-'));
  });
  after(async () => {
    for (const c of started.reverse()) await c.stop({ timeout: 5_000 }).catch(() => undefined);
    for (const n of networks) await n.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** Skipped without Docker, except under CI=true, where it fails. */
  function needDocker(t: TestContext): boolean {
    if (docker) return true;
    assert.notEqual(process.env.CI, 'true', 'CI runs Docker (make infra-up): the image test cannot be skipped there');
    t.skip('no Docker daemon');
    return false;
  }

  /** The app's coordinator and worker pods as containers; answers the coordinator's URL from here. */
  async function runPods(
    app: { name: string; namespace: string },
    objects: KubeObject[],
    image: string,
  ): Promise<{ base: string; state: string }> {
    const cm = objects.find((o) => o.kind === 'ConfigMap');
    const deployment = objects.find((o) => o.kind === 'Deployment');
    const statefulSet = objects.find((o) => o.kind === 'StatefulSet');
    assert.ok(cm && deployment && statefulSet);
    const appDir = await mkdtemp(join(dir, `${app.name}-`));
    const config = join(appDir, 'config');
    const state = join(appDir, 'state');
    await mkdir(config);
    await mkdir(state);
    await chmod(state, 0o777);
    for (const [file, text] of Object.entries(cm.data as Record<string, string>))
      await writeFile(join(config, file), text);
    const network = await new Network().start();
    networks.push(network);
    const pod = (name: string, role: Container, alias: string | undefined) => {
      let g = new PodLikeContainer(image)
        .withCommand(role.args)
        .withEnvironment(envOf(role, name))
        .withUser(`${role.securityContext.runAsUser}:${role.securityContext.runAsUser}`)
        .withBindMounts([
          { source: config, target: '/etc/weir', mode: 'ro' },
          { source: state, target: '/var/lib/weir', mode: 'rw' },
        ])
        .withTmpFs({ '/tmp': 'rw,size=64m' })
        .withNetwork(network);
      if (alias !== undefined) g = g.withNetworkAliases(alias).withExposedPorts(8081);
      return g.start();
    };
    // The worker reaches the coordinator by its Service name, as in the cluster.
    const coordinator = await pod(
      `${app.name}-coordinator-x1`,
      container(deployment),
      `${app.name}-coordinator.${app.namespace}.svc`,
    );
    started.push(coordinator);
    started.push(await pod(`${app.name}-worker-0`, container(statefulSet), undefined));
    return { base: `http://${coordinator.getHost()}:${coordinator.getMappedPort(8081)}`, state };
  }

  /** When the job ran and completed a checkpoint (0: it did not within two minutes). */
  async function untilRunning(base: string): Promise<number> {
    const get = (path: string) => fetch(`${base}${path}`, { headers: { 'x-weir-token': TOKEN } });
    for (let i = 0; i < 600; i++) {
      const job = (await (await get('/v1/job')).json()) as { state: string };
      const cps = (await (await get('/v1/checkpoints')).json()) as { completedSinceStart: number };
      if (job.state === 'RUNNING' && cps.completedSinceStart > 0) return Date.now();
      await new Promise((r) => setTimeout(r, 200));
    }
    return 0;
  }

  it(
    'builds on the local base images, runs the example pipeline as coordinator and worker pods, and answers on its API',
    { timeout: 600_000 },
    async (t) => {
      if (!needDocker(t)) return;
      const builtAt = Date.now();
      await GenericContainer.fromDockerfile(ROOT, 'runtime-image/Dockerfile').build(IMAGE, { deleteOnExit: false });
      const size = execFileSync('docker', ['image', 'inspect', IMAGE, '--format', '{{.Size}}'], { encoding: 'utf8' });
      t.diagnostic(
        `image ${IMAGE}: ${(Number(size) / 1e6).toFixed(0)} MB, built in ${((Date.now() - builtAt) / 1000).toFixed(0)} s`,
      );
      assert.ok(Number(size) < 250e6, `the image is ${size} bytes; the aim is under 250 MB`);

      // The example a newcomer runs (generator source, no Kafka), as the operator mounts it.
      const text = await readFile(join(ROOT, 'runtime-image/examples/revenue.yaml'), 'utf8');
      const pipeline = parse(text) as Record<string, unknown>;
      const app = { name: 'revenue', namespace: 'demo', uid: 'uid-image' };
      const objects = appManifests(
        app,
        spec({ image: IMAGE, parallelism: 1, pipeline, checkpoints: { ...spec().checkpoints, intervalSeconds: 2 } }),
        { specHash: 'image-test' },
      );
      const startedAt = Date.now();
      const { base, state } = await runPods(app, objects, IMAGE);
      const get = (path: string, token?: string) =>
        fetch(`${base}${path}`, { headers: token === undefined ? {} : { 'x-weir-token': token } });
      assert.equal((await get('/v1/health')).status, 200);
      assert.equal((await get('/v1/job')).status, 401, 'the API refuses a request without the token');
      const ready = await untilRunning(base);
      assert.ok(ready > 0, 'the job runs and checkpoints');
      t.diagnostic(`containers started to a completed checkpoint in ${((ready - startedAt) / 1000).toFixed(1)} s`);
      const metrics = await (await get('/metrics', TOKEN)).text();
      assert.match(metrics, /weir_operator_records_in\{operator="ad-events"\} [1-9]/);

      // The operator's pre-flight check Job with this image, on the job's latest checkpoint.
      const cps = (await (await get('/v1/checkpoints', TOKEN)).json()) as { lastCompleted?: { path: string } };
      const snapshot = cps.lastCompleted?.path;
      assert.ok(snapshot !== undefined);
      const check = compatibilityCheckManifests(
        app,
        spec({ image: IMAGE, pipeline, checkpoints: { ...spec().checkpoints, intervalSeconds: 2 } }),
        { specHash: 'image-check', attempt: 0, snapshot },
      );
      const job = check.job.spec as { template: { spec: { containers: Container[] } } };
      const checkContainer = job.template.spec.containers[0];
      assert.ok(checkContainer !== undefined);
      const checkDir = await mkdtemp(join(dir, 'check-'));
      await chmod(checkDir, 0o755); // readable by the pod's uid, as a ConfigMap volume is
      const data = check.configMapFor('uid').data as Record<string, string>;
      for (const [file, text] of Object.entries(data)) await writeFile(join(checkDir, file), text);
      const uid = String(checkContainer.securityContext.runAsUser);
      // As the kubelet does: a writable termination-log file mounted into the container.
      const report = join(checkDir, 'termination-log');
      await writeFile(report, '');
      await chmod(report, 0o666);
      const out = execFileSync(
        'docker',
        [
          ...['run', '--rm', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'],
          ...['--user', `${uid}:${uid}`, '--tmpfs', '/tmp'],
          ...['-v', `${checkDir}:/etc/weir-check:ro`, '-v', `${state}:/var/lib/weir:ro`],
          ...['-v', `${report}:/dev/termination-log`],
          IMAGE,
          ...checkContainer.args,
        ],
        { encoding: 'utf8' },
      );
      assert.match(out, /compatible/i, out);
      const verdict = JSON.parse(await readFile(report, 'utf8')) as { compatible: boolean };
      assert.equal(verdict.compatible, true, JSON.stringify(verdict));
    },
  );

  it(
    'a user image FROM the runtime image runs its own TypeScript pipeline (spec.entrypoint)',
    { timeout: 600_000 },
    async (t) => {
      if (!needDocker(t)) return;
      // The runtime image comes from the test above (same file, run in order).
      const custom = 'weir/custom-clicks:test';
      await GenericContainer.fromDockerfile(join(ROOT, 'runtime-image/examples/custom-image'))
        .withBuildArgs({ RUNTIME_IMAGE: IMAGE })
        .build(custom, { deleteOnExit: false });
      const app = { name: 'clicks', namespace: 'demo', uid: 'uid-custom' };
      const base = spec({ image: custom, parallelism: 1, config: { ratePerSecond: '500' } });
      const { pipeline: _inline, ...withoutPipeline } = base;
      const objects = appManifests(
        app,
        {
          ...withoutPipeline,
          entrypoint: '/app/pipeline/clicks.ts',
          checkpoints: { ...base.checkpoints, intervalSeconds: 2 },
        },
        { specHash: 'custom-test' },
      );
      const { base: url } = await runPods(app, objects, custom);
      assert.ok((await untilRunning(url)) > 0, 'the custom pipeline runs and checkpoints');
      const ops = (await (await fetch(`${url}/v1/operators`, { headers: { 'x-weir-token': TOKEN } })).json()) as {
        operators: { operatorId: string }[];
      };
      assert.deepEqual(
        ops.operators.map((o) => o.operatorId),
        ['ads', 'by-campaign', 'per-10s', 'console'],
      );
    },
  );
});
