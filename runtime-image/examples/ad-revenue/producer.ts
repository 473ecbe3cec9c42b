// Writes ad events to the `ad-events` topic of a local broker for examples/kafka-revenue.yaml:
//   node --conditions=source runtime-image/examples/ad-revenue/producer.ts [--brokers 127.0.0.1:19092] [--rate 2000] [--seconds 600]
// Creates the topics it needs (input, results, dead letters) when they are missing. One record
// in a thousand is malformed on purpose: it ends up in `ad-events-dead-letters`.
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';

const { Kafka, Partitioners, logLevel } = kafkajs;
const { values } = parseArgs({
  options: {
    brokers: { type: 'string', default: '127.0.0.1:19092' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '600' },
  },
});
const kafka = new Kafka({
  clientId: 'weir-ad-producer',
  brokers: values.brokers.split(','),
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
await admin.connect();
const existing = new Set(await admin.listTopics());
const wanted = [
  { topic: 'ad-events', numPartitions: 4 },
  { topic: 'revenue-per-minute', numPartitions: 4, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
  { topic: 'ad-events-dead-letters', numPartitions: 1 },
].filter((t) => !existing.has(t.topic));
if (wanted.length > 0) await admin.createTopics({ topics: wanted, waitForLeaders: true });
await admin.disconnect();

const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const rate = Number(values.rate);
const end = Date.now() + Number(values.seconds) * 1000;
let n = 0;
process.on('SIGINT', () => {
  void producer.disconnect().then(() => process.exit(0));
});
console.log(`writing ~${rate} ad events/s to ad-events for ${values.seconds} s (Ctrl-C stops)`);
while (Date.now() < end) {
  const tick = Date.now();
  const messages = [];
  for (let i = 0; i < rate / 10; i++, n++) {
    const type = n % 50 === 0 ? 'sale' : n % 7 === 0 ? 'click' : 'impression';
    const campaign = `campaign-${Math.floor(n / 10) % 8}`; // every campaign gets sales (n % 50)
    const value =
      n % 1000 === 999
        ? `{"broken": ${n}` // malformed on purpose
        : JSON.stringify({
            id: n,
            type,
            campaign,
            amount: type === 'sale' ? 500 + (n % 5000) : 0,
            ts: tick - (n % 2000),
          });
    messages.push({ key: campaign, value });
  }
  await producer.send({ topic: 'ad-events', messages });
  await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
}
await producer.disconnect();
