import assert from 'node:assert/strict';
import { test } from 'node:test';
import './consumer-fast-paths.ts';
import { kafkajsModule, originalKafkajsModule } from './kafkajs-internals.ts';

interface Encoder {
  writeInt8(n: number): Encoder;
  writeVarLong(n: number): Encoder;
  writeVarInt(n: number): Encoder;
  writeVarIntBytes(b: Buffer | string | null): Encoder;
  writeVarIntString(s: string): Encoder;
  buffer: Buffer;
}
type RecordDecoder = (decoder: object, context: object) => Record<string, unknown>;

test("the record decoder gives kafkajs' offsets, timestamps and headers, also beyond 2^53", () => {
  const path = 'src/protocol/recordBatch/record/v0/decoder.js';
  const ours = kafkajsModule(path) as RecordDecoder;
  const theirs = originalKafkajsModule(path) as RecordDecoder;
  assert.notEqual(ours, theirs, 'kafkajs loads the replacement');
  const Encoder = kafkajsModule('src/protocol/encoder.js') as new () => Encoder;
  const Decoder = kafkajsModule('src/protocol/decoder.js') as new (b: Buffer) => object;
  const record = (timestampDelta: number, offsetDelta: number, headers: [string, string | null][]): Buffer => {
    const e = new Encoder()
      .writeInt8(0)
      .writeVarLong(timestampDelta)
      .writeVarInt(offsetDelta)
      .writeVarIntBytes('key')
      .writeVarIntBytes('{"v":1}')
      .writeVarInt(headers.length);
    for (const [k, v] of headers) e.writeVarIntString(k).writeVarIntBytes(v);
    return e.buffer;
  };
  const contexts = [
    { firstOffset: '0', firstTimestamp: '1700000000000', timestampType: 0, maxTimestamp: '1700000000999' },
    { firstOffset: '12345678901', firstTimestamp: '-1', timestampType: 0, maxTimestamp: '-1' },
    { firstOffset: '9007199254740990', firstTimestamp: '9007199254740993', timestampType: 0, maxTimestamp: '0' },
    {
      firstOffset: '5',
      firstTimestamp: '1700000000000',
      timestampType: 1,
      maxTimestamp: '1700000000999',
      isControlBatch: true,
    },
  ];
  const shapes: [number, number, [string, string | null][]][] = [
    [0, 0, []],
    [999, 7, [['a', 'x']]],
    [
      -12,
      300_000,
      [
        ['weir-wm', '3'],
        ['a', null],
        ['weir-wm', '4'],
        ['weir-wm', '5'],
      ],
    ],
  ];
  for (const context of contexts)
    for (const [t, o, h] of shapes) {
      const bytes = record(t, o, h);
      assert.deepEqual(
        ours(new Decoder(bytes), context),
        theirs(new Decoder(bytes), context),
        JSON.stringify({ context, t, o }),
      );
    }
});
