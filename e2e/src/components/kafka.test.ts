import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Partitioners, type Consumer, type Producer } from 'kafkajs';

import { waitFor, type Availability } from './component.ts';
import {
  createTopic,
  defaultKafkaImage,
  kafkaClient,
  kafkaForTests,
  parseBrokers,
  parseHostConnection,
  parseTransactionList,
  selectKafkaProvider,
  type KafkaBroker,
} from './kafka.ts';

describe('selectKafkaProvider', () => {
  it('runs the host broker by default', () => {
    assert.deepEqual(selectKafkaProvider({}), { kind: 'host' });
    assert.deepEqual(selectKafkaProvider({ WEIR_COMPONENTS: 'host', KAFKA_BROKERS: ' ' }), { kind: 'host' });
  });

  it('uses an existing broker when KAFKA_BROKERS names one, whatever the components', () => {
    assert.deepEqual(selectKafkaProvider({ KAFKA_BROKERS: 'k1:9092, k2:9093', WEIR_COMPONENTS: 'testcontainers' }), {
      kind: 'external',
      brokers: ['k1:9092', 'k2:9093'],
    });
  });

  it('runs a Kafka container only when asked to, with an overridable image', () => {
    assert.deepEqual(selectKafkaProvider({ WEIR_COMPONENTS: 'testcontainers' }), {
      kind: 'testcontainers',
      image: defaultKafkaImage,
    });
    assert.deepEqual(
      selectKafkaProvider({ WEIR_COMPONENTS: 'testcontainers', WEIR_KAFKA_IMAGE: 'apache/kafka:3.9.2' }),
      {
        kind: 'testcontainers',
        image: 'apache/kafka:3.9.2',
      },
    );
  });

  it('rejects an unknown WEIR_COMPONENTS value by name', () => {
    assert.throws(() => selectKafkaProvider({ WEIR_COMPONENTS: 'docker' }), /WEIR_COMPONENTS .*"docker"/);
  });
});

describe('parseBrokers', () => {
  it('accepts host names, IPv4 and bracketed IPv6 with ports', () => {
    assert.deepEqual(parseBrokers('localhost:9092,10.0.0.1:19092,[::1]:9092'), [
      'localhost:9092',
      '10.0.0.1:19092',
      '[::1]:9092',
    ]);
  });

  it('names the entry that is not host:port', () => {
    assert.throws(() => parseBrokers('localhost:9092,kafka'), /KAFKA_BROKERS: .*got "kafka"/);
    assert.throws(() => parseBrokers('localhost:0'), /got "localhost:0"/);
    assert.throws(() => parseBrokers('localhost:70000'), /got "localhost:70000"/);
    assert.throws(() => parseBrokers(''), /got ""/);
  });
});

describe('parseTransactionList', () => {
  it('reads the id and state columns of kafka-transactions.sh list', () => {
    const text =
      'TransactionalId       \tCoordinator\tProducerId\tTransactionState\t\nweir.a.w0 \t1 \t2 \tOngoing \t\nweir.a.w1\t1\t3\tCompleteAbort\t\n';
    assert.deepEqual(parseTransactionList(text), [
      { transactionalId: 'weir.a.w0', state: 'Ongoing' },
      { transactionalId: 'weir.a.w1', state: 'CompleteAbort' },
    ]);
    assert.deepEqual(parseTransactionList('TransactionalId\tCoordinator\tProducerId\tTransactionState\n'), []);
  });
});

describe('parseHostConnection', () => {
  it('reads the addresses kafka.sh wrote', () => {
    const text = '{"version":"3.9.2","brokers":["127.0.0.1:19092"],"bridgeBrokers":["172.17.0.1:19094"],"pid":7}';
    assert.deepEqual(parseHostConnection(text), {
      version: '3.9.2',
      brokers: ['127.0.0.1:19092'],
      bridgeBrokers: ['172.17.0.1:19094'],
    });
    assert.deepEqual(
      parseHostConnection('{"version":"3.9.2","brokers":["127.0.0.1:1"],"bridgeBrokers":[]}').bridgeBrokers,
      [],
    );
  });

  it('reads the SASL listener and its test user', () => {
    const text =
      '{"version":"3.9.2","brokers":["127.0.0.1:19092"],"bridgeBrokers":[],"sasl":{"brokers":["127.0.0.1:19095"],"username":"u","password":"p"}}';
    assert.deepEqual(parseHostConnection(text).sasl, { brokers: ['127.0.0.1:19095'], username: 'u', password: 'p' });
    assert.throws(
      () => parseHostConnection('{"version":"3.9.2","brokers":["127.0.0.1:1"],"bridgeBrokers":[],"sasl":{}}'),
      /"sasl"/,
    );
  });

  it('rejects a file without brokers', () => {
    assert.throws(() => parseHostConnection('{"version":"3.9.2","brokers":[],"bridgeBrokers":[]}'), /"brokers"/);
    assert.throws(() => parseHostConnection('[]'), /"version"/);
  });
});

