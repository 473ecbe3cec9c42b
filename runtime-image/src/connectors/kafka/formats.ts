import type { KafkaRecord } from './port.ts';

export type RecordFormat = 'json' | 'string' | 'bytes';

/** Thrown for a record that cannot be read: it goes to the dead-letter topic (or fails the job, by policy). */
export class MalformedRecordError extends Error {
  override readonly name = 'MalformedRecordError';
}

/** Decodes a record's value; `metadataField` adds topic, partition, offset, key, timestamp and headers to it. */
export function decodeRecord(r: KafkaRecord, format: RecordFormat, metadataField: string | undefined): unknown {
  let value: unknown;
  if (format === 'bytes') value = r.value === null ? null : r.value.toString('base64');
  else if (format === 'string') value = r.value?.toString('utf8') ?? null;
  else {
    if (r.value === null)
      throw new MalformedRecordError('the record has no value (a tombstone) where JSON is expected');
    try {
      value = JSON.parse(r.value.toString('utf8'));
    } catch (err) {
      throw new MalformedRecordError(`the value is not JSON: ${(err as Error).message}`);
    }
  }
  if (metadataField === undefined) return value;
  const meta = {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    key: r.key === null ? null : r.key.toString('utf8'),
    timestamp: r.timestamp,
    headers: r.headers,
  };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { ...value, [metadataField]: meta };
  return { value, [metadataField]: meta };
}

export function encodeValue(v: unknown, format: RecordFormat): string | Buffer | null {
  if (v === null || v === undefined) return null;
  if (format === 'json') return JSON.stringify(v);
  if (format === 'bytes') return typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(JSON.stringify(v));
  return typeof v === 'string' ? v : JSON.stringify(v);
}
