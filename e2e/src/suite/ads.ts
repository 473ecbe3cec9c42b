// The suite's input: uniquely identified ad events written to a topic throughout a scenario, and the
// record of every event the broker acknowledged (what the independent expectation is computed from).
import type { Producer } from 'kafkajs';

import type { AdEvent } from './results.ts';

/** Event time starts here and advances `eventStepMs` per record, whatever the wall clock does. */
const EVENT_TIME_BASE = Date.UTC(2026, 0, 1);
const CAMPAIGNS = 8;

export interface AdStreamOptions {
  /** Records per second (default 200). */
  readonly ratePerSecond?: number;
  /** Event time between consecutive records (default 50 ms: event time runs 10× the wall clock at 200/s). */
  readonly eventStepMs?: number;
}

/** The n-th event: deterministic, so that a failed run can be reproduced. */
export function adEvent(n: number, eventStepMs: number): AdEvent {
  const type = n % 5 === 0 ? 'sale' : n % 3 === 0 ? 'click' : 'impression';
  return {
    id: n,
    campaign: `campaign-${(n * 7) % CAMPAIGNS}`,
    type,
    amount: type === 'sale' ? 100 + ((n * 37) % 9900) : 0,
    ts: EVENT_TIME_BASE + n * eventStepMs,
  };
}

/**
 * Writes events round-robin over the topic's partitions (so every partition's event time advances in
 * order and no partition goes idle) in the background; `events` holds those the broker acknowledged.
 */
export class AdStream {
  readonly events: AdEvent[] = [];
  malformed = 0;
  readonly #producer: Producer;
  readonly #topic: string;
  readonly #partitions: number;
  readonly #rate: number;
  readonly #step: number;
  #running: Promise<void> | undefined;
  #stopping = false;
  #failure: unknown;

  constructor(producer: Producer, topic: string, partitions: number, options: AdStreamOptions = {}) {
    this.#producer = producer;
    this.#topic = topic;
    this.#partitions = partitions;
    this.#rate = options.ratePerSecond ?? 200;
    this.#step = options.eventStepMs ?? 50;
  }

  start(): void {
    if (this.#running !== undefined) return;
    this.#stopping = false;
    this.#running = this.#loop();
  }

  /** Stops writing; rejects if a write failed (its records may or may not be in the topic: the run is void). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
    this.#running = undefined;
    if (this.#failure !== undefined) throw new Error('the input producer failed', { cause: this.#failure });
  }

  /** The event time of the newest event written. */
  get eventTime(): number {
    return this.events.at(-1)?.ts ?? EVENT_TIME_BASE;
  }

  async #loop(): Promise<void> {
    const batch = Math.max(1, Math.round(this.#rate / 10));
    while (!this.#stopping) {
      const t0 = Date.now();
      try {
        await this.send(batch);
      } catch (error) {
        this.#failure = error;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t0))));
    }
  }

  /** Writes the next `n` events now. */
  async send(n: number): Promise<void> {
    const next = Array.from({ length: n }, (_, i) => adEvent(this.events.length + i, this.#step));
    await this.#producer.send({
      topic: this.#topic,
      messages: next.map((e) => ({ key: e.campaign, value: JSON.stringify(e), partition: e.id % this.#partitions })),
    });
    this.events.push(...next);
  }

  /** Records that cannot be parsed: they must land in the dead-letter topic, not stop the job. */
  async sendMalformed(n: number): Promise<void> {
    const messages = Array.from({ length: n }, (_, i) => ({
      key: 'malformed',
      value: `{"id": "malformed-${this.malformed + i}", "campaign": `,
      partition: i % this.#partitions,
    }));
    await this.#producer.send({ topic: this.#topic, messages });
    this.malformed += n;
  }

  /**
   * Event time far ahead on every partition, so that every window of the real events closes. The flush
   * records belong to campaign `flush`, which the checker ignores.
   */
  async flush(): Promise<void> {
    const ts = this.eventTime + 10 * 60_000;
    const messages = Array.from({ length: this.#partitions }, (_, p) => ({
      key: 'flush',
      value: JSON.stringify({ id: -1 - p, campaign: FLUSH_CAMPAIGN, type: 'impression', amount: 0, ts }),
      partition: p,
    }));
    await this.#producer.send({ topic: this.#topic, messages });
  }
}

export const FLUSH_CAMPAIGN = 'flush';
