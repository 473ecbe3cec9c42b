// The parent side of operator-process.ts: start it, read what it reconciled, kill it abruptly.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pollFor } from './harness.ts';

const ENTRY = new URL('./operator-process.ts', import.meta.url).pathname;

export class OperatorProcess {
  readonly #child: ChildProcess;
  #phases: Record<string, string> = {};
  #stderr = '';
  #exited = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    if (child.stdout === null) throw new Error('operator process: no stdout pipe');
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.#phases = (JSON.parse(line) as { phases: Record<string, string> }).phases;
      } catch {
        // Not a report line: ignore.
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    // A test run that dies must not leave an operator behind.
    const orphanGuard = () => child.kill('SIGKILL');
    process.once('exit', orphanGuard);
    child.on('exit', () => {
      this.#exited = true;
      process.off('exit', orphanGuard);
    });
  }

  static start(env: { namespace: string; runtimeUrl: string; kubeconfigPath: string }): OperatorProcess {
    const child = spawn(process.execPath, ['--conditions=source', ENTRY], {
      env: {
        ...process.env,
        WEIR_TEST_NAMESPACE: env.namespace,
        WEIR_TEST_RUNTIME_URL: env.runtimeUrl,
        WEIR_TEST_KUBECONFIG: env.kubeconfigPath,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new OperatorProcess(child);
  }

  /** The phase this process last reconciled `namespace/name` into (undefined: not yet). */
  phaseOf(key: string): string | undefined {
    return this.#phases[key];
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** A crash: SIGKILL, no graceful stop; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.#exited) this.#child.kill('SIGKILL');
    await pollFor('the operator process to exit', () => Promise.resolve(this.#exited ? true : undefined), 10_000);
  }
}
