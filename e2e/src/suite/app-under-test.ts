// One scenario's app, used only the way a user can: the StreamApplication is applied and edited with
// kubectl, and what is asserted comes from `.status`, Events and the committed output.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { Partitioners, type Consumer, type Producer } from 'kafkajs';
import { parse } from 'yaml';

import { createTopic, kafkaClient } from '../components/kafka.ts';
import { AdStream, FLUSH_CAMPAIGN } from './ads.ts';
import {
  compareAppend,
  compareUpsert,
  expectedResults,
  parseResult,
  type Comparison,
  type WindowResult,
} from './results.ts';
import {
  operationsSince,
  phaseSpans,
  RUNNING_PHASES,
  type AppStatus,
  type Measured,
  type Operation,
} from './status.ts';
import { resultsPath } from './report.ts';
import type { Suite } from './suite.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const exampleFile = `${repoRoot}runtime-image/examples/ad-revenue/stream-application.yaml`;
const INPUT_PARTITIONS = 4;
const OUTPUT_PARTITIONS = 3;

export type Spec = Record<string, unknown> & { pipeline: Pipeline };
interface Pipeline {
  source: { kafka: { topic: string; deadLetterTopic?: string } };
  steps: Record<string, unknown>[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One scenario's app: its own topics, the example StreamApplication pointed at them, an input stream,
 * a read_committed reader of its output, and a recorder of the phases it goes through.
 */
export class AppUnderTest {
  readonly name: string;
  readonly input: string;
  readonly output: string;
  readonly deadLetters: string;
  readonly ads: AdStream;
  /** Every committed result, with when it arrived. */
  readonly results: { at: number; result: WindowResult }[] = [];
  /** Every phase change seen, with when. */
  readonly timeline: { at: number; phase: string }[] = [];
  readonly #suite: Suite;
  readonly #producer: Producer;
  readonly #consumer: Consumer;
  #polling = true;
  #poller: Promise<void> | undefined;
  #last: AppStatus = {};

  private constructor(s: Suite, name: string, producer: Producer, consumer: Consumer) {
    this.#suite = s;
    this.name = name;
    const tag = randomBytes(3).toString('hex');
    this.input = `e2e-${name}-${tag}-ads`;
    this.output = `e2e-${name}-${tag}-revenue`;
    this.deadLetters = `e2e-${name}-${tag}-dead-letters`;
    this.#producer = producer;
    this.#consumer = consumer;
    this.ads = new AdStream(producer, this.input, INPUT_PARTITIONS);
  }

  /** The example app, named `name`, on fresh topics; `edit` changes its spec before it is applied. */
  static async create(s: Suite, name: string, edit: (spec: Spec) => void = () => undefined): Promise<AppUnderTest> {
    const client = kafkaClient(s.broker, `weir-e2e-${name}`);
    const producer = client.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const consumer = client.consumer({
      groupId: `weir-e2e-${name}-${Date.now()}`,
      readUncommitted: false,
      maxWaitTimeInMs: 250,
    });
    const app = new AppUnderTest(s, name, producer, consumer);
    await createTopic(s.broker, app.input, INPUT_PARTITIONS);
    await createTopic(s.broker, app.output, OUTPUT_PARTITIONS); // not compacted: duplicates stay visible
    await createTopic(s.broker, app.deadLetters, 1);
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: app.output, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const r = message.value === null ? undefined : parseResult(message.value.toString());
        if (r !== undefined) app.results.push({ at: Date.now(), result: r });
        return Promise.resolve();
      },
    });
    await app.#apply(app.manifest(edit));
    app.#poller = app.#poll();
    return app;
  }

  /** The example's manifest pointed at this app's topics, with the suite's quicker settings. */
  manifest(edit: (spec: Spec) => void = () => undefined): { metadata: Record<string, unknown>; spec: Spec } {
    const doc = parse(readFileSync(exampleFile, 'utf8')) as { metadata: Record<string, unknown>; spec: Spec };
    const spec = doc.spec;
    doc.metadata = { name: this.name, namespace: this.#suite.namespace };
    spec.pipeline.source.kafka.topic = this.input;
    spec.pipeline.source.kafka.deadLetterTopic = this.deadLetters;
    const sink = spec.pipeline.steps.at(-1) as { sink: { kafka: { topic: string } } };
    sink.sink.kafka.topic = this.output;
    // Commits every 2 s (output appears sooner); a version counts as stable after 2 checkpoints and 10 s.
    spec.checkpoints = { ...(spec.checkpoints as object), intervalSeconds: 2 };
    spec.rollback = { readinessTimeoutSeconds: 90, stability: { completedCheckpoints: 2, minStableSeconds: 10 } };
    edit(spec);
    return doc;
  }

  async #apply(doc: object): Promise<void> {
    await this.#suite.cluster.kubectl(['apply', '-f', '-'], JSON.stringify(doc));
  }

  /** Writes input in the background from now on. */
  startInput(): void {
    this.ads.start();
  }

  async status(): Promise<AppStatus> {
    const api = this.#suite.cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    const obj = (await api.getNamespacedCustomObject({
      group: 'weir.dev',
      version: 'v1alpha1',
      namespace: this.#suite.namespace,
      plural: 'streamapplications',
      name: this.name,
    })) as { status?: AppStatus };
    return obj.status ?? {};
  }

  async #poll(): Promise<void> {
    while (this.#polling) {
      try {
        this.#last = await this.status();
        const phase = this.#last.phase ?? 'Pending';
        if (this.timeline.at(-1)?.phase !== phase) this.timeline.push({ at: Date.now(), phase });
      } catch {
        // The API server is busy or the app is gone: the next poll tells.
      }
      await sleep(500);
    }
  }

  /** Polls the status until `pred` holds; fails naming `what` and the last phase after `timeoutMs`. */
  async waitFor(what: string, pred: (s: AppStatus) => boolean, timeoutMs = 300_000): Promise<AppStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status().catch(() => this.#last);
      if (pred(s)) return s;
      if (Date.now() > deadline) {
        const cond = (s.conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason ?? ''}: ${c.message ?? ''})`);
        throw new Error(
          `${this.name}: ${what} did not happen in ${timeoutMs / 1000}s; phase ${s.phase}; ${cond.join('; ')}`,
        );
      }
      await sleep(1_000);
    }
  }

  /** Until the app runs and its first results are committed. */
  async running(): Promise<void> {
    await this.waitFor('Running', (s) => RUNNING_PHASES.includes(s.phase ?? ''));
    await this.outputSince(0);
  }

  /** Waits for a committed result that arrived at or after `since`; returns its arrival time. */
  async outputSince(since: number, timeoutMs = 300_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.results.find((x) => x.at >= since);
      if (r !== undefined) return r.at;
      if (Date.now() > deadline) throw new Error(`${this.name}: no committed output in ${timeoutMs / 1000}s`);
      await sleep(200);
    }
  }

  async patch(patch: object): Promise<void> {
    await this.#suite.cluster.kubectl([
      '-n',
      this.#suite.namespace,
      'patch',
      'streamapplication',
      this.name,
      '--type',
      'merge',
      '-p',
      JSON.stringify(patch),
    ]);
  }

  /**
   * Makes a change (`act`), waits until the app has recorded one more operation matching `done`, then
   * until the job that runs afterwards commits output; returns the downtime and the phases.
   */
  async measure(act: () => Promise<void>, done: (op: Operation, s: AppStatus) => boolean): Promise<Measured> {
    const changedAt = Date.now();
    await act();
    const s = await this.waitFor(
      'the operation',
      (st) =>
        operationsSince(st, changedAt).some((op) => op.outcome !== 'InProgress' && done(op, st)) &&
        RUNNING_PHASES.includes(st.phase ?? ''),
      600_000,
    );
    // The job that runs now started after the change; its first committed result ends the downtime.
    const started = await this.waitFor(
      'the new job to report its start',
      (st) => st.job?.startTime !== undefined && Date.parse(st.job.startTime) >= changedAt - 1_000,
      120_000,
    ).then(
      (st) => Date.parse(st.job?.startTime ?? '') || Date.now(),
      () => Date.parse(s.job?.startTime ?? '') || changedAt,
    );
    const resumedAt = await this.outputSince(Math.max(started, changedAt));
    return {
      downtimeSeconds: (resumedAt - changedAt) / 1000,
      phases: phaseSpans(this.timeline, changedAt, resumedAt),
    };
  }

  /** The app's Events (reason and message), oldest first. */
  async events(): Promise<{ reason: string; message: string }[]> {
    const out = await this.#suite.cluster.kubectl([
      '-n',
      this.#suite.namespace,
      'get',
      'events',
      '--field-selector',
      `involvedObject.name=${this.name},involvedObject.kind=StreamApplication`,
      '-o',
      'json',
    ]);
    const items = (JSON.parse(out) as { items: { reason?: string; message?: string; lastTimestamp?: string }[] }).items;
    return items.map((e) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
  }

  /**
   * Stops the input, closes every window (the flush), waits until every expected window has a committed
   * result and the output has been quiet for a while (late duplicates would show), then compares.
   */
  async check(semantics: 'append' | 'upsert' = 'append'): Promise<Comparison & { events: number; results: number }> {
    await this.ads.stop();
    await this.ads.flush();
    const expected = expectedResults(this.ads.events);
    const ignore = (key: string) => key === FLUSH_CAMPAIGN;
    const compare = semantics === 'append' ? compareAppend : compareUpsert;
    const deadline = Date.now() + 300_000;
    let quietSince = Date.now();
    let count = this.results.length;
    for (;;) {
      const got = compare(
        expected,
        this.results.map((r) => r.result),
        ignore,
      );
      if (this.results.length !== count) [count, quietSince] = [this.results.length, Date.now()];
      // Quiet for 10 s after the last expected window arrived: any duplicate would have been committed by now.
      if ((got.missing.length === 0 && Date.now() - quietSince > 10_000) || Date.now() > deadline) {
        const exact = got.missing.length + got.duplicated.length + got.wrong.length === 0;
        if (!exact) await this.#keepEvidence(got);
        return { ...got, events: this.ads.events.length, results: this.results.length };
      }
      await sleep(500);
    }
  }

  /**
   * What a failed check needs to be understood, next to the results (`e2e/results/evidence/<app>/`):
   * every wrong, missing and repeated window, the phases seen, and the logs of the app's pods (the
   * workers log what they restored and any records they dropped).
   */
  async #keepEvidence(c: Comparison): Promise<void> {
    const dir = join(dirname(resultsPath(process.env.WEIR_E2E === 'full')), 'evidence', this.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'comparison.json'), JSON.stringify({ ...c, timeline: this.timeline }, null, 1));
    const selector = `app.kubernetes.io/instance=${this.name}`;
    for (const previous of [false, true]) {
      const logs = await this.#suite.cluster
        .kubectl([
          '-n',
          this.#suite.namespace,
          'logs',
          '-l',
          selector,
          '--all-containers',
          '--prefix',
          '--timestamps',
          '--tail=-1',
          ...(previous ? ['--previous'] : []),
        ])
        .catch((err: unknown) => `(no logs: ${(err as Error).message})`);
      writeFileSync(join(dir, previous ? 'pods-previous.log' : 'pods.log'), logs);
    }
    process.stdout.write(`(evidence of the failed check in ${dir})\n`);
  }

  /** Reads the dead-letter topic (read_committed) until `n` records are there or the deadline passes. */
  async deadLetterCount(n: number, timeoutMs = 120_000): Promise<{ count: number; headers: Record<string, string>[] }> {
    const consumer = kafkaClient(this.#suite.broker, 'weir-e2e-dead-letters').consumer({
      groupId: `weir-e2e-dlq-${randomBytes(4).toString('hex')}`,
      readUncommitted: false,
      maxWaitTimeInMs: 250,
    });
    const headers: Record<string, string>[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: this.deadLetters, fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          headers.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])));
          return Promise.resolve();
        },
      });
      const deadline = Date.now() + timeoutMs;
      while (headers.length < n && Date.now() < deadline) await sleep(250);
      return { count: headers.length, headers };
    } finally {
      await consumer.disconnect();
    }
  }

  /** The phases recorded between two instants. */
  phasesSince(from: number, to: number): string {
    return phaseSpans(this.timeline, from, to);
  }

  /** Deletes the StreamApplication and waits until it is gone (its final savepoint taken); input keeps flowing. */
  async deleteOnly(): Promise<void> {
    await this.#suite.cluster.kubectl([
      '-n',
      this.#suite.namespace,
      'delete',
      'streamapplication',
      this.name,
      '--wait=true',
      '--timeout=300s',
    ]);
    this.timeline.push({ at: Date.now(), phase: '(deleted)' });
  }

  /** Applies the app again under the same name and topics, with `specPatch` merged into its spec. */
  async recreate(specPatch: Record<string, unknown>): Promise<void> {
    const doc = this.manifest((spec) => Object.assign(spec, specPatch));
    await this.#apply(doc);
  }

  /** Deletes the app (the operator takes its final savepoint unless told not to) and stops the clients. */
  async delete(): Promise<void> {
    this.#polling = false;
    await this.ads.stop().catch(() => undefined);
    await this.#suite.cluster
      .kubectl([
        '-n',
        this.#suite.namespace,
        'delete',
        'streamapplication',
        this.name,
        '--ignore-not-found',
        '--wait=true',
        '--timeout=300s',
      ])
      .catch(() => undefined);
    await this.#poller;
    await this.#consumer.disconnect().catch(() => undefined);
    await this.#producer.disconnect().catch(() => undefined);
  }
}
