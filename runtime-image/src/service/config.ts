// What the operator gives a runtime pod (operator/src/act/manifests.ts): `runtime.json` from the
// app's ConfigMap (WEIR_CONFIG), the pipeline next to it or a user module (WEIR_ENTRYPOINT), the
// role, the pod's name, the API token and the Kafka credentials. Errors name the setting.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const RuntimeConfigSchema = Type.Object({
  app: Type.Object({ name: Type.String({ minLength: 1 }), namespace: Type.String({ minLength: 1 }) }),
  parallelism: Type.Integer({ minimum: 1 }),
  maxParallelism: Type.Integer({ minimum: 1 }),
  checkpoints: Type.Object({
    intervalSeconds: Type.Number({ exclusiveMinimum: 0 }),
    retained: Type.Integer({ minimum: 1 }),
    dir: Type.String({ minLength: 1 }),
  }),
  savepoints: Type.Object({ dir: Type.String({ minLength: 1 }) }),
  restoreFrom: Nullable(Type.String({ minLength: 1 })),
  allowNonRestoredState: Type.Boolean(),
  kafka: Nullable(
    Type.Object({
      bootstrapServers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
      tls: Type.Boolean(),
      sasl: Nullable(Type.Union([Type.Literal('plain'), Type.Literal('scram-sha-256'), Type.Literal('scram-sha-512')])),
    }),
  ),
  config: Type.Record(Type.String(), Type.Unknown()),
  controlApi: Type.Object({ port: Type.Integer({ minimum: 1, maximum: 65535 }) }),
  /** host:port of the coordinator's Service. */
  coordinator: Type.String({ minLength: 1 }),
  specHash: Type.String({ minLength: 1 }),
});
export type RuntimeConfig = Static<typeof RuntimeConfigSchema>;

const check = new Ajv({ allErrors: true, strict: false }).compile(RuntimeConfigSchema);

export function parseRuntimeConfig(value: unknown, source: string): RuntimeConfig {
  if (check(value)) return value;
  const problems = (check.errors ?? []).map(
    (e) => `${e.instancePath === '' ? '(root)' : e.instancePath} ${e.message ?? ''}`,
  );
  throw new Error(`${source}: invalid runtime config:\n  - ${problems.join('\n  - ')}`);
}

export type Role = 'coordinator' | 'worker';

/** Everything a runtime process is started with. */
export interface ProcessSettings {
  readonly role: Role;
  readonly config: RuntimeConfig;
  readonly configPath: string;
  readonly podName: string;
  readonly token: string;
  /** The pipeline file (pipeline.json next to runtime.json), unless a user module is the entrypoint. */
  readonly pipelineFile: string | undefined;
  readonly entrypoint: string | undefined;
}

function need(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set (the operator sets it on every runtime pod)`);
  return v;
}

export async function loadProcessSettings(role: Role, env: NodeJS.ProcessEnv = process.env): Promise<ProcessSettings> {
  const configPath = need(env, 'WEIR_CONFIG');
  const declared = env.WEIR_ROLE;
  if (declared !== undefined && declared !== role)
    throw new Error(`WEIR_ROLE is '${declared}' but the command is '${role}'`);
  let raw: string;
  try {
    raw = await readFile(configPath, 'utf8');
  } catch (err) {
    throw new Error(`WEIR_CONFIG: cannot read ${configPath}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new Error(`WEIR_CONFIG: ${configPath} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const config = parseRuntimeConfig(json, configPath);
  const entrypoint = env.WEIR_ENTRYPOINT === '' ? undefined : env.WEIR_ENTRYPOINT;
  return {
    role,
    config,
    configPath,
    podName: need(env, 'WEIR_POD_NAME'),
    token: need(env, 'WEIR_RUNTIME_TOKEN'),
    pipelineFile: entrypoint === undefined ? join(dirname(configPath), 'pipeline.json') : undefined,
    entrypoint,
  };
}

/** A worker's index: the StatefulSet ordinal at the end of its pod's name (`<app>-worker-3` → 3). */
export function workerIndex(podName: string, parallelism: number): number {
  const m = /-(\d+)$/.exec(podName);
  if (m?.[1] === undefined) throw new Error(`WEIR_POD_NAME '${podName}' does not end in a StatefulSet ordinal (-<n>)`);
  const i = Number(m[1]);
  if (i >= parallelism) throw new Error(`worker ${i} (${podName}) is beyond parallelism ${parallelism}`);
  return i;
}

/**
 * Where one deployment's checkpoints go: a restart within a deployment resumes from them; a new
 * deployment (another spec, or another snapshot to restore, as in a rollback) starts a directory
 * of its own, so that no newer checkpoint of an older run is taken for it.
 */
export function deploymentCheckpointDir(c: RuntimeConfig): string {
  const key = createHash('sha256')
    .update(`${c.specHash}\u0000${c.restoreFrom ?? ''}\u0000${c.parallelism}`)
    .digest('hex')
    .slice(0, 12);
  return join(c.checkpoints.dir, `d-${key}`);
}

/** The coordinator's own records of a deployment (savepoints it took, restarts it saw): found again after it restarts. */
export function coordinatorStateFile(c: RuntimeConfig): string {
  return join(deploymentCheckpointDir(c), '_coordinator.json');
}
