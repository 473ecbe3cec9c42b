// The stages of one worker (stages.ts), started together and driven as one: metrics over all of
// them, a failure of one ends all, and a savepoint taken stage after stage, each stopping where
// the one before it stopped (its stop markers read), so that the parts form one consistent cut.
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { SinkConnector, SourceConnector } from '../connectors/contract.ts';
import type { ConnectionSettings } from '../connectors/kafka/connection.ts';
import type { KafkaClients } from '../pipeline/connectors.ts';
import type { Graph, GraphNode } from '../graph/graph.ts';
import {
  startJob,
  type CheckpointInfo,
  type FaultSwitches,
  type Job,
  type JobMetrics,
  type JobResult,
  type OperatorStats,
  type SampledRecord,
  type SplitStats,
} from '../runtime/executor.ts';
import type { Dataflow } from './dataflow.ts';
import { exchangeConnectors } from './exchange.ts';
import { EXCHANGE_SUFFIX, planStages, stageGraph, type StagePlan } from './stages.ts';

type ExchangeSource = SourceConnector<unknown> & { stoppedAt(savepoint: string): boolean };
type ExchangeSink = SinkConnector<unknown> & { stopMarker(savepoint: string): void };

interface StageRun {
  readonly plan: StagePlan;
  readonly job: Job;
  /** The stage's Kafka connections: closed when its job ends (every start builds fresh ones). */
  readonly clients: KafkaClients;
  readonly inputs: ExchangeSource[];
  readonly outputs: ExchangeSink[];
}

export interface StagesOptions {
  readonly dataflow: () => Promise<Dataflow>;
  readonly app: { readonly namespace: string; readonly name: string };
  /** The app's Kafka (runtime.json); without it the job runs as one stage (and one worker). */
  readonly kafka: ConnectionSettings | undefined;
  readonly generation: string;
  readonly worker: { readonly index: number; readonly count: number };
  readonly checkpointIntervalMs: number;
  readonly retain: number;
  /** This worker's checkpoint directory: each stage checkpoints under `<dir>/<stage>`. */
  readonly checkpointDir: string;
  /** What each stage restores (a snapshot or checkpoint directory), or nothing. */
  readonly restoreFor: (stage: string) => Promise<string | undefined>;
  readonly allowNonRestoredState: boolean;
  readonly faults?: FaultSwitches | undefined;
  /** `stagesOf` the job's graph (undefined: one stage, the whole graph). */
  readonly plans: readonly StagePlan[] | undefined;
}

/** The job's stages when it runs cut: with Kafka to carry the exchange, and a keyBy to cut at. */
export function stagesOf(graph: Graph, hasKafka: boolean): StagePlan[] | undefined {
  if (!hasKafka) return undefined;
  const plans = planStages(graph);
  return plans.length > 1 ? plans : undefined;
}

export class WorkerStages {
  readonly #runs: StageRun[];
  readonly done: Promise<JobResult>;

  #fail: ((r: JobResult) => void) | undefined;

  private constructor(runs: StageRun[]) {
    this.#runs = runs;
    // The worker's job ends when a stage fails (the others are cancelled) or when all stopped.
    this.done = new Promise((resolve) => {
      this.#fail = resolve;
      let ended = 0;
      for (const r of runs) {
        void r.job.done.then((res) => {
          void r.clients.close();
          ended++;
          if (res.state === 'failed') {
            for (const o of runs) if (o !== r) void o.job.cancel();
            resolve(res);
          } else if (ended === runs.length) resolve(res);
        });
      }
    });
  }

  static async start(o: StagesOptions): Promise<WorkerStages> {
    const plans = o.plans;
    const runs: StageRun[] = [];
    try {
      if (plans === undefined) {
        const flow = await o.dataflow();
        runs.push({
          plan: wholePlan(flow.graph),
          job: await startStage(o, flow.graph, 'sources').catch(closing(flow.kafka)),
          clients: flow.kafka,
          inputs: [],
          outputs: [],
        });
      } else {
        for (const plan of plans) {
          const flow = await o.dataflow();
          const inputs: ExchangeSource[] = [];
          const outputs: ExchangeSink[] = [];
          const ex = exchangeConnectors({
            app: o.app,
            generation: o.generation,
            kafka: flow.kafka,
            settings: o.kafka ?? {},
            maxParallelism: flow.graph.maxParallelism,
            checkpointIntervalMs: o.checkpointIntervalMs,
            retainedCheckpoints: o.retain,
          });
          const graph = stageGraph(flow.graph, plan, {
            source: (k) => {
              const s = ex.source(k);
              inputs.push(s);
              return s;
            },
            sink: (k) => {
              const s = ex.sink(k);
              outputs.push(s);
              return s;
            },
          });
          const job = await startStage(o, graph, plan.name).catch(closing(flow.kafka));
          runs.push({ plan, job, clients: flow.kafka, inputs, outputs });
        }
      }
    } catch (err) {
      for (const r of runs) {
        await r.job.cancel().catch(() => undefined);
        await r.clients.close();
      }
      throw err;
    }
    return new WorkerStages(runs);
  }

