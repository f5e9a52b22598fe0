/**
 * The real gcloud, offline: no credentials (an empty CLOUDSDK_CONFIG per process), no prompts, no
 * usage reports or update checks, proxies at a dead loopback port. A command that parses stops at
 * "You do not currently have an active account selected", before any network call.
 *
 * Two ways to run a command: `gcloudBinary` starts the `gcloud` program for it (about a second of
 * CPU each, most of it gcloud's start-up), and `GcloudForks` runs gcloud's start-up once per worker
 * and each command in a fork of it (gcloud_zygote.py: gcloud_main.main() with the command's argv,
 * as lib/gcloud.py runs it), about a fifth of the CPU.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const NO_ACCOUNT = 'You do not currently have an active account selected';

export interface GcloudOutcome {
  code: number | null;
  out: string;
}

/** A command parsed (and read the files it names) when it got as far as asking for an account. */
export const parsed = (o: GcloudOutcome) => o.code === 1 && o.out.includes(NO_ACCOUNT);

export const gcloudInstalled = () => spawnSync('gcloud', ['--version'], { stdio: 'ignore' }).status === 0;

function offlineEnv(configDir: string): NodeJS.ProcessEnv {
  const dead = 'http://127.0.0.1:9';
  return {
    PATH: process.env.PATH ?? '',
    HOME: configDir,
    CLOUDSDK_CONFIG: configDir,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
    HTTPS_PROXY: dead,
    https_proxy: dead,
    HTTP_PROXY: dead,
    http_proxy: dead,
  };
}

/** One `gcloud` process for one command (`args` starts with "gcloud"). */
export function gcloudBinary(args: readonly string[], cwd: string): Promise<GcloudOutcome> {
  const configDir = mkdtempSync(join(tmpdir(), 'gcloud-config-'));
  return new Promise((resolve) => {
    const child = spawn('gcloud', args.slice(1), { cwd, env: offlineEnv(configDir), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      rmSync(configDir, { recursive: true, force: true });
      resolve({ code, out });
    });
  });
}

interface Zygote {
  child: ChildProcessWithoutNullStreams;
  configDir: string;
  replies: ((line: string) => void)[];
  ready: Promise<void>;
}

/** `size` workers, each gcloud's start-up done once; `run` queues a command on the next free one. */
export class GcloudForks {
  private readonly zygotes: Zygote[] = [];
  private readonly idle: Zygote[] = [];
  private readonly waiting: ((z: Zygote) => void)[] = [];

  constructor(size: number, cwd: string) {
    // Where gcloud runs from, and on which Python: what its own wrapper (bin/gcloud) chose.
    const info = spawnSync('gcloud', ['info', '--format=json(basic.python_location,installation.sdk_root)'], {
      encoding: 'utf8',
      env: offlineEnv(mkdtempSync(join(tmpdir(), 'gcloud-config-'))),
    });
    if (info.status !== 0) throw new Error(`gcloud info failed: ${info.stderr}`);
    const { basic, installation } = JSON.parse(info.stdout) as { basic: { python_location: string }; installation: { sdk_root: string } };
    for (let i = 0; i < size; i++) {
      const configDir = mkdtempSync(join(tmpdir(), 'gcloud-config-'));
      const child = spawn(basic.python_location, [join(__dirname, 'gcloud_zygote.py'), join(installation.sdk_root, 'lib')], {
        cwd,
        env: { ...offlineEnv(configDir), CLOUDSDK_ROOT_DIR: installation.sdk_root, PYTHONIOENCODING: 'UTF-8' },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const z: Zygote = { child, configDir, replies: [], ready: Promise.resolve() };
      z.ready = new Promise((resolve, reject) => {
        z.replies.push(() => resolve());
        child.on('exit', (code) => {
          reject(new Error(`gcloud worker exited (${code}): ${stderr}`));
          // A command it was running fails (never passes) with what the worker said.
          for (const reply of z.replies.splice(0)) reply(JSON.stringify({ code: null, out: `gcloud worker exited (${code}): ${stderr}` }));
        });
      });
      createInterface({ input: child.stdout }).on('line', (line) => z.replies.shift()?.(line));
      this.zygotes.push(z);
      void z.ready.then(() => this.release(z), () => undefined);
    }
  }

  private release(z: Zygote): void {
    const next = this.waiting.shift();
    if (next) next(z);
    else this.idle.push(z);
  }

  async run(args: readonly string[]): Promise<GcloudOutcome> {
    const z = this.idle.shift() ?? (await new Promise<Zygote>((resolve) => this.waiting.push(resolve)));
    try {
      const line = await new Promise<string>((resolve) => {
        z.replies.push(resolve);
        z.child.stdin.write(`${JSON.stringify(args.slice(1))}\n`);
      });
      return JSON.parse(line) as GcloudOutcome;
    } finally {
      this.release(z);
    }
  }

  /** Resolves once every worker has started (or rejects with why one could not). */
  async started(): Promise<void> {
    await Promise.all(this.zygotes.map((z) => z.ready));
  }

  stop(): void {
    for (const z of this.zygotes) {
      z.child.stdin.end();
      z.child.kill();
      rmSync(z.configDir, { recursive: true, force: true });
    }
  }
}
