/**
 * Child processes for the local stack that cannot outlive us. Each service runs under a tiny `sh`
 * watchdog that kills it as soon as our end of its stdin closes — on `stop()`, on Ctrl-C, and even
 * when this process is killed with SIGKILL (the kernel closes the pipe). No orphan JVMs.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

export const LOG_DIR = join(__dirname, '..', '..', '.local', 'logs');

export interface Service {
  name: string;
  host: string;
  port: number;
  /** Where its output goes (empty for a service we did not start). */
  logFile?: string;
  /** The service's own process id (not the watchdog's), once known. */
  pid?(): number | undefined;
  stop(): Promise<void>;
}

// Background jobs get /dev/null as stdin, so the pipe is kept on fd 3 for the reader.
const WATCHDOG = `exec 3<&0
"$@" & child=$!
echo "pid:$child" >&2
( read _eof <&3; kill -TERM $child 2>/dev/null ) &
exec 3<&-
wait $child`;

const running = new Set<ChildProcess>();

/** Starts `command` under the watchdog, output to .local/logs/<name>.log. */
export function spawnService(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${name}.log`);
  const out = createWriteStream(logFile);
  const child = spawn('sh', ['-c', WATCHDOG, 'watchdog', command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  let pid: number | undefined;
  child.stderr!.on('data', (d: Buffer) => {
    const m = /pid:(\d+)/.exec(d.toString());
    if (m && pid === undefined) pid = Number(m[1]);
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => {
    running.delete(child);
    out.end();
  });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    const timer = setTimeout(() => {
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  return { child, exited, logFile, stop, pid: () => pid };
}

/** Stops every service still running (synchronously closes their watchdog pipes). */
export function stopAllSync(): void {
  for (const child of running) child.stdin?.end();
}

let exitHooksInstalled = false;
export function installExitHooks(onSignal: () => Promise<void>): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', stopAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      void onSignal().finally(() => process.exit(130));
    });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Free ports, found synchronously (the test harness must set its environment before files load). */
export function freePortsSync(count: number): number[] {
  const script = `const net=require('net');const s=[];let n=${count};for(let i=0;i<${count};i++){const v=net.createServer();s.push(v);v.listen(0,'127.0.0.1',()=>{if(--n===0){console.log(JSON.stringify(s.map(x=>x.address().port)));s.forEach(x=>x.close())}})}`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as number[];
}

export async function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Polls `probe` until it returns true, or fails after `timeoutMs` naming the service. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number, dead?: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let died = false;
  void dead?.then(() => (died = true));
  while (Date.now() < deadline) {
    if (died) throw new Error(`${what} exited while starting`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} was not ready within ${timeoutMs} ms`);
}

export async function httpAnswers(url: string, expected?: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  const text = await res.text();
  return res.ok && (expected === undefined || text.trim() === expected);
}

/** PING over a raw socket (no client library needed to know Redis is up). */
export async function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
