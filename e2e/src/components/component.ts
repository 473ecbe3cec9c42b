// What every real component for tests shares: waiting with a deadline, running an infra script,
// and the rule that a component which cannot start fails CI but only skips (loudly) elsewhere.
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Retry `attempt` every `intervalMs` until it resolves; after `timeoutMs`, rethrow its last error. */
export async function waitFor<T>(attempt: () => Promise<T>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Where infra scripts keep runtime state (pid files, logs, connection files): as e2e/infra/lib.sh. */
export function runDir(env: NodeJS.ProcessEnv, component: string): string {
  const run = env.WEIR_RUN ?? join(env.HOME ?? homedir(), '.cache', 'weir', 'run');
  return join(run, component);
}

/**
 * Run an idempotent infra script (e.g. `kafka.sh up`), its progress streamed to our stderr.
 * Rejects with the script's last lines when it fails or outlives `timeoutMs`.
 */
export function runInfraScript(script: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let tail = '';
    const keep = (chunk: Buffer): void => {
      tail = (tail + chunk.toString()).slice(-4000);
      process.stderr.write(chunk);
    };
    const child = execFile(script, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error) => {
      if (error) reject(new Error(`${script} ${args.join(' ')} failed: ${error.message}\n${tail}`, { cause: error }));
      else resolve();
    });
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  });
}

export type Availability<T> =
  { readonly available: true; readonly component: T } | { readonly available: false; readonly reason: string };

/**
 * For test files: the component, or (outside CI only) a loud reason to skip its tests.
 * With CI=true a component that cannot start fails the run instead.
 */
export async function availableForTests<T>(
  name: string,
  start: () => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Availability<T>> {
  try {
    return { available: true, component: await start() };
  } catch (error) {
    if (env.CI === 'true') throw error;
    const reason = `${name} unavailable, SKIPPING its tests (they fail when CI=true): ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`\n!!! ${reason}\n\n`);
    return { available: false, reason };
  }
}
