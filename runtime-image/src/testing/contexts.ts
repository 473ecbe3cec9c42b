import type { ConnectorContext, Json, SinkContext, SourceContext } from '../connectors/contract.ts';

/** A connector context for tests: one worker owning every key group. */
export function testConnectorContext(over: Partial<ConnectorContext> = {}): ConnectorContext {
  return {
    job: 'test-job',
    operatorId: 'op',
    task: { index: 0, count: 1, keyGroups: { start: 0, end: 128 }, maxParallelism: 128, restoredCount: undefined },
    now: Date.now,
    signal: new AbortController().signal,
    ...over,
  };
}

export function testSourceContext(restored: ReadonlyMap<string, Json>, now?: () => number): SourceContext {
  return { ...testConnectorContext(now === undefined ? {} : { now }), restored };
}

export function testSinkContext(operatorId: string, restored: Json | undefined): SinkContext {
  return { ...testConnectorContext({ operatorId }), restored };
}
