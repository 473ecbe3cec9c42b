import type { ConnectorContext, Json, SinkConnector } from '../connectors/contract.ts';
import type { Operator, Rec } from '../runtime/operator.ts';

interface SinkState {
  epoch: number;
  committable: Json;
}

/** Drives a sink through the checkpoint protocol: pre-commit at the barrier, commit on completion. */
export function sinkOperator(sink: SinkConnector<unknown>, connector: ConnectorContext): Operator {
  let restored: SinkState | undefined;
  return {
    restore(state: unknown) {
      restored = state as SinkState;
    },
    async open() {
      await sink.open({ ...connector, restored: restored?.committable });
    },
    processBatch(batch: Rec[]) {
      return sink.write(
        batch.map((r) => r.value),
        batch.map((r) => r.ts),
      );
    },
    onWatermark(watermark: number) {
      return sink.onWatermark?.(watermark);
    },
    async onCheckpoint(epoch: number, _out, savepoint: boolean): Promise<SinkState> {
      return { epoch, committable: await sink.preCommit(epoch, savepoint) };
    },
    async onCheckpointComplete(epoch: number, state: unknown) {
      const s = state as SinkState;
      await sink.commit(epoch, s.committable);
    },
    async close(mode) {
      if (mode === 'cancel') await sink.abort();
      await sink.close();
    },
  };
}
