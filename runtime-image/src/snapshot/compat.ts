import type { Graph, GraphNode } from '../graph/graph.ts';
import type { OperatorSnapshot, SnapshotManifest } from './format.ts';

export interface CompatibilityProblem {
  /** The operator concerned ('job' for job-wide problems). */
  readonly operatorId: string;
  readonly message: string;
}

export interface CompatibilityReport {
  readonly compatible: boolean;
  readonly problems: readonly CompatibilityProblem[];
  /** Operators whose state the savepoint restores. */
  readonly restored: readonly string[];
  /** Savepoint state that will be dropped (only with allowNonRestoredState). */
  readonly notRestored: readonly string[];
  /** Stateful operators of the pipeline that will start with empty state. */
  readonly startingEmpty: readonly string[];
}

export interface CompatibilityOptions {
  readonly allowNonRestoredState?: boolean | undefined;
}

function hasState(s: OperatorSnapshot): boolean {
  return (
    (s.files?.some((f) => f.bytes > 0) ?? false) ||
    (s.state !== undefined && s.state !== null) ||
    Object.keys(s.splits ?? {}).length > 0
  );
}

export function variantOf(node: GraphNode): string | undefined {
  return node.kind === 'window' ? node.window.type : undefined;
}

/** Does a savepoint fit a pipeline? Pure: decides before anything runs (and backs `weir savepoint check`). */
export function checkSavepointCompatibility(
  graph: Graph,
  manifest: SnapshotManifest,
  options: CompatibilityOptions = {},
): CompatibilityReport {
  const problems: CompatibilityProblem[] = [];
  const restored: string[] = [];
  const notRestored: string[] = [];
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  if (manifest.maxParallelism !== graph.maxParallelism) {
    problems.push({
      operatorId: 'job',
      message: `the savepoint has maxParallelism ${manifest.maxParallelism} but the pipeline ${graph.maxParallelism}; key groups cannot be redistributed across a different maxParallelism`,
    });
  }
  for (const [id, snap] of Object.entries(manifest.operators)) {
    if (!hasState(snap)) continue;
    const node = nodes.get(id);
    if (node === undefined) {
      if (options.allowNonRestoredState === true) notRestored.push(id);
      else {
        problems.push({
          operatorId: id,
          message: `the savepoint has state for operator '${id}' (${snap.kind}) which the pipeline does not have; give the operator its old id or allow non-restored state`,
        });
      }
      continue;
    }
    if (node.kind !== snap.kind) {
      problems.push({
        operatorId: id,
        message: `operator '${id}' is a ${snap.kind} in the savepoint but a ${node.kind} in the pipeline`,
      });
      continue;
    }
    const variant = variantOf(node);
    if (snap.variant !== undefined && variant !== snap.variant) {
      problems.push({
        operatorId: id,
        message: `operator '${id}' has ${snap.variant} window state in the savepoint but is a ${String(variant)} window in the pipeline`,
      });
      continue;
    }
    if (node.kind === 'process') {
      const missing = (snap.states ?? []).filter((s) => !Object.hasOwn(node.fn.state, s));
      if (missing.length > 0 && options.allowNonRestoredState !== true) {
        problems.push({
          operatorId: id,
          message: `operator '${id}' does not declare state ${missing.map((m) => `'${m}'`).join(', ')} that the savepoint has`,
        });
        continue;
      }
      for (const name of snap.states ?? []) {
        const decl = node.fn.state[name];
        if (decl !== undefined && snap.stateKinds?.[name] !== undefined && snap.stateKinds[name] !== decl.kind) {
          problems.push({
            operatorId: id,
            message: `state '${name}' of operator '${id}' is ${snap.stateKinds[name]} state in the savepoint but ${decl.kind} state in the pipeline`,
          });
        }
      }
    }
    restored.push(id);
  }
  const startingEmpty = graph.nodes
    .filter(
      (n) =>
        n.kind !== 'map' && n.kind !== 'filter' && n.kind !== 'flatMap' && n.kind !== 'branch' && n.kind !== 'keyBy',
    )
    .filter((n) => {
      const s = manifest.operators[n.id];
      return s === undefined || !hasState(s);
    })
    .map((n) => n.id);
  return { compatible: problems.length === 0, problems, restored, notRestored, startingEmpty };
}

export function formatCompatibility(r: CompatibilityReport): string {
  const lines: string[] = [r.compatible ? 'compatible: the savepoint fits the pipeline' : 'NOT compatible:'];
  for (const p of r.problems) lines.push(`  - ${p.operatorId}: ${p.message}`);
  if (r.restored.length > 0) lines.push(`restored: ${r.restored.join(', ')}`);
  if (r.notRestored.length > 0) lines.push(`dropped (allowNonRestoredState): ${r.notRestored.join(', ')}`);
  if (r.startingEmpty.length > 0) lines.push(`starting with empty state: ${r.startingEmpty.join(', ')}`);
  return lines.join('\n');
}