  /**
   * A savepoint into `dir` (a stage per subdirectory), stopping every stage: each stage after the
   * first waits until every writer of its exchange partitions stopped at this savepoint and it read
   * up to there, so the parts together lose and repeat nothing.
   */
  async savepoint(
    id: string,
    dir: string,
    signal: AbortSignal,
    onPart: (stage: string, path: string) => Promise<void>,
  ): Promise<CheckpointInfo[]> {
    const out: CheckpointInfo[] = [];
    for (const r of this.#runs) {
      for (const s of r.outputs) s.stopMarker(id);
      while (!r.inputs.every((i) => i.stoppedAt(id))) {
        if (signal.aborted) throw new Error(`savepoint ${id} was cancelled`);
        if (r.job.state !== 'running') throw new Error(`stage ${r.plan.name} is ${r.job.state}`);
        await delay(20);
      }
      const info = await r.job.triggerSavepoint({ dir: join(dir, r.plan.name), stop: true });
      await onPart(r.plan.name, join(dir, r.plan.name));
      out.push(info);
    }
    return out;
  }

  /** Fails the worker's job now (a fault switch): every stage is cancelled. */
  fail(error: Error): void {
    this.#fail?.({ state: 'failed', error });
    void this.cancel();
  }

  async cancel(): Promise<void> {
    await Promise.all(this.#runs.map((r) => r.job.cancel()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#runs.map((r) => r.job.stop()));
  }

  get running(): boolean {
    return this.#runs.every((r) => r.job.state === 'running');
  }

  /** Over the stages: records in at the sources, out at the app's sinks, the slowest watermark. */
  metrics(): JobMetrics {
    const ms = this.#runs.map((r) => r.job.metrics());
    const first = ms[0];
    if (first === undefined) throw new Error('a worker without stages');
    const sum = (f: (m: JobMetrics) => number): number => ms.reduce((a, m) => a + f(m), 0);
    const ops = this.operators();
    const recordsOut = ops
      .filter((x) => x.kind === 'sink' && !x.operatorId.endsWith(EXCHANGE_SUFFIX))
      .reduce((a, x) => a + x.recordsIn, 0);
    // The worker's checkpoint is its stages' oldest, once every stage has one.
    let oldest: CheckpointInfo | undefined;
    for (const m of ms) {
      const c = m.lastCheckpoint;
      if (c === undefined) {
        oldest = undefined;
        break;
      }
      if (oldest === undefined || c.completedAt < oldest.completedAt) oldest = c;
    }
    const backlogs = ms.map((m) => m.backlog).filter((b) => b !== undefined);
    const wm = Math.min(...ms.map((m) => m.watermark));
    return {
      ...first,
      recordsOut,
      watermark: wm,
      watermarkLagMs: ms.some((m) => m.watermarkLagMs === undefined)
        ? undefined
        : Math.max(...ms.map((m) => m.watermarkLagMs ?? 0)),
      backlog: backlogs.length === 0 ? undefined : backlogs.reduce((a, b) => a + b, 0),
      lateDropped: sum((m) => m.lateDropped),
      lateToSideOutput: sum((m) => m.lateToSideOutput),
      droppedTooOld: sum((m) => m.droppedTooOld),
      deadLetters: sum((m) => m.deadLetters),
      stateEntries: sum((m) => m.stateEntries),
      timers: sum((m) => m.timers),
      checkpointsCompleted: Math.min(...ms.map((m) => m.checkpointsCompleted)),
      checkpointsFailed: sum((m) => m.checkpointsFailed),
      lastCheckpoint: oldest,
      state: first.state,
      restoredFrom: first.restoredFrom,
      recordsIn: first.recordsIn,
      alignmentPauses: sum((m) => m.alignmentPauses),
      splitsPaused: sum((m) => m.splitsPaused),
    };
  }

  operators(): OperatorStats[] {
    return this.#runs.flatMap((r) => r.job.operators());
  }

  splits(): SplitStats[] {
    return this.#runs.flatMap((r) => r.job.splits());
  }

  preview(ids: readonly string[]): Map<string, SampledRecord[]> {
    const out = new Map<string, SampledRecord[]>();
    for (const r of this.#runs) for (const [k, v] of r.job.preview(ids)) out.set(k, [...(out.get(k) ?? []), ...v]);
    return out;
  }
}

/** A stage that failed to start leaves no connection open. */
function closing(clients: KafkaClients): (err: unknown) => Promise<never> {
  return async (err) => {
    await clients.close();
    throw err;
  };
}

function wholePlan(graph: Graph): StagePlan {
  return {
    head: { kind: 'sources' },
    name: 'sources',
    nodes: graph.nodes.map((n: GraphNode) => n.id),
    exchangesOut: [],
  };
}

async function startStage(o: StagesOptions, graph: Graph, name: string): Promise<Job> {
  const restore = await o.restoreFor(name);
  return startJob(graph, {
    parallelism: 1,
    worker: o.worker,
    // Two apps may run the same pipeline (same name) on one broker: their Kafka identities must differ.
    identity: `${o.app.namespace}.${o.app.name}.${graph.name}`,
    checkpoints: { dir: join(o.checkpointDir, name), intervalMs: o.checkpointIntervalMs, retain: o.retain },
    restoreFrom: restore,
    allowNonRestoredState: o.allowNonRestoredState,
    faults: o.faults,
  });
}
