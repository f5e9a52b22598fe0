/**
 * The parent side of test/fixtures/child-protocol.ts: a fixture run with tsx in a child process
 * with exactly the environment a test gives it (plus PATH); `call` sends one request and resolves
 * with its reply, in order.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(__dirname, '..', '..');

export class ModuleChild<Request, Reply> {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private stderr = '';
  private readonly exited: Promise<void>;

  /** `fixture`: a path under test/fixtures/. */
  constructor(fixture: string, env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--require', 'tsx/cjs', join(ROOT, 'test', 'fixtures', fixture)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.pending.shift()?.resolve(JSON.parse(line) as Reply));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        for (const p of this.pending.splice(0)) p.reject(new Error(`${fixture} exited (${code ?? signal}): ${this.stderr}`));
        resolve();
      }),
    );
  }

  call(request: Request): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(JSON.stringify(request) + '\n');
    });
  }

  /** Closes stdin (the child exits by itself), then kills it if it has not gone in 2 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
