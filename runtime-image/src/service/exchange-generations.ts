// Which generation of exchange topics a deployment uses, and when older generations go.
//
// A deployment that starts fresh or from a savepoint writes new exchange topics (exchange.ts); one
// that continues from checkpoints (a restart, a last-state upgrade) continues their generation.
// Each deployment records its generation and topics in its checkpoint directory. Once a deployment
// has completed a checkpoint, the operator restores only its checkpoints or a savepoint (a new
// generation), never an older deployment's checkpoints: worker 0 then deletes the topics of the
// app's other generations (128 partitions each by default; left alone they exhaust a broker's file
// handles) and marks their records, so that a restore from such a checkpoint fails, naming why.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { KafkaPort } from '../connectors/kafka/port.ts';
import { readJobSavepointManifest } from '../snapshot/job-snapshot.ts';
import { exchangeTopic, exchangeTopicPrefix } from './exchange.ts';

/** The record in a deployment's checkpoint directory. */
export const EXCHANGE_FILE = '_exchange.json';

export interface AppName {
  readonly namespace: string;
  readonly name: string;
}

/** Records written before topics were recorded hold the generation only (their topics are left alone). */
export interface GenerationRecord {
  readonly generation: string;
  readonly app?: AppName;
  readonly topics?: readonly string[];
  /** The topics were deleted: the deployment's checkpoints cannot be restored. */
  readonly deleted?: boolean;
}

/** Atomically; every worker of a deployment writes its record at once, each through a temporary file of its own. */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}

async function readRecord(dir: string): Promise<GenerationRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, EXCHANGE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const r = JSON.parse(text) as GenerationRecord;
  return typeof r.generation === 'string' ? r : undefined;
}

/** Why a deployment cannot continue `record`'s generation, if it cannot. */
function deletedProblem(from: string, record: GenerationRecord): string | undefined {
  if (record.deleted !== true) return undefined;
  return `cannot restore ${from}: its checkpoints continue exchange generation ${record.generation}, whose Kafka topics were deleted once a later deployment completed a checkpoint; restore a savepoint instead`;
}

/**
 * The deployment's generation, recorded on its first start: its own when it starts fresh or from a
 * savepoint (a savepoint's exchange positions are at the end: the old topics hold nothing it
 * needs, and may hold records written after it); the restored checkpoints' when it continues them.
 */
export async function deploymentGeneration(o: {
  deploymentDir: string;
  restoreFrom: string | null;
  app: AppName;
  /** The exchange keyBys of the deployment's pipeline. */
  keyBys: readonly string[];
}): Promise<string> {
  const mine = await readRecord(o.deploymentDir);
  if (mine !== undefined) {
    const problem = deletedProblem(o.deploymentDir, mine);
    if (problem !== undefined) throw new Error(problem);
    return mine.generation;
  }
  let generation = basename(o.deploymentDir);
  const from = o.restoreFrom;
  if (from !== null && (await readJobSavepointManifest(from)) === undefined) {
    const theirs = await readRecord(from);
    const problem = theirs === undefined ? undefined : deletedProblem(from, theirs);
    if (problem !== undefined) throw new Error(problem);
    // A snapshot without an exchange record: a fresh generation.
    if (theirs !== undefined) generation = theirs.generation;
  }
  await mkdir(o.deploymentDir, { recursive: true });
  const topics = o.keyBys.map((k) => exchangeTopic(o.app, k, generation));
  await writeJson(join(o.deploymentDir, EXCHANGE_FILE), { generation, app: o.app, topics } satisfies GenerationRecord);
  return generation;
}

/** The topics to delete once `current` has a completed checkpoint: every other generation's of this app. */
export function obsoleteTopics(records: readonly GenerationRecord[], app: AppName, current: string): string[] {
  const own = exchangeTopicPrefix(app); // never another app's topic
  const topics = new Set<string>();
  for (const r of records) {
    if (r.generation === current || r.deleted === true || r.topics === undefined) continue;
    if (r.app?.namespace !== app.namespace || r.app.name !== app.name) continue;
    for (const t of r.topics) if (t.startsWith(own) && t.endsWith(`.${r.generation}`)) topics.add(t);
  }
  return [...topics].sort();
}

/** Deletes the app's older generations' topics (see the top of this file); returns what went. */
export async function deleteOlderGenerations(o: {
  checkpointsDir: string;
  app: AppName;
  current: string;
  port: Pick<KafkaPort, 'deleteTopics'>;
}): Promise<{ generations: string[]; topics: string[] }> {
  const dirs = (await readdir(o.checkpointsDir, { withFileTypes: true }).catch(() => []))
    .filter((d) => d.isDirectory())
    .map((d) => join(o.checkpointsDir, d.name));
  const found = (await Promise.all(dirs.map(async (dir) => ({ dir, record: await readRecord(dir) })))).filter(
    (x): x is { dir: string; record: GenerationRecord } => x.record !== undefined,
  );
  const topics = obsoleteTopics(
    found.map((f) => f.record),
    o.app,
    o.current,
  );
  const older = found.filter((f) => obsoleteTopics([f.record], o.app, o.current).length > 0);
  const deleted = await o.port.deleteTopics(topics);
  // Marked only after the deletion: a crash in between deletes again (nothing), never skips.
  for (const f of older) await writeJson(join(f.dir, EXCHANGE_FILE), { ...f.record, deleted: true });
  return { generations: [...new Set(older.map((f) => f.record.generation))].sort(), topics: deleted };
}
