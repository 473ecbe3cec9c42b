// Stands in for the kubelet and the runtime pods on a control plane without nodes: a worker
// StatefulSet that exists is a running job in the fake runtime (started from the restore path the
// operator annotated); once it is deleted, the job is gone. A pre-flight check pod (created by the
// real Job controller from the operator's check Job) "runs" the new image's `weir savepoint check`:
// its verdict comes from the app's `incompatible` fault switch, written as the pod's terminated
// state (exit code + termination message), so the real Job controller completes or fails the Job.
import {
  AppsV1Api,
  CoreV1Api,
  makeInformer,
  type Informer,
  type KubeConfig,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { CHECK_COMPONENT, CHECK_EXIT, names, RESTORE_ANNOTATION, SPEC_HASH_ANNOTATION } from '../../names.ts';
import type { FakeRuntime } from '../../runtime/testing/fake-runtime.ts';

export class PodSimulator {
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #fake: FakeRuntime;
  readonly #namespace: string;
  readonly #kc: KubeConfig;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #informer: Informer<V1StatefulSet> | undefined;
  readonly #versionOf = new Map<string, string>();
  /**
   * StatefulSets whose version (spec hash or restore path) changed in place: a rolling update, so
   * pods of two versions would run at once. The operator must delete and recreate instead.
   */
  readonly inPlaceVersionChanges: string[] = [];
  /**
   * How check pods of an app (by app name) fail to run: `neverStarts` leaves them Pending (as an
   * unpullable image would: the Job's deadline ends it), `crashes` exits 1 without a verdict.
   */
  readonly checkPodFaults = new Map<string, 'neverStarts' | 'crashes'>();
  /** Check pods that ran, by app name (each a verdict the new image gave). */
  readonly checkRuns = new Map<string, number>();

  constructor(kc: KubeConfig, fake: FakeRuntime, namespace: string) {
    this.#kc = kc;
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#fake = fake;
    this.#namespace = namespace;
  }

  /** Event-driven variant for many apps (the benchmark): a watch instead of listing every tick. */
  async watch(): Promise<void> {
    const ns = this.#namespace;
    const informer = makeInformer<V1StatefulSet>(this.#kc, `/apis/apps/v1/namespaces/${ns}/statefulsets`, () =>
      this.#apps.listNamespacedStatefulSet({ namespace: ns }),
    );
    const onChange = (sts: V1StatefulSet) => {
      void this.#startIfChanged(sts).catch(() => undefined);
    };
    informer.on('add', onChange);
    informer.on('update', onChange);
    informer.on('delete', (sts) => {
      const app = sts.metadata?.labels?.['app.kubernetes.io/instance'];
      if (app !== undefined) this.#fake.stopJob(`${ns}/${app}`);
    });
    informer.on('error', () => {
      setTimeout(() => void informer.start().catch(() => undefined), 500);
    });
    this.#informer = informer;
    await informer.start();
  }

  start(intervalMs = 50): void {
    const loop = async () => {
      if (this.#running) return;
      this.#running = true;
      try {
        await this.sync();
      } catch {
        // The next tick tries again; a simulator hiccup must not fail a test by itself.
      } finally {
        this.#running = false;
      }
    };
    this.#timer = setInterval(() => void loop(), intervalMs);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    void this.#informer?.stop();
  }

  async sync(): Promise<void> {
    const list = await this.#apps.listNamespacedStatefulSet({ namespace: this.#namespace });
    const seen = new Set<string>();
    for (const sts of list.items) {
      const key = await this.#startIfChanged(sts);
      if (key !== undefined) seen.add(key);
    }
    for (const key of [...this.#fake.jobs.keys()]) {
      if (key.startsWith(`${this.#namespace}/`) && !seen.has(key)) this.#fake.stopJob(key);
    }
    await this.runCheckPods();
  }

  /** Runs the pending pre-flight check pods: each terminates with the verdict the new image would give. */
  async runCheckPods(): Promise<void> {
    const pods = await this.#core.listNamespacedPod({
      namespace: this.#namespace,
      labelSelector: `app.kubernetes.io/component=${CHECK_COMPONENT}`,
    });
    for (const pod of pods.items) {
      const app = pod.metadata?.labels?.['app.kubernetes.io/instance'];
      const phase = pod.status?.phase;
      if (app === undefined || pod.metadata?.deletionTimestamp !== undefined) continue;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      const fault = this.checkPodFaults.get(app);
      if (fault === 'neverStarts') continue;
      // The new image drops the state it cannot restore when allowed to.
      const allowed = pod.spec?.containers[0]?.args?.includes('--allow-non-restored-state') === true;
      const problems = allowed ? [] : this.#fake.faults(`${this.#namespace}/${app}`).incompatible;
      const exitCode = fault === 'crashes' ? 1 : problems.length > 0 ? CHECK_EXIT.incompatible : CHECK_EXIT.compatible;
      const message =
        fault === 'crashes'
          ? 'Error: simulated crash of the check container'
          : JSON.stringify({ compatible: problems.length === 0, problems });
      try {
        await this.#terminate(pod, exitCode, message);
        this.checkRuns.set(app, (this.checkRuns.get(app) ?? 0) + 1);
      } catch {
        // Changed meanwhile (the Job controller updates its pods too): the next tick tries again,
        // and one such pod must not hold up the others.
      }
    }
  }

  /** What the kubelet reports when the pod's only container ran to its end. */
  async #terminate(pod: V1Pod, exitCode: number, message: string): Promise<void> {
    const now = new Date();
    const container = pod.spec?.containers[0];
    /* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread -- client-node models are plain data */
    pod.status = {
      ...pod.status,
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      startTime: pod.status?.startTime ?? now,
      conditions: [{ type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now }],
      containerStatuses: [
        {
          name: container?.name ?? 'check',
          image: container?.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          started: false,
          state: {
            terminated: {
              exitCode,
              reason: exitCode === 0 ? 'Completed' : 'Error',
              message,
              startedAt: now,
              finishedAt: now,
            },
          },
        },
      ],
    };
    /* eslint-enable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread */
    await this.#core.replaceNamespacedPodStatus({
      name: pod.metadata?.name ?? '',
      namespace: this.#namespace,
      body: pod,
    });
  }

  /** Starts (or restarts) the job a StatefulSet stands for; returns its app key. */
  async #startIfChanged(sts: V1StatefulSet): Promise<string | undefined> {
    const app = sts.metadata?.labels?.['app.kubernetes.io/instance'];
    if (app === undefined || sts.metadata?.deletionTimestamp !== undefined) return undefined;
    const key = `${this.#namespace}/${app}`;
    const specHash = sts.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
    const restoredFrom = sts.metadata?.annotations?.[RESTORE_ANNOTATION];
    const uid = sts.metadata?.uid;
    if (uid !== undefined) {
      const version = `${specHash ?? ''} from ${restoredFrom ?? 'empty state'}`;
      const before = this.#versionOf.get(uid);
      if (before !== undefined && before !== version) this.inPlaceVersionChanges.push(`${key}: ${before} → ${version}`);
      this.#versionOf.set(uid, version);
    }
    const job = this.#fake.jobs.get(key);
    if (job?.specHash === specHash && job?.restoredFrom === restoredFrom) return key;
    const image = sts.spec?.template.spec?.containers[0]?.image;
    const secret = await this.#core
      .readNamespacedSecret({ name: names(app).token, namespace: this.#namespace })
      .catch(() => undefined);
    const raw = secret?.data?.token;
    const token = raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8');
    this.#fake.startJob(key, {
      ...(image === undefined ? {} : { image }),
      ...(specHash === undefined ? {} : { specHash }),
      ...(restoredFrom === undefined ? {} : { restoredFrom }),
      ...(token === undefined ? {} : { token }),
    });
    return key;
  }
}
