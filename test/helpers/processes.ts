/**
 * What a process tree runs, read from Linux's /proc: the processes a test started (directly or
 * through a watchdog shell) and the Node.js version of each node binary among them.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

export interface ProcessInfo {
  pid: number;
  /** The executable the kernel runs for it (/proc/<pid>/exe). */
  exe: string;
  /** Its command line, NULs turned into spaces. */
  cmdline: string;
}

function parentOf(pid: string): number | undefined {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Every living descendant of `root` (children, their children, …). */
export function descendants(root = process.pid): ProcessInfo[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentOf(entry);
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: ProcessInfo[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift()!;
    queue.push(...(children.get(pid) ?? []));
    try {
      out.push({
        pid,
        exe: readlinkSync(`/proc/${pid}/exe`),
        cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(),
      });
    } catch {
      // exited between the listing and the read
    }
  }
  return out;
}

/** The processes among `list` whose executable is a Node.js binary. */
export const nodeProcesses = (list: ProcessInfo[]): ProcessInfo[] => list.filter((p) => basename(p.exe) === 'node');

const versions = new Map<string, string>();

/** `<exe> --version` without its `v`, asked once per binary. */
export function nodeVersionOf(exe: string): string {
  let v = versions.get(exe);
  if (!v) {
    v = execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
    versions.set(exe, v);
  }
  return v;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end with exactly this environment (callers pass PATH when it needs one),
 * collecting its output; `input` goes to its stdin, then EOF. `onStart` may signal it or read it live.
 */
export function runProcess(command: string, args: readonly string[], options: { cwd: string; env: Record<string, string>; input?: string; onStart?: (child: ChildProcessWithoutNullStreams) => void }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
    options.onStart?.(child);
  });
}
