import type { ConnectorContext, Json, TableConnector } from '../connectors/contract.ts';
import type { Operator, Output, Rec } from '../runtime/operator.ts';
import type { RecordFailure } from './basic.ts';

/**
 * Stream–table lookup join: each record gets the table's current row for its key under `as`
 * (null when there is none), as a Kafka Streams KStream–GlobalKTable join. Table updates are
 * applied between batches; the table's rows and position go into checkpoints.
 */
export function lookupOperator(
  table: TableConnector,
  keyOf: (v: unknown) => unknown,
  as: string,
  connector: ConnectorContext,
  onFailure: RecordFailure,
): Operator {
  let restored: Json | undefined;
  return {
    restore(state: unknown) {
      restored = state as Json;
    },
    async open() {
      await table.open({ ...connector, restored });
    },
    processBatch(batch: Rec[], out: Output) {
      table.refresh();
      const next: Rec[] = [];
      for (const r of batch) {
        let row: unknown;
        try {
          const k = keyOf(r.value);
          row = table.get(typeof k === 'string' ? k : JSON.stringify(k)) ?? null;
        } catch (err) {
          if (onFailure === undefined) throw err;
          onFailure(r, err);
          continue;
        }
        const base = r.value !== null && typeof r.value === 'object' ? r.value : { value: r.value };
        next.push({ value: { ...base, [as]: row }, ts: r.ts, key: r.key, kg: r.kg, origin: r.origin });
      }
      return next.length > 0 ? out.emit(next) : undefined;
    },
    onTick() {
      table.refresh();
    },
    onCheckpoint() {
      return table.snapshot();
    },
    close() {
      return table.close();
    },
  };
}
