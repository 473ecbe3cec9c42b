/** A contiguous range of key groups `[start, end)` owned by one task instance. */
export interface KeyGroupRange {
  readonly start: number;
  readonly end: number;
}

export const DEFAULT_MAX_PARALLELISM = 128;

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * murmur3 x86 32-bit (seed 0) over the key's UTF-8 bytes: stable across processes and releases.
 * Hand-written because it is the hottest function of a keyed pipeline: the `murmurhash` package
 * (the reference the tests compare against) allocates a TextEncoder and a buffer per call, which
 * cost a quarter of the throughput benchmark. ASCII keys are hashed straight from char codes.
 */
export function stableHash(key: string): number {
  const n = key.length;
  for (let i = 0; i < n; i++) {
    if (key.charCodeAt(i) > 0x7f) return murmur3Bytes(utf8(key));
  }
  let h = 0;
  let i = 0;
  const blocks = n & ~3;
  for (; i < blocks; i += 4) {
    let k =
      key.charCodeAt(i) | (key.charCodeAt(i + 1) << 8) | (key.charCodeAt(i + 2) << 16) | (key.charCodeAt(i + 3) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rem = n & 3;
  if (rem > 0) {
    let k = key.charCodeAt(i);
    if (rem >= 2) k ^= key.charCodeAt(i + 1) << 8;
    if (rem === 3) k ^= key.charCodeAt(i + 2) << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  return fmix(h ^ n);
}

function utf8(key: string): Uint8Array {
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch);
  return scratch.subarray(0, written);
}

function murmur3Bytes(b: Uint8Array): number {
  const n = b.length;
  let h = 0;
  let i = 0;
  const blocks = n & ~3;
  for (; i < blocks; i += 4) {
    let k = (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8) | ((b[i + 2] ?? 0) << 16) | ((b[i + 3] ?? 0) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rem = n & 3;
  if (rem > 0) {
    let k = b[i] ?? 0;
    if (rem >= 2) k ^= (b[i + 1] ?? 0) << 8;
    if (rem === 3) k ^= (b[i + 2] ?? 0) << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  return fmix(h ^ n);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function keyGroupOf(key: string, maxParallelism: number): number {
  return stableHash(key) % maxParallelism;
}

export function validateParallelism(parallelism: number, maxParallelism: number): void {
  if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > 32768) {
    throw new RangeError(`maxParallelism must be an integer in [1, 32768], got ${maxParallelism}`);
  }
  if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > maxParallelism) {
    throw new RangeError(`parallelism must be an integer in [1, maxParallelism=${maxParallelism}], got ${parallelism}`);
  }
}

/** The key groups task `index` of `parallelism` owns (same split as Flink, so ranges only move on rescale). */
export function keyGroupRangeFor(index: number, parallelism: number, maxParallelism: number): KeyGroupRange {
  validateParallelism(parallelism, maxParallelism);
  if (!Number.isInteger(index) || index < 0 || index >= parallelism) {
    throw new RangeError(`task index must be in [0, ${parallelism}), got ${index}`);
  }
  const start = Math.ceil((index * maxParallelism) / parallelism);
  const end = Math.ceil(((index + 1) * maxParallelism) / parallelism);
  return { start, end };
}

export function taskIndexForKeyGroup(keyGroup: number, parallelism: number, maxParallelism: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}

export function rangeContains(range: KeyGroupRange, keyGroup: number): boolean {
  return keyGroup >= range.start && keyGroup < range.end;
}

export function rangesIntersect(a: KeyGroupRange, b: KeyGroupRange): boolean {
  return a.start < b.end && b.start < a.end;
}