describe('Kafka broker (real)', () => {
  let broker: Availability<KafkaBroker>;
  const clients: (Producer | Consumer)[] = [];

  before(async () => {
    broker = await kafkaForTests();
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.disconnect()));
    if (broker.available) await broker.component.stop();
  });

  /** Read the topic from the beginning until `last` arrives; returns every value seen, in order. */
  async function readAll(kafka: KafkaBroker, topic: string, readUncommitted: boolean, last: string) {
    const consumer = kafkaClient(kafka, 'weir-smoke-consumer').consumer({
      groupId: `weir-smoke-${randomBytes(4).toString('hex')}`,
      readUncommitted,
      // Short fetches, so that disconnect does not wait out a long poll.
      maxWaitTimeInMs: 200,
    });
    clients.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: string[] = [];
    await consumer.run({
      eachMessage: ({ message }) => {
        seen.push(message.value?.toString() ?? '<null>');
        return Promise.resolve();
      },
    });
    await waitFor(
      () => (seen.includes(last) ? Promise.resolve() : Promise.reject(new Error(`saw ${seen.join()}`))),
      30_000,
    );
    await consumer.disconnect();
    return seen;
  }

  it('a read_committed consumer sees only the records of committed transactions', async (t) => {
    if (!broker.available) {
      t.skip(broker.reason);
      return;
    }
    const kafka = broker.component;
    const topic = `weir-smoke-${randomBytes(4).toString('hex')}`;
    await createTopic(kafka, topic);

    const producer = kafkaClient(kafka, 'weir-smoke-producer').producer({
      transactionalId: `${topic}-producer`,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    clients.push(producer);
    await producer.connect();

    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({ topic, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] });
    await committed.commit();

    const [readCommitted, readUncommitted] = await Promise.all([
      readAll(kafka, topic, false, 'committed-2'),
      readAll(kafka, topic, true, 'committed-2'),
    ]);
    assert.deepEqual(readCommitted, ['committed-1', 'committed-2']);
    // The aborted records did reach the log: only the isolation level hides them.
    assert.deepEqual(readUncommitted, ['aborted-1', 'aborted-2', 'committed-1', 'committed-2']);
  });

  it('refuses to produce to a topic that was never created', async (t) => {
    if (!broker.available) {
      t.skip(broker.reason);
      return;
    }
    if (broker.component.provider === 'external') {
      t.skip('an external broker has its own auto-create setting');
      return;
    }
    const producer = kafkaClient(broker.component, 'weir-smoke-producer', { retry: { retries: 1 } }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
    });
    clients.push(producer);
    await producer.connect();
    const topic = `weir-missing-${randomBytes(4).toString('hex')}`;
    await assert.rejects(
      producer.send({ topic, messages: [{ value: 'x' }] }),
      /does not host this topic-partition|UNKNOWN_TOPIC/i,
    );
  });

  it('a container on the docker bridge reaches the broker at its bridge address', async (t) => {
    if (!broker.available) {
      t.skip(broker.reason);
      return;
    }
    const [bridge] = broker.component.bridgeBrokers;
    if (bridge === undefined) {
      // The host broker has a bridge listener whenever Docker runs, and CI runs Docker.
      const mustHave = process.env.CI === 'true' && broker.component.provider === 'host';
      assert.equal(mustHave, false, 'CI runs Docker, so the host broker must have a bridge listener');
      t.skip(`no bridge listener on this ${broker.component.provider} broker (no docker network)`);
      return;
    }
    // kafkajs has no dependencies: its folder alone, mounted read-only, is the client.
    const kafkajs = dirname(createRequire(import.meta.url).resolve('kafkajs/package.json'));
    const script = `
      const { Kafka, logLevel } = require('/opt/kafkajs');
      const admin = new Kafka({ brokers: [process.argv[1]], logLevel: logLevel.NOTHING }).admin();
      admin.connect().then(() => admin.describeCluster()).then((cluster) => {
        console.log(JSON.stringify(cluster.brokers.map((b) => b.host + ':' + b.port)));
        return admin.disconnect();
      }).catch((error) => { console.error(error.message); process.exit(1); });`;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        'docker',
        [
          'run',
          '--rm',
          '--network',
          'bridge',
          '--user',
          'node',
          '-v',
          `${kafkajs}:/opt/kafkajs:ro`,
          'node:24-bookworm-slim',
          'node',
          '-e',
          script,
          bridge,
        ],
        { timeout: 60_000 },
        (error, out, err) => {
          if (error) reject(new Error(`container could not reach ${bridge}: ${err || error.message}`));
          else resolve(out);
        },
      );
    });
    // The broker advertises the bridge address on that listener, so clients stay on the bridge.
    assert.deepEqual(JSON.parse(stdout), [bridge]);
  });
});
