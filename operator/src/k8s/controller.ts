// The controller: informers feed a work queue of keys; each key is reconciled by one worker at a
// time; a periodic resync re-enqueues every app; with leader election only the leader runs it.
import { failureKind } from '../errors.ts';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { currentPhase } from '../decide/decide.ts';
import type { Tuning } from '../decide/types.ts';
import type { StreamApplication } from '../model.ts';
import type { OperatorMetrics } from '../http/metrics.ts';
import { Reconciler } from '../reconciler.ts';
import type { RuntimePort } from '../runtime/client.ts';
import { reuseConnections } from './connection-reuse.ts';
import { makeInformers, type InformerSet, type WatchScope } from './informers.ts';
import { KubeClient } from './kube.ts';
import { LeaderElection } from './leader-election.ts';
import { WorkQueue } from './work-queue.ts';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  scope: WatchScope;
  /** The runtime API, given the KubePort (for reading the runtime token). */
  runtime: (kube: KubeClient) => RuntimePort;
  metrics: OperatorMetrics;
  concurrency?: number;
  resyncMs?: number;
  tuning?: Partial<Tuning>;
  leaderElection?: { namespace: string; name: string; leaseDurationSeconds: number; renewEveryMs: number };
  identity?: string;
  log?: (msg: string) => void;
  /** Called when leadership is lost: the process should exit and restart clean. */
  onLostLeadership?: () => void;
}

export class Controller {
  readonly identity: string;
  readonly #opts: ControllerOptions;
  readonly #log: (msg: string) => void;
  readonly #queue: WorkQueue;
  readonly #informers: InformerSet;
  readonly #reconciler: Reconciler;
  readonly #election: LeaderElection | undefined;
  readonly #phases = new Map<string, string>();
  #resync: NodeJS.Timeout | undefined;
  #synced = false;
  #stopped = false;

  constructor(options: ControllerOptions) {
    const opts = { ...options, kubeConfig: reuseConnections(options.kubeConfig) };
    this.#opts = opts;
    this.identity = opts.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
    this.#log = opts.log ?? ((m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`));
    this.#queue = new WorkQueue((key) => this.#reconcileKey(key), {
      concurrency: opts.concurrency ?? 8,
      backoffBaseMs: 200,
      backoffMaxMs: 60_000,
      onError: (key, err, retryInMs) => {
        opts.metrics.errors.inc();
        this.#log(
          `reconcile ${key} failed (${failureKind(err)}), retry in ${retryInMs} ms: ${err instanceof Error ? err.message : String(err)}`,
        );
      },
    });
    this.#informers = makeInformers(
      opts.kubeConfig,
      opts.scope,
      (key) => {
        this.#queue.add(key);
      },
      this.#log,
    );
    const kube = new KubeClient(opts.kubeConfig, this.#informers.caches, this.identity, this.#informers.apps);
    this.#reconciler = new Reconciler({ kube, runtime: opts.runtime(kube), tuning: opts.tuning ?? {}, log: this.#log });
    this.#election =
      opts.leaderElection === undefined
        ? undefined
        : new LeaderElection(opts.kubeConfig, { ...opts.leaderElection, identity: this.identity, log: this.#log });
  }

  get leading(): boolean {
    return this.#election === undefined ? !this.#stopped : this.#election.leading;
  }

  /** Caches synced (or standing by for the lease). */
  get ready(): boolean {
    return this.#synced || (this.#election !== undefined && !this.#election.leading && !this.#stopped);
  }

  /** Runs until stop(): waits for the lease (if electing), then syncs caches and reconciles. */
  async start(): Promise<void> {
    if (this.#election !== undefined) {
      await this.#election.run(() => {
        void this.stop().finally(() => this.#opts.onLostLeadership?.());
      });
      if (this.#stopped) return;
    }
    this.#opts.metrics.leader.set(1);
    await this.#informers.start();
    this.#opts.metrics.countAppsByPhase = () => {
      const counts = new Map<string, number>();
      for (const app of this.#informers.apps.list()) {
        const phase = currentPhase((app as StreamApplication).status?.phase);
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
      return counts;
    };
    this.#synced = true;
    const resyncMs = this.#opts.resyncMs ?? 60_000;
    this.#resync = setInterval(() => {
      for (const obj of this.#informers.apps.list())
        this.#queue.add(`${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`);
      this.#opts.metrics.queueDepth.set(this.#queue.depth);
    }, resyncMs);
    this.#resync.unref();
  }

  /** Graceful: no new work, reconciles in flight finish, the lease is released. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#resync !== undefined) clearInterval(this.#resync);
    await this.#informers.stop();
    await this.#queue.shutdown();
    await this.#reconciler.flushEvents();
    await this.#election?.stop();
    this.#opts.metrics.leader.set(0);
    this.#opts.metrics.countAppsByPhase = undefined;
    this.#opts.metrics.appsByPhase.reset();
  }

  /** Alive and able to see the cluster: no watch has been failing for longer than `ms`. */
  healthy(ms = 120_000): boolean {
    return this.#informers.failingFor(ms).length === 0;
  }

  async #reconcileKey(key: string): Promise<{ requeueAfterMs?: number }> {
    const m = this.#opts.metrics;
    const end = m.reconcileSeconds.startTimer();
    try {
      const result = await this.#reconciler.reconcile(key);
      m.reconciles.inc({ result: 'ok' });
      this.#trackPhase(key, result.phase);
      if (result.transition !== undefined) {
        const { from, to, phaseSeconds } = result.transition;
        if (phaseSeconds !== undefined) m.transitionSeconds.observe({ from, to }, phaseSeconds);
      }
      return result.requeueAfterMs === undefined ? {} : { requeueAfterMs: result.requeueAfterMs };
    } catch (err) {
      m.reconciles.inc({ result: 'error' });
      throw err;
    } finally {
      end();
    }
  }

  #trackPhase(key: string, phase: string | undefined): void {
    if (phase === undefined) this.#phases.delete(key);
    else this.#phases.set(key, phase);
  }

  /** For tests: the phase each app's last pass here decided. */
  phases(): ReadonlyMap<string, string> {
    return this.#phases;
  }
}
