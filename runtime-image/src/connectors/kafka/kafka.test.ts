import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveConnection } from './connection.ts';
import { decodeRecord, MalformedRecordError } from './formats.ts';
import type { KafkaRecord } from './port.ts';
import { defaultKey } from './sink.ts';
import { deadLetterHeaders } from './dead-letters.ts';
import { PurgeHistory } from './purge-history.ts';
import { partitionsForWorker } from './source.ts';
import { orphanedWorkers, parseMarker, transactionTimeoutProblem, transactionalIdFor } from './transactions.ts';

const rec = (value: string | null, over: Partial<KafkaRecord> = {}): KafkaRecord => ({
  topic: 't',
  partition: 2,
  offset: 41,
  key: Buffer.from('k'),
  value: value === null ? null : Buffer.from(value),
  headers: { h: 'v' },
  timestamp: 1000,
  ...over,
});

test('each partition belongs to exactly one worker, p mod count', () => {
  const parts = [0, 1, 2, 3, 4, 5, 6];
  const shares = [0, 1, 2].map((i) => partitionsForWorker(parts, i, 3));
  assert.deepEqual(shares, [
    [0, 3, 6],
    [1, 4],
    [2, 5],
  ]);
});

test('after a downscale from 5 to 2 workers, the removed workers’ transactional ids are fenced by exactly one survivor', () => {
  assert.deepEqual(orphanedWorkers(0, 2, 5), [2, 4]);
  assert.deepEqual(orphanedWorkers(1, 2, 5), [3]);
  assert.deepEqual(orphanedWorkers(0, 3, 2), []);
  assert.deepEqual(orphanedWorkers(0, 1, undefined), []);
  assert.equal(transactionalIdFor('revenue', 3), 'weir.revenue.w3');
});

test('transaction timeout: refused above the broker maximum or under 3 checkpoint intervals, naming the settings', () => {
  assert.match(
    transactionTimeoutProblem('out', 3_600_000, 10_000, 900_000) ?? '',
    /transactionTimeout \(3600000 ms\).*transaction.max.timeout.ms \(900000 ms\)/,
  );
  assert.match(
    transactionTimeoutProblem('out', 20_000, 10_000, 900_000) ?? '',
    /at least 3 × checkpoints.interval \(10000 ms\)/,
  );
  assert.equal(transactionTimeoutProblem('out', 60_000, 10_000, 900_000), undefined);
});

test('markers: the epoch, or nothing for foreign metadata', () => {
  assert.deepEqual(parseMarker('{"epoch":12}'), { epoch: 12 });
  assert.equal(parseMarker(''), undefined);
  assert.equal(parseMarker('{"offset":3}'), undefined);
});

test('formats: JSON, string and bytes; metadata under a field; malformed JSON and tombstones are named', () => {
  assert.deepEqual(decodeRecord(rec('{"a":1}'), 'json', undefined), { a: 1 });
  assert.equal(decodeRecord(rec('plain'), 'string', undefined), 'plain');
  assert.equal(decodeRecord(rec('plain'), 'bytes', undefined), Buffer.from('plain').toString('base64'));
  assert.deepEqual(decodeRecord(rec('{"a":1}'), 'json', 'kafka'), {
    a: 1,
    kafka: { topic: 't', partition: 2, offset: 41, key: 'k', timestamp: 1000, headers: { h: 'v' } },
  });
  assert.deepEqual((decodeRecord(rec('x'), 'string', 'm') as { value: unknown }).value, 'x');
  assert.throws(
    () => decodeRecord(rec('{"a":'), 'json', undefined),
    (e: unknown) => e instanceof MalformedRecordError && e.message.includes('not JSON'),
  );
  assert.throws(() => decodeRecord(rec(null), 'json', undefined), /tombstone/);
});

test('dead-letter headers carry the error, the operator and the origin', () => {
  assert.deepEqual(deadLetterHeaders({ operatorId: 'ads', error: 'boom', value: 1, origin: rec('x') }), {
    'weir.error': 'boom',
    'weir.operator': 'ads',
    'weir.origin.topic': 't',
    'weir.origin.partition': '2',
    'weir.origin.offset': '41',
  });
  assert.deepEqual(deadLetterHeaders({ operatorId: 'm', error: 'e', value: 1 }), {
    'weir.error': 'e',
    'weir.operator': 'm',
  });
});

test('window results are keyed by their stable id, so a compacted topic keeps the newest revision', () => {
  assert.equal(defaultKey({ id: 'c1@60000', revision: 2 }), 'c1@60000');
  assert.equal(defaultKey({ campaign: 'c1' }), null);
});

test('connection: brokers from the pipeline or WEIR_KAFKA_BOOTSTRAP; SASL and TLS from the env and files the operator mounts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weir-tls-'));
  try {
    assert.deepEqual(resolveConnection({}, { WEIR_KAFKA_BOOTSTRAP: 'a:1, b:2' }).brokers, ['a:1', 'b:2']);
    assert.throws(() => resolveConnection({}, {}), /no brokers: set bootstrapServers .* or WEIR_KAFKA_BOOTSTRAP/);
    const sasl = resolveConnection(
      { bootstrapServers: ['a:1'], sasl: 'scram-sha-512' },
      { WEIR_KAFKA_USERNAME: 'u', WEIR_KAFKA_PASSWORD: 'p' },
    );
    assert.deepEqual(sasl.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p' });
    assert.throws(
      () => resolveConnection({ bootstrapServers: ['a:1'], sasl: 'plain' }, {}),
      /SASL plain needs WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD/,
    );
    await writeFile(join(dir, 'ca.pem'), 'CA');
    const tls = resolveConnection({ bootstrapServers: ['a:1'], tls: true }, { WEIR_KAFKA_TLS_DIR: dir });
    assert.deepEqual(tls.tls, { ca: 'CA', cert: undefined, key: undefined });
    await writeFile(join(dir, 'cert.pem'), 'CERT');
    assert.throws(
      () => resolveConnection({ bootstrapServers: ['a:1'], tls: true }, { WEIR_KAFKA_TLS_DIR: dir }),
      /mutual TLS needs both .*cert.pem and .*key.pem/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('purging: records go below the positions of the oldest commit still kept, only of watched topics', () => {
  const h = new PurgeHistory();
  h.keep('exchange', 3);
  const commit = (offset: number) =>
    h.committed([
      {
        topic: 'exchange',
        partitions: [
          { partition: 0, offset },
          { partition: 1, offset: offset * 2 },
        ],
      },
      { topic: 'input', partitions: [{ partition: 0, offset: offset * 10 }] },
    ]);
  assert.equal(commit(10).size, 0);
  assert.equal(commit(20).size, 0);
  assert.equal(commit(30).size, 0, 'three commits kept, nothing below the oldest yet');
  assert.deepEqual(commit(40).get('exchange'), [
    { partition: 0, offset: 20 },
    { partition: 1, offset: 40 },
  ]);
  assert.deepEqual([...commit(50).keys()], ['exchange'], 'a topic that is not watched is never purged');
  assert.equal(h.watches('input'), false);
});
