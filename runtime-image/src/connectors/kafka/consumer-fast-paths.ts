// kafkajs decodes every fetched record's offset and timestamp through 64-bit Longs and builds its
// headers by spreading an object per header. This is the same decoder with plain numbers where they
// are exact (offsets and millisecond timestamps are far below 2^53), and Longs otherwise.
import { kafkajsModule, replaceKafkajsModule } from './kafkajs-internals.ts';

interface Decoder {
  readInt8(): number;
  readVarLong(): { toNumber(): number };
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readVarIntArray<T>(each: (d: Decoder) => T): T[];
}
interface LongClass {
  fromValue(v: string | number): { add(v: unknown): { toString(): string } };
}
interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}
type HeaderDecoder = (d: Decoder) => { key: string; value: Buffer | null };
type HeaderValue = Buffer | null | (Buffer | null)[];

/** `base + delta` as kafkajs' decimal string, in numbers when exact. */
function sum(Long: LongClass, base: string, delta: number | { toNumber(): number }): string {
  const b = Number(base);
  const n = b + (typeof delta === 'number' ? delta : delta.toNumber());
  return Number.isSafeInteger(b) && Number.isSafeInteger(n) ? String(n) : Long.fromValue(base).add(delta).toString();
}

function recordDecoder(Long: LongClass, HeaderDecoder: HeaderDecoder, logAppendTime: number) {
  return (decoder: Decoder, batchContext: BatchContext) => {
    const {
      firstOffset,
      firstTimestamp,
      magicByte,
      isControlBatch = false,
      timestampType,
      maxTimestamp,
    } = batchContext;
    const attributes = decoder.readInt8();
    const timestampDelta = decoder.readVarLong();
    const timestamp =
      timestampType === logAppendTime && maxTimestamp !== undefined && maxTimestamp !== ''
        ? maxTimestamp
        : sum(Long, firstTimestamp, timestampDelta);
    const offset = sum(Long, firstOffset, decoder.readVarInt());
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    const headers: Record<string, HeaderValue> = {};
    for (const h of decoder.readVarIntArray(HeaderDecoder)) {
      const seen = headers[h.key];
      headers[h.key] = seen === undefined ? h.value : Array.isArray(seen) ? [...seen, h.value] : [seen, h.value];
    }
    return {
      magicByte,
      attributes,
      timestamp,
      offset,
      key,
      value,
      headers,
      isControlRecord: isControlBatch,
      batchContext,
    };
  };
}

replaceKafkajsModule('src/protocol/recordBatch/record/v0/decoder.js', 'src/protocol/recordBatch/v0/decoder.js', () =>
  recordDecoder(
    kafkajsModule('src/utils/long.js') as LongClass,
    kafkajsModule('src/protocol/recordBatch/header/v0/decoder.js') as HeaderDecoder,
    (kafkajsModule('src/protocol/timestampTypes.js') as { LOG_APPEND_TIME: number }).LOG_APPEND_TIME,
  ),
);
