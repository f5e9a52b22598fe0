/**
 * Keeps a local function running the way Cloud Run keeps a service: when its process dies (a
 * crash, an out-of-memory kill, `kill -9`), a new one is started in its place, on the same port,
 * after a short backoff — doubling from RESTART_BACKOFF_MS up to MAX_RESTART_BACKOFF_MS while it
 * keeps dying within STABLE_MS of starting, so a function that cannot start does not spin. So faults
 * can be rehearsed on `npm start`: kill a worker mid-batch and watch the queue's retry reach the new
 * instance.
 */
import type { ChildProcess } from 'node:child_process';

export const RESTART_BACKOFF_MS = 500;
export const MAX_RESTART_BACKOFF_MS = 15_000;
/** An instance up this long counts as healthy again: the next death restarts it after the shortest backoff. */
const STABLE_MS = 30_000;

export interface Instance {
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface Supervised<T extends Instance> {
  /** The instance running now (a new one after each restart). */
  current(): T;
  /** How many times it was started again. */
  restarts(): number;
  /** Stops it for good (no restart). */
  stop(): Promise<void>;
}

export async function supervise<T extends Instance>(name: string, start: () => Promise<T>, report: (message: string) => void = () => undefined): Promise<Supervised<T>> {
  let current = await start();
  let startedAt = Date.now();
  let restarts = 0;
  let backoff = RESTART_BACKOFF_MS;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;

  const restart = () => {
    timer = undefined;
    if (stopping) return;
    start().then(
      (fresh) => {
        if (stopping) return void fresh.stop();
        current = fresh;
        startedAt = Date.now();
        restarts++;
        report(`${name} restarted (restart ${restarts})`);
        watch(fresh);
      },
      (err: Error) => {
        report(`${name} could not be restarted: ${err.message}; trying again in ${backoff} ms`);
        schedule();
      },
    );
  };
  const schedule = () => {
    timer = setTimeout(restart, backoff);
    backoff = Math.min(backoff * 2, MAX_RESTART_BACKOFF_MS);
  };
  const watch = (instance: T) => {
    instance.child.once('exit', (code, signal) => {
      instance.child.stdin?.end(); // lets the watchdog's reader go (processes.ts)
      if (stopping || instance !== current) return;
      if (Date.now() - startedAt > STABLE_MS) backoff = RESTART_BACKOFF_MS;
      report(`${name} exited (${signal ?? `code ${code}`}); starting a new instance in ${backoff} ms`);
      schedule();
    });
  };
  watch(current);

  return {
    current: () => current,
    restarts: () => restarts,
    stop: async () => {
      stopping = true;
      clearTimeout(timer);
      await current.stop();
    },
  };
}
