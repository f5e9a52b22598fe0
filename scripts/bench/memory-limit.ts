/**
 * Runs a function under the memory limit it is deployed with (`memory` in shared/infra.ts), the
 * way Cloud Run does: in a cgroup with that limit. Node sizes its heap from the limit it sees
 * (`process.constrainedMemory()`): on a 1 GiB instance its heap limit is 560 MiB, on this 24 GiB
 * machine 4,288 MiB, and V8 lets the old generation grow with that limit before it collects. A
 * function's peak memory measured without the limit is not the one it has in production.
 *
 * Needs a writable cgroup memory controller (root, cgroup v1 or v2); the cgroup (one per size,
 * `virtuoso-bench-<bytes>`) is left in place for the next run. Elsewhere `memoryCgroup`
 * answers undefined and the caller runs the function without a limit, and says so.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FunctionSpec } from '../../shared/infra';

const UNITS: Record<string, number> = { Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** `512Mi` → bytes. */
export function memoryBytes(memory: FunctionSpec['memory']): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(memory);
  if (!m) throw new Error(`unknown memory size '${memory}'`);
  return Number(m[1]) * UNITS[m[2]];
}

const made = new Map<number, string | undefined>();

/**
 * The file a process writes its pid into to join a cgroup limited to `bytes` of memory (made once
 * per size, under the memory controller's root), or undefined when this machine does not allow it.
 */
export function memoryCgroup(bytes: number): string | undefined {
  if (made.has(bytes)) return made.get(bytes);
  let joinFile: string | undefined;
  try {
    const v1 = '/sys/fs/cgroup/memory';
    const v2 = '/sys/fs/cgroup';
    if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
      const dir = join(v1, `virtuoso-bench-${bytes}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(bytes));
      joinFile = join(dir, 'tasks');
    } else if (readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8').includes('memory')) {
      const dir = join(v2, `virtuoso-bench-${bytes}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'memory.max'), String(bytes));
      joinFile = join(dir, 'cgroup.procs');
    }
  } catch {
    joinFile = undefined;
  }
  made.set(bytes, joinFile);
  return joinFile;
}

/**
 * `command args…` as a process that first joins the cgroup (`sh` writes its pid, then execs the
 * command in its place, so the pid, /proc figures and signals are the command's own).
 */
export function inCgroup(joinFile: string, command: string, args: readonly string[]): [string, string[]] {
  return ['/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', joinFile, command, ...args]];
}
