// kafkajs 2.2 is unmaintained, and a few of its internal modules are wrong or slow. Its modules
// capture each other when they load, so a replacement goes into require's cache before the module
// that captures it loads; the fixes are imported before kafkajs itself (first line of kafkajs.ts).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Replaces the exports of kafkajs' module `path` with `replace(original)`, unless `capturedBy`
 * (the module that captures it when it loads) is loaded already: then kafkajs keeps its own and
 * this warns (a process that loaded kafkajs before the runtime, e.g. a test helper).
 */
export function replaceKafkajsModule<T>(path: string, capturedBy: string, replace: (original: T) => T): void {
  const target = require.resolve(`kafkajs/${path}`);
  const captor = require.resolve(`kafkajs/${capturedBy}`);
  if (require.cache[captor] !== undefined) {
    process.emitWarning(`kafkajs was loaded before Weir's replacement of ${path}; it keeps its own`, {
      code: 'WEIR_KAFKAJS_INTERNALS',
    });
    return;
  }
  const original = require(target) as T;
  const cached = require.cache[target];
  if (cached === undefined) throw new Error(`kafkajs: ${target} did not load`);
  cached.exports = replace(original);
}

/** A kafkajs internal module, loaded through require (for tests that compare with the original). */
export function kafkajsModule(path: string): unknown {
  return require(`kafkajs/${path}`);
}

/** kafkajs' own version of a module that was replaced (freshly evaluated; for tests that compare). */
export function originalKafkajsModule(path: string): unknown {
  const target = require.resolve(`kafkajs/${path}`);
  const current = require.cache[target];
  Reflect.deleteProperty(require.cache, target);
  try {
    return require(target);
  } finally {
    if (current !== undefined) require.cache[target] = current;
  }
}
