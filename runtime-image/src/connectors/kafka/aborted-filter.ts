// kafkajs 2.2 drops a read_committed fetch's aborted records with a filter that activates at most
// one aborted transaction per record and assumes the broker lists them by first offset. With
// several producers aborting in one partition (the keyed exchange: one per worker, each aborting
// its open transaction when it dies), records of an aborted transaction can slip through, and are
// then counted twice once the writer re-produces them. This replaces the filter (the Java
// consumer's rule: every aborted transaction that started at or before a record is active until
// its producer's abort marker) before kafkajs loads it.
import { replaceKafkajsModule } from './kafkajs-internals.ts';

interface FetchedMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}

interface AbortedTransaction {
  readonly firstOffset: string;
  readonly producerId: string;
}

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

/** The records of a fetch that are not part of an aborted transaction (control records are left to the caller). */
export function withoutAborted(
  messages: readonly FetchedMessage[],
  abortedTransactions: readonly AbortedTransaction[] | undefined,
): FetchedMessage[] {
  if (abortedTransactions === undefined || abortedTransactions.length === 0) return [...messages];
  const pending = [...abortedTransactions].sort((a, b) =>
    BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : BigInt(a.firstOffset) > BigInt(b.firstOffset) ? 1 : 0,
  );
  const aborted = new Set<string>();
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    while (pending.length > 0 && offset >= BigInt(pending[0]?.firstOffset ?? 0)) {
      const t = pending.shift();
      if (t !== undefined) aborted.add(t.producerId);
    }
    const producer = m.batchContext.producerId;
    if (m.key !== null && Buffer.from(m.key).equals(ABORT_MARKER_KEY)) {
      aborted.delete(producer);
      return true;
    }
    return !(m.batchContext.inTransaction && aborted.has(producer));
  });
}

replaceKafkajsModule(
  'src/consumer/filterAbortedMessages.js',
  'src/consumer/batch.js',
  () =>
    ({ messages, abortedTransactions }: { messages: FetchedMessage[]; abortedTransactions?: AbortedTransaction[] }) =>
      withoutAborted(messages, abortedTransactions),
);
