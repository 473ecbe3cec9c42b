// What the demo shows of a running app, as pure functions of what it read: the StreamApplication's
// status and the runtime's API (job, operators, event time, checkpoints).

export interface AppStatus {
  phase?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  job?: { state?: string; restarts?: number };
  eventTime?: { watermark?: string; lag?: string; recordsLag?: number };
  checkpoints?: { lastCompleted?: { id: number; time: string } };
  operations?: Operation[];
}

export interface Operation {
  type: string;
  trigger?: string;
  outcome?: string;
  startedAt?: string;
  finishedAt?: string;
  durationSeconds?: number;
}

export interface OperatorMetrics {
  operatorId: string;
  kind: string;
  recordsIn: number;
  recordsOut: number;
  recordsInPerSecond: number;
  recordsOutPerSecond: number;
}

const clock = (iso: string | undefined): string => (iso === undefined ? '-' : iso.slice(11, 19));

/** Records per second read by the sources (0 when none is known yet). */
export function sourceRate(operators: readonly OperatorMetrics[]): number {
  return operators.filter((o) => o.kind === 'source').reduce((sum, o) => sum + o.recordsOutPerSecond, 0);
}

/** Records read by the sources since the job started. */
export function sourceRecords(operators: readonly OperatorMetrics[]): number {
  return operators.filter((o) => o.kind === 'source').reduce((sum, o) => sum + o.recordsOut, 0);
}

/** One line: phase and conditions, rate, watermark and lag, the latest checkpoint. */
export function statusLine(status: AppStatus, operators: readonly OperatorMetrics[] | undefined, now: Date): string {
  const cond = (status.conditions ?? [])
    .filter((c) => c.status === 'True')
    .map((c) => `${c.type}${c.reason === undefined ? '' : `(${c.reason})`}`)
    .join(' ');
  const cp = status.checkpoints?.lastCompleted;
  const cpAge =
    cp === undefined ? '' : ` ${Math.max(0, Math.round((now.getTime() - Date.parse(cp.time)) / 1000))}s ago`;
  const parts = [
    `${(status.phase ?? 'Pending').padEnd(12)} ${cond}`,
    operators === undefined ? 'rate -' : `${Math.round(sourceRate(operators))} rec/s`,
    `watermark ${clock(status.eventTime?.watermark)} lag ${status.eventTime?.lag ?? '-'}` +
      (status.eventTime?.recordsLag === undefined ? '' : ` (${status.eventTime.recordsLag} records)`),
    `checkpoint ${cp === undefined ? '-' : `#${cp.id}${cpAge}`}`,
    `restarts ${status.job?.restarts ?? 0}`,
  ];
  return parts.join(' | ');
}

/** A window result from the output topic, as a short line. */
export function resultLine(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as { key?: unknown; start?: unknown; value?: { sales?: unknown; revenueCents?: unknown } };
  if (typeof r.key !== 'string' || typeof r.start !== 'number') return undefined;
  const cents = typeof r.value?.revenueCents === 'number' ? r.value.revenueCents : 0;
  const sales = typeof r.value?.sales === 'number' ? r.value.sales : 0;
  return `${new Date(r.start).toISOString().slice(11, 16)} ${r.key.padEnd(11)} sales ${String(sales).padStart(4)}  revenue ${(cents / 100).toFixed(2).padStart(10)}`;
}

/** The phases an operation went through, with how long each lasted, from (time, phase) observations. */
export function phaseDurations(observed: readonly { at: number; phase: string }[], end: number): string {
  const spans: string[] = [];
  for (let i = 0; i < observed.length; i++) {
    const cur = observed[i];
    if (cur === undefined) continue;
    const next = observed[i + 1]?.at ?? end;
    spans.push(`${cur.phase} ${((next - cur.at) / 1000).toFixed(1)}s`);
  }
  return spans.join(' → ');
}
