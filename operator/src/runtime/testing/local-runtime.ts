// Runs an app's runtime as local processes exactly as the operator deploys it: the ConfigMap's
// files, the pods' args and env (valueFrom resolved as the kubelet would), the state volume as a
// directory. Only what a cluster provides differently is rewritten: mount paths become temporary
// directories, and the coordinator's Service address becomes a loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appManifests, type AppIdentity, type Deployment } from '../../act/manifests.ts';
import type { StreamApplicationSpec } from '../../model.ts';
import type { KubeObject } from '../../names.ts';

const CLI = fileURLToPath(new URL('../../../../runtime-image/src/cli/main.ts', import.meta.url));

/** Every pod process this test process started: none outlives it, whatever ends it. */
const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of alive) c.kill('SIGKILL');
});

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}

interface Container {
  args: string[];
  env: EnvVar[];
  volumeMounts: { name: string; mountPath: string }[];
}

export interface LocalRuntimeOptions {
  readonly id: AppIdentity;
  readonly spec: StreamApplicationSpec;
  readonly deployment: Deployment;
  /** Secrets by name and key (the runtime token Secret, Kafka credentials). */
  readonly secrets: Record<string, Record<string, string>>;
  /** Kept across runs (restarts, upgrades): the app's PersistentVolumeClaim. */
  readonly stateDir: string;
  readonly log?: ((line: string) => void) | undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => {
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      });
    });
  });
}

function podSpec(o: KubeObject): Container {
  const spec = o.spec as { template: { spec: { containers: Container[] } } };
  const c = spec.template.spec.containers[0];
  if (c === undefined) throw new Error(`${o.kind} ${o.metadata.name} has no container`);
  return c;
}

export interface LocalPod {
  readonly name: string;
  readonly role: 'coordinator' | 'worker';
  process: ChildProcess;
  exited: Promise<number | null>;
  output: string;
}

/** One deployment of an app as local processes: a coordinator and `parallelism` workers. */
export class LocalRuntime {
  readonly pods: LocalPod[] = [];
  readonly url: string;
  readonly #o: LocalRuntimeOptions;
  readonly #env: Map<string, NodeJS.ProcessEnv>;

  private constructor(o: LocalRuntimeOptions, url: string, env: Map<string, NodeJS.ProcessEnv>) {
    this.#o = o;
    this.url = url;
    this.#env = env;
  }

  static async start(o: LocalRuntimeOptions): Promise<LocalRuntime> {
    const objects = appManifests(o.id, o.spec, o.deployment);
    const cm = objects.find((x) => x.kind === 'ConfigMap');
    const coordinator = objects.find((x) => x.kind === 'Deployment');
    const workers = objects.find((x) => x.kind === 'StatefulSet');
    if (cm === undefined || coordinator === undefined || workers === undefined)
      throw new Error('the manifests lack the ConfigMap, the coordinator Deployment or the workers StatefulSet');
    const root = await mkdtemp(join(tmpdir(), `weir-local-${o.id.name}-`));
    const mounts = new Map<string, string>([['/tmp', join(root, 'tmp')]]);
    const c = podSpec(coordinator);
    const configMount = c.volumeMounts.find((m) => m.name === 'config')?.mountPath;
    const stateMount = c.volumeMounts.find((m) => m.name === 'state')?.mountPath;
    if (configMount === undefined || stateMount === undefined) throw new Error('the pods mount no config or state');
    mounts.set(configMount, join(root, 'config'));
    mounts.set(stateMount, o.stateDir);
    const local = (path: string): string => {
      // Already a local path (a savepoint the local runtime reported): the state volume as seen here.
      if (path === o.stateDir || path.startsWith(`${o.stateDir}/`)) return path;
      for (const [from, to] of mounts)
        if (path === from || path.startsWith(`${from}/`)) return to + path.slice(from.length);
      return path;
    };
    await mkdir(join(root, 'config'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    await mkdir(o.stateDir, { recursive: true });
    const port = await freePort();
    const data = cm.data as Record<string, string>;
    for (const [file, text] of Object.entries(data)) {
      let content = text;
      if (file === 'runtime.json') {
        const cfg = JSON.parse(text) as Record<string, unknown> & {
          checkpoints: { dir: string };
          savepoints: { dir: string };
          restoreFrom: string | null;
        };
        cfg.checkpoints.dir = local(cfg.checkpoints.dir);
        cfg.savepoints.dir = local(cfg.savepoints.dir);
        if (cfg.restoreFrom !== null) cfg.restoreFrom = local(cfg.restoreFrom);
        cfg.controlApi = { port };
        cfg.coordinator = `127.0.0.1:${port}`;
        content = JSON.stringify(cfg, null, 2);
      }
      await writeFile(join(root, 'config', file), content);
    }
    const envOf = (container: Container, pod: string): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
        ...(process.env.WEIR_TEST_NODE_OPTIONS === undefined
          ? {}
          : { NODE_OPTIONS: process.env.WEIR_TEST_NODE_OPTIONS }),
        WEIR_LISTEN_HOST: '127.0.0.1',
        WEIR_WORKER_PORT: '0',
      };
      for (const e of container.env) {
        if (e.value !== undefined) env[e.name] = e.name === 'WEIR_CONFIG' ? local(e.value) : e.value;
        else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod;
        else if (e.valueFrom?.secretKeyRef !== undefined) {
          const { name, key } = e.valueFrom.secretKeyRef;
          const v = o.secrets[name]?.[key];
          if (v === undefined) throw new Error(`secret ${name} has no key ${key} (env ${e.name})`);
          env[e.name] = v;
        } else throw new Error(`env ${e.name}: a source the local runtime does not know`);
      }
      return env;
    };
    const env = new Map<string, NodeJS.ProcessEnv>();
    env.set(`${coordinator.metadata.name}-0`, envOf(c, `${coordinator.metadata.name}-local`));
    const replicas = (workers.spec as { replicas: number }).replicas;
    for (let i = 0; i < replicas; i++) {
      const pod = `${workers.metadata.name}-${i}`;
      env.set(pod, envOf(podSpec(workers), pod));
    }
    const rt = new LocalRuntime(o, `http://127.0.0.1:${port}`, env);
    for (const [pod, e] of env) rt.startPod(pod, e.WEIR_ROLE === 'coordinator' ? 'coordinator' : 'worker');
    try {
      await rt.ready();
    } catch (err) {
      await rt.stop(1000);
      throw err;
    }
    return rt;
  }

