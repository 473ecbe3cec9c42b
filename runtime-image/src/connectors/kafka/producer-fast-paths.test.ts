import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { kafkajsModule, originalKafkajsModule } from './kafkajs-internals.ts';
import { groupMessagesPerPartition, javaCompatiblePartitioner, murmur2 } from './producer-fast-paths.ts';

type Murmur2 = (key: Buffer | string) => number;
interface Encoded {
  buffer: Buffer;
}
type RecordEncoder = (fields: object) => Encoded;

interface Enc {
  writeVarInt(n: number): Enc;
  writeUVarInt: (n: number) => Enc;
  writeVarLong(n: number): Enc;
  buffer: Buffer;
}

const randomKey = (): Buffer => randomBytes(Math.floor(Math.random() * 41));

test("murmur2 gives the Java client's hashes (its own test cases) and kafkajs' on random keys", () => {
  // org.apache.kafka.common.utils.UtilsTest#testMurmur2
  const java: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, hash] of java) assert.equal(murmur2(Buffer.from(key)), hash, key);
  const kafkajs = originalKafkajsModule('src/producer/partitioners/default/murmur2.js') as Murmur2;
  for (let i = 0; i < 5_000; i++) {
    const key = randomKey();
    assert.equal(murmur2(key), kafkajs(key), key.toString('hex'));
  }
});

test("the partitioner picks kafkajs' DefaultPartitioner's partition for keyed and explicit records", () => {
  const partitionMetadata = [...Array(7).keys()].map((partitionId) => ({ partitionId, leader: 1 }));
  const ours = javaCompatiblePartitioner();
  const theirs = (
    originalKafkajsModule('src/producer/partitioners/index.js') as { DefaultPartitioner: () => typeof ours }
  ).DefaultPartitioner();
  for (let i = 0; i < 2_000; i++) {
    const message = i % 10 === 0 ? { key: randomKey(), partition: i % 7 } : { key: `k${i}` };
    assert.equal(ours({ topic: 't', partitionMetadata, message }), theirs({ topic: 't', partitionMetadata, message }));
  }
  const unkeyed = new Set([...Array(14).keys()].map(() => ours({ topic: 't', partitionMetadata, message: {} })));
  assert.equal(unkeyed.size, 7, 'records without a key go round robin over every partition');
});

test('grouping by partition keeps every record once, in send order within its partition', () => {
  const messages = [...Array(1_000).keys()].map((i) => ({ key: `k${i}`, i }));
  const partitionMetadata = [...Array(4).keys()].map((partitionId) => ({ partitionId, leader: 1 }));
  const partitioner = javaCompatiblePartitioner();
  const groups = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
  const all = Object.values(groups).flat() as typeof messages;
  assert.equal(all.length, messages.length);
  for (const [partition, group] of Object.entries(groups)) {
    const indices = (group as typeof messages).map((m) => m.i);
    assert.deepEqual(
      indices,
      [...indices].sort((a, b) => a - b),
    );
    for (const m of group) assert.equal(partitioner({ topic: 't', partitionMetadata, message: m }), Number(partition));
  }
  assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner }), {});
});

test("the record encoder writes kafkajs' bytes for records with and without keys, values and headers", () => {
  const path = 'src/protocol/recordBatch/record/v0/index.js';
  const theirs = originalKafkajsModule(path) as RecordEncoder;
  // Importing producer-fast-paths.ts replaced the module that kafkajs loads.
  const loaded = kafkajsModule(path) as RecordEncoder;
  assert.notEqual(loaded, theirs, 'kafkajs loads the replacement');
  const cases = [
    { offsetDelta: 0, timestampDelta: 0, key: null, value: null },
    { offsetDelta: 3, timestampDelta: 1_234_567, key: 'k1', value: '{"a":1}' },
    { offsetDelta: 300, timestampDelta: -5, key: randomBytes(200), value: randomBytes(5_000) },
    { offsetDelta: 1, timestampDelta: 2, key: 'é€😀', value: 'ü'.repeat(100), headers: { a: 'b', weir: ['x', 'yy'] } },
  ];
  for (const c of cases) assert.deepEqual(loaded(c).buffer, theirs(c).buffer);
});

test("the encoder's varints and varlongs are kafkajs' bytes", () => {
  const Ours = kafkajsModule('src/protocol/encoder.js') as new () => Enc;
  const Theirs = originalKafkajsModule('src/protocol/encoder.js') as new () => Enc;
  assert.notEqual(new Ours().writeUVarInt, new Theirs().writeUVarInt, 'the loaded encoder is patched');
  const values = [
    0,
    1,
    -1,
    63,
    64,
    -64,
    -65,
    127,
    128,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 40,
    -(2 ** 45),
  ];
  for (let i = 0; i < 2_000; i++) values.push(Math.round((Math.random() - 0.5) * 2 ** (1 + (i % 52))));
  for (const v of values) {
    if ((v | 0) === v) {
      assert.deepEqual(new Ours().writeVarInt(v).buffer, new Theirs().writeVarInt(v).buffer, `varint ${v}`);
      assert.deepEqual(new Ours().writeUVarInt(v).buffer, new Theirs().writeUVarInt(v).buffer, `uvarint ${v}`);
    }
    assert.deepEqual(new Ours().writeVarLong(v).buffer, new Theirs().writeVarLong(v).buffer, `varlong ${v}`);
  }
});

test("the batch checksum is kafkajs' CRC-32C", () => {
  const path = 'src/protocol/recordBatch/crc32C/index.js';
  const ours = kafkajsModule(path) as (b: Buffer) => number;
  const theirs = originalKafkajsModule(path) as (b: Buffer) => number;
  assert.notEqual(ours, theirs, 'kafkajs loads the replacement');
  assert.equal(ours(Buffer.from('123456789')), 0xe3069283); // CRC-32C's check value
  for (let i = 0; i < 500; i++) {
    const b = randomBytes(Math.floor(Math.random() * 3_000));
    assert.equal(ours(b), theirs(b));
  }
});

test("the encoder's grown buffers hold kafkajs' bytes", () => {
  interface Growing {
    writeInt32(n: number): Growing;
    writeBytes(b: Buffer): Growing;
    writeVarIntBytes(b: string): Growing;
    buffer: Buffer;
  }
  const Ours = kafkajsModule('src/protocol/encoder.js') as new (size?: number) => Growing;
  const Theirs = originalKafkajsModule('src/protocol/encoder.js') as new (size?: number) => Growing;
  const chunks = [...Array(200).keys()].map((i) => randomBytes(i * 37));
  const write = (e: Growing): Buffer => {
    for (const [i, c] of chunks.entries()) e.writeInt32(i).writeBytes(c).writeVarIntBytes(`k${i}`);
    return e.buffer;
  };
  assert.deepEqual(write(new Ours(1)), write(new Theirs(1)));
});
