import type { Json, TableConnector } from '../contract.ts';
import { decodeRecord, type RecordFormat } from './formats.ts';
import type { KafkaPort, KafkaReader } from './port.ts';

export interface KafkaTableOptions {
  readonly port: () => Promise<KafkaPort>;
  readonly topic: string;
  readonly format?: RecordFormat | undefined;
}

interface TableSnapshot {
  positions: Record<string, number>;
  rows: [string, Json][];
}

/**
 * A compacted topic as a table: latest value per record key, tombstones delete. Every worker
 * reads every partition (lookups are by any key). At first start it reads up to the end the
 * topic had when it opened before the job processes anything.
 */
export function kafkaTable(o: KafkaTableOptions): TableConnector {
  const rows = new Map<string, unknown>();
  const positions = new Map<number, number>();
  let reader: KafkaReader | undefined;
  let partitions: number[] = [];
  const format = o.format ?? 'json';

  const apply = (): number => {
    if (reader === undefined) return 0;
    const failure = reader.failure();
    if (failure !== undefined)
      throw new Error(`table ${o.topic}: the reader stopped: ${failure.message}`, { cause: failure });
    let n = 0;
    for (const p of partitions) {
      for (;;) {
        const batch = reader.take(o.topic, p, 4096);
        if (batch.length === 0) break;
        for (const r of batch) {
          positions.set(p, r.offset + 1);
          const key = r.key?.toString('utf8');
          if (key === undefined) continue; // a table row needs a key
          if (r.value === null) rows.delete(key);
          else rows.set(key, decodeRecord(r, format, undefined));
          n++;
        }
      }
    }
    return n;
  };

  return {
    type: 'kafka',
    get size() {
      return rows.size;
    },
    async open(ctx) {
      const port = await o.port();
      partitions = await port.partitions(o.topic);
      const saved = ctx.restored as TableSnapshot | null | undefined;
      if (saved !== undefined && saved !== null) {
        for (const [k, v] of saved.rows) rows.set(k, v);
        for (const [p, off] of Object.entries(saved.positions)) positions.set(Number(p), off);
      }
      const ends = new Map((await port.offsets(o.topic)).map((x) => [x.partition, x] as const));
      reader = await port.reader({
        clientId: `weir.${ctx.job}.${ctx.operatorId}.table.w${ctx.task.index}`,
        starts: partitions.map((partition) => ({
          topic: o.topic,
          partition,
          offset: positions.get(partition) ?? ends.get(partition)?.low ?? 0,
        })),
        maxBufferedPerPartition: 20_000,
      });
      // Bootstrap: the table holds everything written before the job started, as Kafka Streams' global tables do.
      const deadline = Date.now() + 120_000;
      const behind = (): boolean =>
        partitions.some((p) => (positions.get(p) ?? ends.get(p)?.low ?? 0) < (ends.get(p)?.high ?? 0));
      // A transaction marker can be the last offset: no progress for a second with nothing buffered is the end too.
      let idleSince = Date.now();
      while (behind() && Date.now() - idleSince < 1000) {
        if (apply() === 0) await new Promise((r) => setTimeout(r, 5));
        else idleSince = Date.now();
        if (Date.now() > deadline) throw new Error(`table ${o.topic}: not loaded within 120 s`);
      }
    },
    refresh() {
      apply();
    },
    get(key) {
      return rows.get(key);
    },
    snapshot(): Json {
      return {
        positions: Object.fromEntries([...positions].map(([p, off]) => [String(p), off])),
        rows: [...rows].map(([k, v]) => [k, v as Json]),
      } satisfies TableSnapshot;
    },
    async close() {
      await reader?.close();
    },
  };
}
