// Helpers of the Kafka integration tests: input, independently computed expectations, a read_committed reader.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { kafkaClient, waitFor, type Availability, type KafkaBroker } from '@weir/e2e';

export interface Ad {
  id: string;
  campaign: string;
  amount: number;
  ts: number;
}

export const WINDOW_MS = 1000;
export const BASE_TS = 1_700_000_000_000;

/** Deterministic pseudo-random numbers (the test must be reproducible). */
export function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 4294967296;
  };
}

/** Revenue and count per campaign per 1 s window, computed here from the input, not by the engine. */
export function expectedWindows(ads: readonly Ad[]): Map<string, { count: number; revenue: number }> {
  const out = new Map<string, { count: number; revenue: number }>();
  for (const a of ads) {
    const start = Math.floor(a.ts / WINDOW_MS) * WINDOW_MS;
    const k = `${a.campaign}@${start}`;
    const r = out.get(k) ?? { count: 0, revenue: 0 };
    r.count++;
    r.revenue += a.amount;
    out.set(k, r);
  }
  return out;
}

export async function readTopic(
  kafka: KafkaBroker,
  topic: string,
  until: (n: number) => boolean,
  timeoutMs: number,
): Promise<{ key: string | null; value: string; headers: Record<string, string> }[]> {
  const consumer = kafkaClient(kafka, 'weir-check').consumer({
    groupId: `weir-check-${randomBytes(4).toString('hex')}`,
    readUncommitted: false,
    maxWaitTimeInMs: 200,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: { key: string | null; value: string; headers: Record<string, string> }[] = [];
  await consumer.run({
    eachMessage: ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = v.toString();
      seen.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? '', headers });
      return Promise.resolve();
    },
  });
  try {
    await waitFor(
      () =>
        until(seen.length) ? Promise.resolve() : Promise.reject(new Error(`read ${seen.length} records of ${topic}`)),
      timeoutMs,
      250,
    );
    // Whatever else is committed shows up within a few more fetches: wait for the count to settle.
    let last = -1;
    while (last !== seen.length) {
      last = seen.length;
      await new Promise((r) => setTimeout(r, 1500));
    }
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** The broker for one test, or undefined once the test is skipped (outside CI only: `kafkaForTests` fails CI). */
export function brokerOrSkip(broker: Availability<KafkaBroker>, t: TestContext): KafkaBroker | undefined {
  if (broker.available) return broker.component;
  t.skip(broker.reason);
  return undefined;
}
