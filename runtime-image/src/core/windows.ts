/** A time window `[start, end)` in event-time milliseconds. */
export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

export type WindowSpec =
  | { readonly type: 'tumbling'; readonly sizeMs: number; readonly offsetMs?: number | undefined }
  | {
      readonly type: 'sliding';
      readonly sizeMs: number;
      readonly slideMs: number;
      readonly offsetMs?: number | undefined;
    }
  | { readonly type: 'session'; readonly gapMs: number; readonly maxLengthMs: number };

export function validateWindowSpec(spec: WindowSpec): void {
  const positive = (name: string, v: number): void => {
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`window.${name} must be a positive number of ms, got ${v}`);
  };
  switch (spec.type) {
    case 'tumbling':
      positive('sizeMs', spec.sizeMs);
      return;
    case 'sliding':
      positive('sizeMs', spec.sizeMs);
      positive('slideMs', spec.slideMs);
      if (spec.slideMs > spec.sizeMs)
        throw new RangeError(`window.slideMs (${spec.slideMs}) must not exceed sizeMs (${spec.sizeMs})`);
      return;
    case 'session':
      positive('gapMs', spec.gapMs);
      positive('maxLengthMs', spec.maxLengthMs);
      if (spec.maxLengthMs < spec.gapMs)
        throw new RangeError(`window.maxLengthMs (${spec.maxLengthMs}) must be >= gapMs (${spec.gapMs})`);
      return;
  }
}

function floorTo(ts: number, size: number, offset: number): number {
  const r = (ts - offset) % size;
  return ts - (r < 0 ? r + size : r);
}

export function tumblingWindowFor(ts: number, sizeMs: number, offsetMs = 0): TimeWindow {
  const start = floorTo(ts, sizeMs, offsetMs);
  return { start, end: start + sizeMs };
}

/** Every sliding window containing `ts`, oldest first. */
export function slidingWindowsFor(ts: number, sizeMs: number, slideMs: number, offsetMs = 0): TimeWindow[] {
  const out: TimeWindow[] = [];
  for (let start = floorTo(ts, slideMs, offsetMs); start > ts - sizeMs; start -= slideMs) {
    out.push({ start, end: start + sizeMs });
  }
  return out.reverse();
}

/** The instant at which a window is complete: its last millisecond. */
export function windowMaxTimestamp(w: TimeWindow): number {
  return w.end - 1;
}

export interface Session extends TimeWindow {
  /** Highest event time in the session (sessions capped by maxLength end before maxTs + gap). */
  readonly maxTs: number;
}

export interface SessionAssignment {
  readonly window: Session;
  /** Existing sessions merged into `window` (their state must be merged and their timers deleted). */
  readonly absorbed: readonly Session[];
}

/**
 * Adds an event at `ts` to a key's sessions. Overlapping sessions merge as long as every event
 * still fits in `[start, start + maxLength)`; the session end is capped there, so a session that
 * never goes quiet is still closed at start + maxLength and later events open a new one.
 */
export function assignSession(
  sessions: readonly Session[],
  ts: number,
  gapMs: number,
  maxLengthMs: number,
): SessionAssignment {
  let win: Session = { start: ts, end: Math.min(ts + gapMs, ts + maxLengthMs), maxTs: ts };
  const absorbed: Session[] = [];
  const remaining = [...sessions].sort((a, b) => a.start - b.start);
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = 0; i < remaining.length; i++) {
      const s = remaining[i];
      if (s === undefined) continue;
      if (!(s.start < win.end && win.start < s.end)) continue;
      const start = Math.min(s.start, win.start);
      const maxTs = Math.max(s.maxTs, win.maxTs);
      if (maxTs >= start + maxLengthMs) continue; // would break the maximum length
      const end = Math.min(Math.max(s.end, win.end), start + maxLengthMs);
      win = { start, end, maxTs };
      absorbed.push(s);
      remaining.splice(i, 1);
      changed = true;
      break;
    }
  }
  return { window: win, absorbed };
}
