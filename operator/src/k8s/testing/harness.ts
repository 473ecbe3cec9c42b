/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node models are plain data */
// An operator against the real kube-apiserver, with the fake runtime on loopback standing in for
// the runtime pods. One namespace per harness; everything it starts, close() stops.
import { randomBytes } from 'node:crypto';
import { installCrd } from '@weir/e2e';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubeConfig,
} from '@kubernetes/client-node';
import { CRD_FILE } from '../../api/index.ts';
import type { Tuning } from '../../decide/types.ts';
import { OperatorMetrics } from '../../http/metrics.ts';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type StreamApplication } from '../../model.ts';
import { fetchTransport, RuntimeClient } from '../../runtime/client.ts';
import { startFakeRuntime, type FakeRuntime } from '../../runtime/testing/fake-runtime.ts';
import { secretToken } from '../../runtime/token.ts';
import { Controller, type ControllerOptions } from '../controller.ts';
import { PodSimulator } from './pod-simulator.ts';
import { validPipeline } from '../../testing/fixtures.ts';

/** Fast settings so a whole lifecycle takes seconds. */
export const fastTuning: Partial<Tuning> = {
  pollMs: 100,
  settledResyncMs: 1_000,
  backoffBaseMs: 200,
  backoffMaxMs: 1_000,
  liveStatusRefreshMs: 500,
};

/** A spec whose stability gate holds within about a second against the fake runtime. */
export function testSpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image: 'weir/app:1',
    pipeline: validPipeline(),
    rollback: { readinessTimeoutSeconds: 30, stability: { completedCheckpoints: 2, minStableSeconds: 1 } },
    upgrade: { savepointTimeoutSeconds: 10, cancelTimeoutSeconds: 10, deployTimeoutSeconds: 20 },
    savepoints: { onDeleteTimeoutSeconds: 10 },
    ...overrides,
  };
}

export async function pollFor<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await attempt();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Installs the generated CRD (crds/, the artifact users apply), or updates it to this checkout's.
 * Through @weir/e2e's installCrd: client-node's typed models round-trip the YAML's
 * `x-kubernetes-*` keys only when loaded with its loadYaml, and a plain create drops them.
 */
export async function ensureCrd(kc: KubeConfig): Promise<void> {
  await installCrd(kc, new URL(`../../../../${CRD_FILE}`, import.meta.url));
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class OperatorHarness {
  readonly kc: KubeConfig;
  readonly namespace: string;
  readonly fake: FakeRuntime;
  readonly sim: PodSimulator;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #controllers: Controller[] = [];

  private constructor(kc: KubeConfig, namespace: string, fake: FakeRuntime) {
    this.kc = kc;
    this.namespace = namespace;
    this.fake = fake;
    this.sim = new PodSimulator(kc, fake, namespace);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#core = kc.makeApiClient(CoreV1Api);
  }

  static async start(kc: KubeConfig, prefix: string): Promise<OperatorHarness> {
    await ensureCrd(kc);
    const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
    const fake = await startFakeRuntime({ checkpointIntervalMs: 100, savepointDelayMs: 100 });
    const h = new OperatorHarness(kc, namespace, fake);
    h.sim.start();
    return h;
  }

  /** Starts an operator watching the harness namespace (optionally as another user, or electing a leader). */
  async startOperator(opts: Partial<ControllerOptions> & { kubeConfig?: KubeConfig } = {}): Promise<Controller> {
    const controller = new Controller({
      kubeConfig: opts.kubeConfig ?? this.kc,
      scope: { all: false, namespaces: [this.namespace] },
      metrics: new OperatorMetrics(),
      runtime: (kube) =>
        new RuntimeClient(
          fetchTransport((app) => this.fake.baseUrl(app)),
          secretToken(kube),
        ),
      tuning: fastTuning,
      resyncMs: 1_000,
      log: () => undefined,
      ...opts,
    });
    this.#controllers.push(controller);
    const started = controller.start();
    if (opts.leaderElection === undefined) await started;
    else started.catch(() => undefined);
    return controller;
  }

  async stopOperator(c: Controller): Promise<void> {
    await c.stop();
  }

  async create(name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Promise<void> {
    await this.#custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: this.namespace,
      plural: PLURAL,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { ...metadata, name }, spec },
    });
  }

  async patchSpec(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.#custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name, body: { spec } },
      mergePatch,
    );
  }

  /** What `kubectl scale --replicas=n` does: writes the scale subresource. */
  async scale(name: string, replicas: number): Promise<void> {
    await this.#custom.patchNamespacedCustomObjectScale(
      { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name, body: { spec: { replicas } } },
      mergePatch,
    );
  }

  async delete(name: string): Promise<void> {
    await this.#custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: this.namespace,
      plural: PLURAL,
      name,
    });
  }

  async get(name: string): Promise<StreamApplication | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.namespace,
        plural: PLURAL,
        name,
      })) as StreamApplication;
    } catch {
      return undefined;
    }
  }

  async waitForPhase(name: string, phase: string, timeoutMs = 45_000): Promise<StreamApplication> {
    let seen = '';
    try {
      return await pollFor(
        `${name} to reach ${phase}`,
        async () => {
          const app = await this.get(name);
          seen = `${app?.status?.phase ?? '(none)'}: ${app?.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ') ?? ''}`;
          return app?.status?.phase === phase ? app : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen ${seen}`, { cause: err });
    }
  }

  async waitFor(
    name: string,
    what: string,
    check: (app: StreamApplication) => boolean,
    timeoutMs = 45_000,
  ): Promise<StreamApplication> {
    let seen = '';
    try {
      return await pollFor(
        `${name}: ${what}`,
        async () => {
          const app = await this.get(name);
          seen = `${app?.status?.phase ?? '(none)'}: ${app?.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}: ${c.message}`).join(' | ') ?? ''}`;
          return app !== undefined && check(app) ? app : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen ${seen}`, { cause: err });
    }
  }

  async events(name: string): Promise<CoreV1Event[]> {
    const list = await this.#core.listNamespacedEvent({
      namespace: this.namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items;
  }

  /** Events are recorded after the status write that they report, so wait for the ones expected. */
  async eventsUntil(
    name: string,
    what: string,
    check: (events: CoreV1Event[]) => boolean,
    timeoutMs = 15_000,
  ): Promise<CoreV1Event[]> {
    return pollFor(
      `${name}: events ${what}`,
      async () => {
        const events = await this.events(name);
        return check(events) ? events : undefined;
      },
      timeoutMs,
    );
  }

  key(name: string): string {
    return `${this.namespace}/${name}`;
  }

  async close(): Promise<void> {
    for (const c of this.#controllers) await c.stop();
    this.sim.stop();
    await this.fake.close();
    // Finalizers would keep the namespace terminating without an operator: drop them first.
    const list = (await this.#custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: this.namespace,
      plural: PLURAL,
    })) as {
      items: StreamApplication[];
    };
    for (const app of list.items) {
      await this.#custom
        .patchNamespacedCustomObject(
          {
            group: GROUP,
            version: VERSION,
            namespace: this.namespace,
            plural: PLURAL,
            name: app.metadata.name ?? '',
            body: { metadata: { finalizers: null } },
          },
          mergePatch,
        )
        .catch(() => undefined);
    }
    await this.#core.deleteNamespace({ name: this.namespace }).catch(() => undefined);
  }
}
