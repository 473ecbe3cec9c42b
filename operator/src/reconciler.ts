// One reconcile pass: observe → decide → record (status first: a write-ahead log) → act.
import { act } from './act/act.ts';
import { FINALIZER, selectorLabels, selectorString } from './names.ts';
import { currentPhase, decide } from './decide/decide.ts';
import { defaultTuning, type Decision, type Phase, type Tuning } from './decide/types.ts';
import {
  formatErrors,
  validateStreamApplication,
  type StreamApplication,
  type StreamApplicationStatus,
} from './model.ts';
import { CompatibilityVerdicts, observe, SavepointRefusals } from './observe/observe.ts';
import type { KubePort } from './ports.ts';
import type { RuntimePort } from './runtime/client.ts';
import { conditionsFor } from './status/conditions.ts';
import { applyStatusPatch, statusWriteNeeded } from './status/patch.ts';

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Set when the pass changed the phase. */
  transition?: { from: Phase; to: Phase; phaseSeconds?: number };
  phase?: Phase;
}

export interface ReconcilerDeps {
  kube: KubePort;
  runtime: RuntimePort;
  now?: () => number;
  tuning?: Partial<Tuning>;
  log?: (msg: string) => void;
}

export class Reconciler {
  readonly #deps: Required<Omit<ReconcilerDeps, 'tuning'>> & { tuning: Tuning };
  readonly #verdicts = new CompatibilityVerdicts();
  readonly #refusals = new SavepointRefusals();
  readonly #validations = new Map<string, ReturnType<typeof validateStreamApplication>>();
  readonly #eventsInFlight = new Set<Promise<void>>();

  constructor(deps: ReconcilerDeps) {
    this.#deps = {
      kube: deps.kube,
      runtime: deps.runtime,
      now: deps.now ?? Date.now,
      log: deps.log ?? (() => undefined),
      tuning: { ...defaultTuning, ...deps.tuning },
    };
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    const { kube } = this.#deps;
    let app = await kube.getApp(namespace, name);
    if (app === undefined) return {};
    const deleting = app.metadata.deletionTimestamp !== undefined;
    if (deleting && !(app.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    if (!deleting && !(app.metadata.finalizers ?? []).includes(FINALIZER)) {
      // A pass of its own, as kube-rs's finalizer helper does: the next pass starts from the
      // written object, and no pass both guards the app and deploys it.
      await kube.setFinalizer(app, FINALIZER, true);
      return { requeueAfterMs: 0 };
    }

    const validation = this.#validate(app);
    const spec = validation.ok ? validation.value.spec : undefined;
    const status: StreamApplicationStatus = app.status ?? {};
    const generation = app.metadata.generation ?? 0;
    const partial = {
      generation,
      deleting,
      spec,
      validationErrors: validation.ok ? [] : validation.errors.map((e) => ({ path: e.path, message: e.message })),
      status,
      tuning: this.#deps.tuning,
    };
    const observed = await observe(
      { kube, runtime: this.#deps.runtime, now: this.#deps.now },
      { namespace, name, uid: app.metadata.uid ?? '' },
      spec,
      status,
      partial,
      this.#verdicts,
      this.#refusals,
    );
    const decision = decide({ ...partial, observed });
    const from = currentPhase(status.phase);
    const nowIso = new Date(observed.nowMs).toISOString();

    const next = this.#nextStatus(
      status,
      decision,
      generation,
      nowIso,
      spec?.parallelism ?? status.replicas ?? 0,
      name,
    );
    const removed = Object.keys(status).filter((k) => !(k in next));
    const changed = statusWriteNeeded(status, next, observed.nowMs, this.#deps.tuning.liveStatusRefreshMs);
    if (changed && !decision.actions.some((a) => a.kind === 'removeFinalizer')) {
      app = await kube.writeStatus(app, next, removed);
    }
    if (decision.phase !== from) {
      await this.#event(
        app,
        decision.warning === true ? 'Warning' : 'Normal',
        decision.reason,
        `${from} → ${decision.phase}: ${decision.message}`,
      );
    } else if (decision.event === true) {
      await this.#event(app, decision.warning === true ? 'Warning' : 'Normal', decision.reason, decision.message);
    } else if (newlyStalled(status, decision) || (decision.warning === true && reasonChanged(status, decision))) {
      await this.#event(
        app,
        'Warning',
        decision.stalled?.reason ?? decision.reason,
        decision.stalled?.message ?? decision.message,
      );
    }
    await act(
      {
        kube,
        runtime: this.#deps.runtime,
        log: this.#deps.log,
        refused: (id, why) => {
          this.#refusals.set(id, why);
        },
      },
      app,
      decision.actions,
    );

    const started = status.phaseStartedAt === undefined ? undefined : Date.parse(status.phaseStartedAt);
    return {
      ...(decision.requeueAfterMs === undefined ? {} : { requeueAfterMs: decision.requeueAfterMs }),
      phase: decision.phase,
      ...(decision.phase === from
        ? {}
        : {
            transition: {
              from,
              to: decision.phase,
              ...(started === undefined ? {} : { phaseSeconds: (observed.nowMs - started) / 1000 }),
            },
          }),
    };
  }

