import { join } from 'node:path';
import type { Json } from '../connectors/contract.ts';
import type { Graph } from '../graph/graph.ts';
import { variantOf } from '../snapshot/compat.ts';
import {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  markCommitted,
  writeKeyedState,
  writeManifest,
  type KeyedStateFile,
  type OperatorSnapshot,
  type SnapshotManifest,
} from '../snapshot/format.ts';
import type { FaultSwitches } from './job.ts';
import type { SourceDriver } from './sources.ts';
import type { Task, TaskGraph } from './tasks.ts';

export interface SnapshotRun {
  readonly graph: Graph;
  readonly parallelism: number;
  readonly workers: number;
  readonly tasks: TaskGraph;
  readonly sources: SourceDriver;
  readonly faults: FaultSwitches | undefined;
}

interface NodeSnapshot {
  files: KeyedStateFile[];
  states: Set<string>;
  state: Json | undefined;
  watermark: number;
}

/**
 * One epoch's snapshot, under the commit protocol (`connectors/contract.ts`): source positions
 * (after the last emitted record), then the barrier through the graph as messages (each task
 * snapshots when aligned; sinks pre-commit), then the manifest (the snapshot is pending), then
 * the sinks commit, then the snapshot is marked committed. `dir` absent: only the commit happens.
 */
export async function takeSnapshot(
  run: SnapshotRun,
  epoch: number,
  kind: 'checkpoint' | 'savepoint',
  dir: string | undefined,
  startedAt: number,
): Promise<{ bytes: number }> {
  const faults = run.faults?.onCheckpointPhase;
  await faults?.('barrier', epoch);
  const operators: Record<string, OperatorSnapshot> = {};
  for (const rt of run.tasks.nodes) if (rt.node.kind === 'source') operators[rt.node.id] = run.sources.snapshot(rt);
  const byNode = new Map<string, NodeSnapshot>();
  const opStates = new Map<Task, unknown>();
  let bytes = 0;
  await run.tasks.barrier(epoch, kind === 'savepoint', async (t) => {
    const id = t.node.node.id;
    let n = byNode.get(id);
    if (n === undefined)
      byNode.set(id, (n = { files: [], states: new Set(), state: undefined, watermark: Number.MAX_SAFE_INTEGER }));
    const s = await t.op.onCheckpoint?.(epoch, t.out, kind === 'savepoint');
    if (s !== undefined) {
      opStates.set(t, s);
      n.state = s as Json;
    }
    n.watermark = Math.min(n.watermark, t.wm);
    if (t.store !== undefined && t.timers !== undefined) {
      for (const table of t.store.tables()) n.states.add(table.name);
      if (dir !== undefined) {
        const file = `${id}.${t.index}.jsonl`;
        const b = await writeKeyedState(join(dir, file), t.store, t.timers);
        bytes += b;
        n.files.push({ file, start: t.store.range.start, end: t.store.range.end, bytes: b });
      }
    }
  });
  for (const rt of run.tasks.nodes) {
    const node = rt.node;
    if (node.kind === 'source') continue;
    const n = byNode.get(node.id);
    if (n === undefined) throw new Error(`the barrier of epoch ${epoch} never reached operator '${node.id}'`);
    operators[node.id] = {
      kind: node.kind,
      variant: variantOf(node),
      keyed: rt.keyed,
      ...(rt.keyed ? { states: [...n.states], files: n.files } : {}),
      ...(node.kind === 'process'
        ? { stateKinds: Object.fromEntries(Object.entries(node.fn.state).map(([k, v]) => [k, v.kind])) }
        : {}),
      ...(n.state !== undefined ? { state: n.state } : {}),
      watermark: n.watermark,
    };
  }
  await faults?.('state-written', epoch);
  if (dir !== undefined) {
    const manifest: SnapshotManifest = {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      kind,
      job: run.graph.name,
      epoch,
      createdAt: new Date(startedAt).toISOString(),
      maxParallelism: run.graph.maxParallelism,
      parallelism: run.parallelism,
      workers: run.workers,
      operators,
    };
    await writeManifest(dir, manifest);
  }
  await faults?.('manifest-written', epoch);
  for (const [t, s] of opStates) await t.op.onCheckpointComplete?.(epoch, s);
  await faults?.('committed', epoch);
  if (dir !== undefined) await markCommitted(dir);
  return { bytes };
}
