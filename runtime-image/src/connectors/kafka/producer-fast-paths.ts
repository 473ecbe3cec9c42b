// kafkajs' producer steps cost a third of an exactly-once job's CPU (profile of the Kafka bench):
// grouping a send's records by partition copies the group on every record (quadratic; kafkajs PR
// #1576, never merged), each record's encoder zero-fills a 512-byte buffer, each varint goes
// through an array and `Buffer.from`, murmur2 multiplies 64-bit Longs, and the batch checksum is
// CRC-32C a byte at a time in JavaScript. These are the same steps: linear, pooled, in place, in
// int32 math, and the checksum from @node-rs/crc32 (native, hardware CRC-32C).
import { crc32c } from '@node-rs/crc32';
import { kafkajsModule, replaceKafkajsModule } from './kafkajs-internals.ts';

interface Message {
  readonly key?: Buffer | string | null;
  readonly partition?: number | null;
}
interface PartitionMetadata {
  readonly partitionId: number;
  readonly leader: number;
}
type Partitioner = (args: { topic: string; partitionMetadata: PartitionMetadata[]; message: Message }) => number;

/** kafkajs' `groupMessagesPerPartition`: partition → its records in send order. */
export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: PartitionMetadata[];
  messages: readonly Message[];
  partitioner: Partitioner;
}): Record<number, Message[]> {
  const groups: Record<number, Message[]> = {};
  if (partitionMetadata.length === 0) return groups;
  for (const message of messages) (groups[partitioner({ topic, partitionMetadata, message })] ??= []).push(message);
  return groups;
}

/** The Java client's murmur2 (`Utils.murmur2`), which its default partitioner hashes keys with. */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = (data[i] ?? 0) | ((data[i + 1] ?? 0) << 8) | ((data[i + 2] ?? 0) << 16) | ((data[i + 3] ?? 0) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= (data[whole + 2] ?? 0) << 16;
  if (rest >= 2) h ^= (data[whole + 1] ?? 0) << 8;
  if (rest >= 1) h = Math.imul(h ^ (data[whole] ?? 0), m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  return h ^ (h >>> 15);
}

/**
 * kafkajs' `DefaultPartitioner` (the Java client's): the record's partition if it names one, else
 * murmur2 of its key modulo the partition count, else round robin over partitions with a leader.
 */
export function javaCompatiblePartitioner(): Partitioner {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }) => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) {
      const key = typeof message.key === 'string' ? Buffer.from(message.key) : message.key;
      return (murmur2(key) & 0x7fffffff) % partitionMetadata.length;
    }
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    const next = ((counters.get(topic) ?? Math.floor(Math.random() * 0x7fffffff)) + 1) & 0x7fffffff;
    counters.set(topic, next);
    const at = available.length > 0 ? available : partitionMetadata;
    return at[next % at.length]?.partitionId ?? 0;
  };
}

interface Encoder {
  buf: Buffer;
  offset: number;
  ensureAvailable: (this: Encoder, bytes: number) => void;
  writeInt8(n: number): Encoder;
  writeUVarInt(n: number): Encoder;
  writeVarInt(n: number): Encoder;
  writeVarLong: (this: Encoder, n: number | object) => Encoder;
  writeVarIntBytes(b: Buffer | string | null | undefined): Encoder;
}
interface EncoderClass {
  prototype: Encoder;
  sizeOfVarInt(n: number): number;
  sizeOfVarLong(n: number): number;
  sizeOfVarIntBytes(b: Buffer | string | null | undefined): number;
}
interface RecordFields {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[]>;
}

/** Bytes of `value` (unsigned 32-bit) as a LEB128 varint. */
function uvarintSize(value: number): number {
  let bytes = 1;
  for (let v = value >>> 7; v !== 0; v >>>= 7) bytes++;
  return bytes;
}

/**
 * kafkajs writes each varint through a fresh array and `Buffer.from`, and each varlong through
 * 64-bit Longs; these write the same bytes in place (varlongs in 32-bit range, the common case).
 */
function fasterVarints(Encoder: EncoderClass): void {
  const writeVarLong = Encoder.prototype.writeVarLong;
  Encoder.prototype.writeUVarInt = function (this: Encoder, value: number): Encoder {
    let v = value >>> 0;
    this.ensureAvailable(uvarintSize(v));
    while (v > 0x7f) {
      this.buf[this.offset++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.offset++] = v;
    return this;
  };
  Encoder.prototype.writeVarLong = function (this: Encoder, value: number | object): Encoder {
    if (typeof value === 'number' && (value | 0) === value) return this.writeUVarInt((value << 1) ^ (value >> 31));
    return writeVarLong.call(this, value);
  };
  // Growing a request's buffer: kafkajs zero-fills every doubling, though only bytes up to `offset` are ever read.
  Encoder.prototype.ensureAvailable = function (this: Encoder, length: number): void {
    if (this.offset + length <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(1 << (32 - Math.clz32(this.offset + length)));
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  };
}

/** kafkajs' record v0 encoder (headers included), writing into an exact-size buffer from Node's pool. */
function recordEncoder(Encoder: EncoderClass): (fields: RecordFields) => Encoder {
  return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }) => {
    const headerList: { key: string; value: Buffer | string }[] = [];
    for (const [k, v] of Object.entries(headers))
      if (Array.isArray(v)) for (const one of v) headerList.push({ key: k, value: one });
      else headerList.push({ key: k, value: v });
    let headersSize = Encoder.sizeOfVarInt(headerList.length);
    for (const h of headerList) headersSize += Encoder.sizeOfVarIntBytes(h.key) + Encoder.sizeOfVarIntBytes(h.value);
    const body =
      1 +
      Encoder.sizeOfVarLong(timestampDelta) +
      Encoder.sizeOfVarInt(offsetDelta) +
      Encoder.sizeOfVarIntBytes(key) +
      Encoder.sizeOfVarIntBytes(value) +
      headersSize;
    // Every byte up to `offset` is written, and kafkajs reads a record only up to its offset.
    const encoder = Object.create(Encoder.prototype) as Encoder;
    encoder.buf = Buffer.allocUnsafe(Encoder.sizeOfVarInt(body) + body);
    encoder.offset = 0;
    encoder
      .writeVarInt(body)
      .writeInt8(0)
      .writeVarLong(timestampDelta)
      .writeVarInt(offsetDelta)
      .writeVarIntBytes(key)
      .writeVarIntBytes(value)
      .writeVarInt(headerList.length);
    for (const h of headerList) encoder.writeVarIntBytes(h.key).writeVarIntBytes(h.value);
    return encoder;
  };
}

const Encoder = kafkajsModule('src/protocol/encoder.js') as EncoderClass;
fasterVarints(Encoder);
replaceKafkajsModule(
  'src/protocol/recordBatch/crc32C/index.js',
  'src/protocol/recordBatch/v0/index.js',
  () => (b: Buffer) => crc32c(b) >>> 0,
);
replaceKafkajsModule(
  'src/producer/groupMessagesPerPartition.js',
  'src/producer/sendMessages.js',
  () => groupMessagesPerPartition,
);
replaceKafkajsModule('src/protocol/recordBatch/record/v0/index.js', 'src/protocol/requests/produce/v3/request.js', () =>
  recordEncoder(Encoder),
);
