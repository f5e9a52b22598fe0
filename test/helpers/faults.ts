/**
 * Faults for the fault suite (test/faults/): a dependency of the local stack frozen with SIGSTOP —
 * its port still accepts connections, nothing answers, as with a hung server or a network
 * partition — until `thaw()` (SIGCONT). Whatever is still frozen is thawed when the test process
 * ends, so a failed test never leaves an emulator stopped.
 */
import { testStack } from './stack';

const frozen = new Set<number>();
process.on('exit', () => {
  for (const pid of frozen) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
});

export type Dependency = 'firestore' | 'pubsub' | 'redis';

/** Freezes a dependency's process; resolves with the function that thaws it (idempotent). */
export async function freeze(dependency: Dependency): Promise<() => void> {
  const stack = await testStack();
  const pid = stack[dependency].pid?.();
  if (!pid) throw new Error(`no process id for ${dependency} (not started by the test stack?)`);
  process.kill(pid, 'SIGSTOP');
  frozen.add(pid);
  return () => {
    if (!frozen.delete(pid)) return;
    process.kill(pid, 'SIGCONT');
  };
}

/** How long a call took, with what it gave. */
export async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await call();
  return { value, ms: performance.now() - started };
}
