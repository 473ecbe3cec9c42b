import type { DeadLetter, DeadLetterWriter } from '../contract.ts';
import type { KafkaWriteScope } from './transactions.ts';

/** Dead-letter headers: the error, the operator and, where known, the origin. */
export function deadLetterHeaders(d: DeadLetter): Record<string, string> {
  return {
    'weir.error': d.error.slice(0, 1000),
    'weir.operator': d.operatorId,
    ...(d.origin === undefined
      ? {}
      : {
          'weir.origin.topic': d.origin.topic,
          'weir.origin.partition': String(d.origin.partition),
          'weir.origin.offset': String(d.origin.offset),
        }),
  };
}

/**
 * Writes dead letters to a topic through the job's exactly-once write scope, so that they commit
 * with the epoch's outputs: a restored job neither loses nor repeats one. The raw record when it
 * could not be decoded, else the value as JSON.
 */
export function kafkaDeadLetters(topic: string, scope: () => KafkaWriteScope): DeadLetterWriter {
  let n = 0;
  return {
    write(d) {
      n++;
      void scope()
        .write([
          {
            topic,
            key: d.raw?.key ?? null,
            value: d.raw !== undefined ? d.raw.value : JSON.stringify(d.value ?? null),
            headers: { ...d.raw?.headers, ...deadLetterHeaders(d) },
          },
        ])
        ?.catch(() => undefined); // a failed send surfaces at the next flush (checkpoint)
    },
    count: () => n,
  };
}