  /** Validation depends only on the spec (and name) of one generation: once per generation is enough. */
  #validate(app: StreamApplication): ReturnType<typeof validateStreamApplication> {
    const key = `${app.metadata.uid ?? ''}/${String(app.metadata.generation ?? 0)}`;
    const hit = this.#validations.get(key);
    if (hit !== undefined) return hit;
    const result = validateStreamApplication({
      apiVersion: app.apiVersion,
      kind: app.kind,
      metadata: { name: app.metadata.name },
      spec: app.spec,
    });
    if (this.#validations.size >= 10_000) this.#validations.clear();
    this.#validations.set(key, result);
    return result;
  }

  #nextStatus(
    status: StreamApplicationStatus,
    decision: Decision,
    generation: number,
    nowIso: string,
    replicas: number,
    name: string,
  ): StreamApplicationStatus {
    const next = applyStatusPatch(status, decision.patch);
    next.phase = decision.phase;
    next.observedGeneration = generation;
    next.conditions = conditionsFor(decision.phase, decision, generation, status.conditions, nowIso);
    next.replicas = decision.phase === 'Suspended' ? 0 : replicas;
    next.selector = selectorString(selectorLabels(name, 'worker'));
    return next;
  }

  /**
   * Records an Event without holding up the pass, as client-go's recorder does: the status write
   * it reports is already done. Waits only when too many are still being sent.
   */
  async #event(app: StreamApplication, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    while (this.#eventsInFlight.size >= MAX_EVENTS_IN_FLIGHT) await Promise.race(this.#eventsInFlight);
    const sent = this.#deps.kube.event(app, { type, reason, message }).catch((err: unknown) => {
      // Events are for people; losing one must not fail the pass.
      this.#deps.log(
        `event for ${app.metadata.namespace ?? ''}/${app.metadata.name ?? ''} not recorded: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
    const tracked = sent.finally(() => this.#eventsInFlight.delete(tracked));
    this.#eventsInFlight.add(tracked);
  }

  /** Waits for the Events still being sent (graceful shutdown). */
  async flushEvents(): Promise<void> {
    await Promise.all(this.#eventsInFlight);
  }
}

const MAX_EVENTS_IN_FLIGHT = 64;

// Warnings are recorded once per cause, not on every pass that still sees it.
function newlyStalled(status: StreamApplicationStatus, decision: Decision): boolean {
  if (decision.stalled === undefined) return false;
  const c = status.conditions?.find((x) => x.type === 'Stalled');
  return c?.status !== 'True' || c.reason !== decision.stalled.reason;
}

function reasonChanged(status: StreamApplicationStatus, decision: Decision): boolean {
  return status.conditions?.find((x) => x.type === 'Reconciling')?.reason !== decision.reason;
}

export { formatErrors };
