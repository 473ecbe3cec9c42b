// How a worker runs and restarts its job: pure decisions.
import { KEYED_KINDS, type Graph } from '../graph/graph.ts';

/** Keyed operators need every record of a key on one worker: across workers that takes the exchange through Kafka. */
export function parallelismProblem(graph: Graph, workers: number): string | undefined {
  if (workers <= 1) return undefined;
  const keyed = graph.nodes.filter((n) => KEYED_KINDS.has(n.kind)).map((n) => n.id);
  if (keyed.length === 0) return undefined;
  return `invalid pipeline for parallelism ${workers}: keyed operators (${keyed.join(', ')}) exchange records between workers through Kafka: set spec.kafka, or spec.parallelism 1`;
}

/** Failures a restart cannot fix: the job stays FAILED until the spec changes. */
export function isPermanent(err: Error): boolean {
  return /does not fit pipeline|invalid pipeline|invalid runtime config|cannot restore|WEIR_ENTRYPOINT|cannot read the pipeline|beyond parallelism/.test(
    err.message,
  );
}

/**
 * Exponential backoff between restarts (as Flink's exponential-delay strategy): 1 s doubling to
 * 30 s; a job that ran for a minute since its last start begins again at 1 s.
 */
export function restartDelayMs(consecutiveFailures: number, ranForMs: number): number {
  if (ranForMs >= 60_000) return 1000;
  return Math.min(30_000, 1000 * 2 ** Math.max(0, consecutiveFailures - 1));
}
