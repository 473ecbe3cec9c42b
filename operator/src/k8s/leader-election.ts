// Leader election on a coordination.k8s.io Lease, so two operator replicas never act at once.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread -- client-node's models are plain data */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { httpStatus } from './kube.ts';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewEveryMs: number;
  log: (msg: string) => void;
}

/** Whether `lease` may be taken by `identity` at `nowMs` (pure, for the tests and the loop). */
export function canAcquire(lease: V1Lease | undefined, identity: string, nowMs: number): boolean {
  const spec = lease?.spec;
  if (spec?.holderIdentity === undefined || spec.holderIdentity === '' || spec.holderIdentity === identity) return true;
  const renewed = spec.renewTime === undefined ? 0 : new Date(spec.renewTime).getTime();
  return nowMs > renewed + (spec.leaseDurationSeconds ?? 15) * 1000;
}

export class LeaderElection {
  readonly #api: CoordinationV1Api;
  readonly #opts: LeaseOptions;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #lastRenew = 0;

  constructor(kc: KubeConfig, opts: LeaseOptions) {
    this.#api = kc.makeApiClient(CoordinationV1Api);
    this.#opts = opts;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Resolves once this replica leads; calls onLost if it later loses the lease. */
  async run(onLost: () => void): Promise<void> {
    for (;;) {
      if (this.#stopped) throw new Error('leader election stopped before acquiring the lease');
      if (await this.#tryAcquireOrRenew()) break;
      await new Promise((r) => setTimeout(r, this.#opts.renewEveryMs));
    }
    this.#leading = true;
    this.#opts.log(`${this.#opts.identity} leads (lease ${this.#opts.namespace}/${this.#opts.name})`);
    const renew = async () => {
      if (this.#stopped) return;
      const ok = await this.#tryAcquireOrRenew().catch(() => false);
      if (ok) this.#lastRenew = Date.now();
      else if (Date.now() - this.#lastRenew > this.#opts.leaseDurationSeconds * 1000 * 0.8) {
        // Another replica may take over soon: stop acting before it can.
        this.#leading = false;
        this.#opts.log(`${this.#opts.identity} lost the lease`);
        onLost();
        return;
      }
      this.#timer = setTimeout(() => void renew(), this.#opts.renewEveryMs);
    };
    this.#lastRenew = Date.now();
    this.#timer = setTimeout(() => void renew(), this.#opts.renewEveryMs);
  }

  /** Stops renewing and, if leading, releases the lease so a successor takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.#opts.name, namespace: this.#opts.namespace });
      if (lease.spec?.holderIdentity === this.#opts.identity) {
        lease.spec.holderIdentity = '';
        await this.#api.replaceNamespacedLease({ name: this.#opts.name, namespace: this.#opts.namespace, body: lease });
      }
    } catch (err) {
      this.#opts.log(`could not release the lease: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity, leaseDurationSeconds } = this.#opts;
    const now = new V1MicroTime();
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
    if (lease === undefined) {
      try {
        await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (err) {
        if (httpStatus(err) === 409) return false;
        throw err;
      }
    }
    if (!canAcquire(lease, identity, now.getTime())) return false;
    const spec = lease.spec ?? {};
    const taking = spec.holderIdentity !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      ...(taking ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      // resourceVersion in the body makes this a compare-and-swap: two candidates cannot both win.
      await this.#api.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (err) {
      if (httpStatus(err) === 409) return false;
      throw err;
    }
  }
}
