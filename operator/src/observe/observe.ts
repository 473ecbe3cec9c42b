// Observe: what decide needs from the cluster and the runtime, gathered in one place.
import { compatibilityCheckNeeded } from '../decide/decide.ts';
import { compatibilityCheckHash } from '../decide/spec-diff.ts';
import type { DecideInput, Observed } from '../decide/types.ts';
import type { StreamApplicationSpec, StreamApplicationStatus } from '../model.ts';
import type { KubePort } from '../ports.ts';
import type { AppRef, RuntimePort } from '../runtime/client.ts';
import type { CompatibilityResult } from '@weir/runtime/api';
import { checkJobOutcome } from './compatibility-job.ts';

export interface ObservePorts {
  kube: KubePort;
  runtime: RuntimePort;
  now: () => number;
}

/** Verdicts of the pre-flight check, by app uid and spec hash, so it runs once per desired spec. */
export class CompatibilityVerdicts {
  readonly #byKey = new Map<string, CompatibilityResult>();
  get(uid: string, hash: string): CompatibilityResult | undefined {
    return this.#byKey.get(`${uid}/${hash}`);
  }
  set(uid: string, hash: string, v: CompatibilityResult): void {
    if (this.#byKey.size > 10_000) this.#byKey.clear();
    this.#byKey.set(`${uid}/${hash}`, v);
  }
}

/**
 * Savepoint triggers the runtime refused (act records them), by trigger id: observed as a failed
 * savepoint, so the phase records the failure at once instead of waiting for its timeout.
 */
export class SavepointRefusals {
  readonly #byId = new Map<string, string>();
  get(id: string): string | undefined {
    return this.#byId.get(id);
  }
  set(id: string, why: string): void {
    if (this.#byId.size > 10_000) this.#byId.clear();
    this.#byId.set(id, why);
  }
}

export async function observe(
  ports: ObservePorts,
  app: AppRef & { uid: string },
  spec: StreamApplicationSpec | undefined,
  status: StreamApplicationStatus,
  partial: Omit<DecideInput, 'observed'>,
  verdicts: CompatibilityVerdicts,
  refusals: SavepointRefusals = new SavepointRefusals(),
): Promise<Observed> {
  const workloads = ports.kube.workloads(app.namespace, app.name);
  // No workloads, no runtime to ask (saves a round trip per settled or suspended app).
  const runtime = workloads.present ? await ports.runtime.view(app) : undefined;
  // Not answering: a crash-looping version, or only a slow API? The pods' restarts tell.
  const podRestarts =
    workloads.present && runtime === undefined
      ? await ports.kube.podRestarts(app.namespace, app.name, workloads.specHash)
      : undefined;
  const observed: Observed = {
    nowMs: ports.now(),
    workloads: podRestarts === undefined ? workloads : { ...workloads, podRestarts },
    ...(runtime === undefined ? {} : { runtime }),
  };

  const pending = status.pendingSavepoint;
  if (pending !== undefined && runtime !== undefined) {
    const sp = await ports.runtime.savepoint(app, pending.triggerId);
    const refused = refusals.get(pending.triggerId);
    if (sp !== undefined) observed.savepoint = sp;
    else if (refused !== undefined) {
      observed.savepoint = {
        id: pending.triggerId,
        state: 'FAILED',
        error: `the runtime refused the savepoint: ${refused}`,
      };
    } else observed.savepointUnknown = true;
  }

  const mode = compatibilityCheckNeeded({ ...partial, observed });
  if (spec !== undefined && runtime !== undefined && mode !== 'none') {
    // A verdict holds for one deployment and one allowNonRestoredState.
    const hash = compatibilityCheckHash(spec);
    let verdict = verdicts.get(app.uid, hash);
    if (mode === 'job') {
      // Derived from the cluster each pass, so a restarted operator finds the Job and its verdict again.
      const jobs = (await ports.kube.compatibilityChecks(app.namespace, app.name)).map(checkJobOutcome);
      observed.compatibilityChecks = jobs;
      const done = jobs
        .filter((j) => j.specHash === hash && (j.outcome === 'Compatible' || j.outcome === 'Incompatible'))
        .sort((a, b) => b.attempt - a.attempt)[0];
      if (verdict === undefined && done !== undefined) {
        verdict = { compatible: done.outcome === 'Compatible', problems: done.problems };
        verdicts.set(app.uid, hash, verdict);
      }
    } else if (verdict === undefined) {
      const snapshot = runtime.checkpoints.lastCompleted?.path ?? status.checkpoints?.lastCompleted?.path;
      verdict = await ports.runtime.checkCompatibility(app, {
        image: spec.image,
        ...(spec.pipeline === undefined ? {} : { pipeline: spec.pipeline }),
        ...(spec.entrypoint === undefined ? {} : { entrypoint: spec.entrypoint }),
        ...(snapshot === undefined ? {} : { savepointPath: snapshot }),
        allowNonRestoredState: spec.allowNonRestoredState,
      });
      if (verdict !== undefined) verdicts.set(app.uid, hash, verdict);
    }
    if (verdict !== undefined) observed.compatibility = { ...verdict, specHash: hash };
  }
  return observed;
}