  /** Starts (or restarts, as the kubelet would) one pod's process. */
  startPod(name: string, role: 'coordinator' | 'worker'): LocalPod {
    const env = this.#env.get(name);
    if (env === undefined) throw new Error(`no pod ${name}`);
    const child = spawn(process.execPath, ['--conditions=source', CLI, role], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    alive.add(child);
    child.once('exit', () => alive.delete(child));
    const existing = this.pods.find((p) => p.name === name);
    const pod: LocalPod = existing ?? { name, role, process: child, exited: Promise.resolve(null), output: '' };
    pod.process = child;
    pod.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        resolve(code);
      });
    });
    const collect = (b: Buffer): void => {
      const text = b.toString('utf8');
      pod.output = (pod.output + text).slice(-20_000);
      for (const line of text.split('\n')) if (line !== '') this.#o.log?.(`${name}: ${line}`);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    if (existing === undefined) this.pods.push(pod);
    return pod;
  }

  /** Until the coordinator answers HTTP at all (a fault switch may make /v1/health answer 503). */
  async ready(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`${this.url}/v1/health`, { signal: AbortSignal.timeout(5000) }).then(
        () => true,
        () => false,
      );
      if (ok) return;
      const dead = this.pods.find((p) => p.process.exitCode !== null);
      if (dead !== undefined) throw new Error(`${dead.name} exited ${dead.process.exitCode}:\n${dead.output}`);
      if (Date.now() > deadline) throw new Error(`the coordinator did not answer at ${this.url}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  pod(name: string): LocalPod {
    const p = this.pods.find((x) => x.name === name);
    if (p === undefined) throw new Error(`no pod ${name}`);
    return p;
  }

  /** SIGKILLs a pod's process and starts it again (a crash the kubelet restarts). */
  async kill(name: string, restart = true): Promise<void> {
    const p = this.pod(name);
    p.process.kill('SIGKILL');
    await p.exited;
    if (restart) this.startPod(name, p.role);
  }

  /** Deletes every pod (SIGTERM, then SIGKILL after the grace period). */
  async stop(graceMs = 10_000): Promise<void> {
    await Promise.all(
      this.pods.map(async (p) => {
        if (p.process.exitCode !== null || p.process.signalCode !== null) return;
        p.process.kill('SIGTERM');
        const t = setTimeout(() => p.process.kill('SIGKILL'), graceMs);
        await p.exited;
        clearTimeout(t);
      }),
    );
  }
}
