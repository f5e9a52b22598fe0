/**
 * Cold start of every bundled entry point: spawn the Functions Framework on the bundle → first
 * successful response, N times each, against the real local stack (Firestore and Pub/Sub
 * emulators, a private Redis), compared with a hello-world bundle built the same way.
 *
 *   npx tsx scripts/bench/cold-start.ts [--runs=N] [bundle ...]      (or COLD_START_RUNS=N)
 *
 * Targets run round-robin (and the order rotates each round) so machine noise hits them equally;
 * one warm-up round fills the OS file cache and is discarded. The child is `node main.js` of the
 * framework, never `npx` (which adds ~340 ms, LOCAL_STACK.md).
 *
 * Also exports the helpers that start a bundle under the Functions Framework and wait for its
 * first response (test/integration/bundles.test.ts uses them).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequestRaw } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { bundleNames, formatTable, humanBytes, ROOT, type BundleResult } from '../build';
import { freePort } from '../local-stack/processes';
import { provisionPubsub } from '../local-stack/provision';
import { startStack } from '../local-stack/stack';
import { startSandbox } from '../virtuoso-sandbox/server';
import { newApiKey } from '../../shared/auth';
import { collections, functions, topics, type FunctionSpec } from '../../shared/infra';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { inCgroup, memoryBytes, memoryCgroup } from './memory-limit';
import { benchRuntimes, bundlesOn, currentRuntime, floorBundle, helloBundleOn, type BenchRuntime } from './runtime';

// ---------------------------------------------------------------------------------------------
// Starting a bundle under the Functions Framework

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** One HTTP request on a fresh connection (no pooling: every probe is independent of the last). */
export function httpRequest(url: string, init: HttpRequestInit = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    const req = httpRequestRaw(
      url,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: { connection: 'close', ...(body ? { 'content-length': String(body.length) } : {}), ...init.headers },
        timeout: init.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${init.method ?? 'GET'} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface RunningFunction {
  target: string;
  source: string;
  port: number;
  url: string;
  child: ChildProcess;
  /** performance.now() just before the spawn. */
  startedAt: number;
  exited: Promise<number | null>;
  /** What the child printed so far (last 16 KB), for error messages. */
  output(): string;
  /** SIGTERM, SIGKILL after 3 s; resolves when the process is gone. */
  stop(): Promise<void>;
  /** The memory limit it runs under (its deployed one, `deployedMemory`), when one could be set. */
  memoryLimitBytes?: number;
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;
const OUTPUT_LIMIT = 16 * 1024;
const STOP_GRACE_MS = 3000;

/**
 * Spawns `node <functions-framework>/main.js --target --source --port` (no `npx`, no tsx loader)
 * with `env` on top of this process's environment. Returns at once; see `firstResponse`.
 */
/**
 * Node options for the function under measurement, from BENCH_NODE_ARGS (for looking into a hot
 * spot: BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles it).
 */
export const benchNodeArgs = (): string[] => (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

/** The functions a checkout deploys (its shared/infra.ts; none known for a checkout that has none). */
function specsOf(runtime: BenchRuntime): readonly FunctionSpec[] {
  if (runtime === currentRuntime) return functions;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(join(runtime.root, 'shared', 'infra.ts')) as { functions?: FunctionSpec[] }).functions ?? [];
  } catch {
    return [];
  }
}

export async function spawnFunction(opts: {
  source: string;
  target: string;
  env?: Record<string, string>;
  port?: number;
  /** Node options for the child (e.g. --cpu-prof while looking for a hot spot); default: benchNodeArgs(). */
  execArgv?: string[];
  /** The node binary and Functions Framework to run it with (default: this checkout's). */
  runtime?: BenchRuntime;
  /** Run it under the memory limit it is deployed with (shared/infra.ts), where this machine allows (memory-limit.ts). */
  deployedMemory?: boolean;
}): Promise<RunningFunction> {
  const runtime = opts.runtime ?? currentRuntime;
  const port = opts.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, FUNCTION_TARGET: opts.target };
  if (env.NODE_OPTIONS?.includes('tsx')) delete env.NODE_OPTIONS; // measure plain node
  // The function's own Node flags, as deployed: each checkout's own shared/infra.ts.
  const spec: FunctionSpec | undefined = specsOf(runtime).find((f) => f.name === opts.target);
  const nodeOptions = spec?.nodeOptions;
  if (nodeOptions) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} ${nodeOptions}`.trim();
  Object.assign(env, spec?.processEnv);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
  const startedAt = performance.now();
  const args = [...(opts.execArgv ?? benchNodeArgs()), runtime.frameworkMain, `--target=${opts.target}`, `--source=${opts.source}`, `--port=${port}`];
  const limit = opts.deployedMemory && spec ? memoryCgroup(memoryBytes(spec.memory)) : undefined;
  const [command, argv] = limit ? inCgroup(limit, runtime.node, args) : [runtime.node, args];
  const child = spawn(command, argv, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const collect = (d: Buffer) => {
    output = (output + d.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    });
    child.once('error', (err) => {
      collect(Buffer.from(`spawn failed: ${err.message}\n`));
      children.delete(child);
      resolve(null);
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || !children.has(child)) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  return { target: opts.target, source: opts.source, port, url: `http://127.0.0.1:${port}`, child, startedAt, exited, output: () => output, stop, ...(limit ? { memoryLimitBytes: memoryBytes(spec!.memory) } : {}) };
}

export interface FirstResponse {
  /** Spawn → the accepted response fully received, in ms. */
  ms: number;
  response: HttpResponse;
  /** Statuses answered before the accepted one (e.g. a 503 while a dependency warmed up). */
  rejected: number[];
}

const POLL_MS = 5; // a refused connection costs well under a millisecond
const RETRY_AFTER_ANSWER_MS = 50;

/**
 * Polls `send` until it yields a response `accept` agrees with. Connection refusals are the server
 * not listening yet. Fails, with the child's output, when the process exits or `timeoutMs` passes.
 */
export async function firstResponse(
  fn: RunningFunction,
  send: (url: string) => Promise<HttpResponse>,
  accept: (r: HttpResponse) => boolean,
  timeoutMs = 30_000,
): Promise<FirstResponse> {
  const deadline = fn.startedAt + timeoutMs;
  const rejected: number[] = [];
  let exited = false;
  void fn.exited.then(() => (exited = true));
  let lastError = '';
  while (performance.now() < deadline) {
    if (exited) throw new Error(`${fn.target} (${fn.source}) exited before answering:\n${fn.output()}`);
    let wait = POLL_MS;
    try {
      const response = await send(fn.url);
      if (accept(response)) return { ms: performance.now() - fn.startedAt, response, rejected };
      rejected.push(response.status);
      lastError = `HTTP ${response.status}: ${response.text.slice(0, 300)}`;
      wait = RETRY_AFTER_ANSWER_MS;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
  throw new Error(`${fn.target} gave no accepted response within ${timeoutMs} ms (last: ${lastError})\n${fn.output()}`);
}

// ---------------------------------------------------------------------------------------------
// The benchmark

const WEBHOOK_SECRET = 'bench-webhook-secret';
const ORG_ID = 2242;
const VIRTUOSO_TOKEN = 'bench-virtuoso-token';
/** The API key of the authorized probes, provisioned in the emulator before the first spawn. */
const API_KEY = newApiKey({ tenantId: 'bench-cold', userId: 'cold-start', scopes: ['commands', 'test-runs'], name: 'cold-start bench' });
const DRY_RUN_DEFINITION = readFileSync(join(ROOT, 'shared', 'schemas', 'examples', 'checkout.yaml'), 'utf8');

interface Probe {
  label: string;
  expected: string;
  send: (url: string, run: number) => Promise<HttpResponse>;
  accept: (r: HttpResponse) => boolean;
}

const get = (path: string) => (url: string) => httpRequest(`${url}${path}`);
const status = (code: number) => (r: HttpResponse) => r.status === code;
const authorized = { authorization: `Bearer ${API_KEY.key}` };

/** How each entry point's first success is recognised. Entry points not listed: any HTTP answer to GET /. */
const PROBES: Record<string, Probe[]> = {
  health: [
    { label: 'live', expected: 'GET /?probe=live → 200', send: get('/?probe=live'), accept: status(200) },
    { label: 'deep', expected: 'GET / → 200', send: get('/'), accept: status(200) },
  ],
  webhook: [
    {
      label: 'signed',
      expected: 'signed POST → 202',
      send: (url, run) => {
        // A distinct body per run: the same body would be a duplicate (200) after the first run.
        const body = JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 900_000 + run, projectId: 1, bench: `${process.pid}-${Date.now()}-${run}` });
        return httpRequest(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, WEBHOOK_SECRET) },
          body,
        });
      },
      accept: status(202),
    },
  ],
  commands: [
    {
      // API key (Firestore) → rate limit (Redis) → the Virtuoso call → history (Firestore), cached result (Redis), event (Pub/Sub).
      label: 'authorized',
      expected: 'POST /commands create-project, API key → 200',
      send: (url, run) =>
        httpRequest(`${url}/commands`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authorized },
          body: JSON.stringify({ command: `create-project "Cold start ${process.pid}-${run}"` }),
        }),
      accept: status(200),
    },
  ],
  testRuns: [
    {
      label: 'dry run',
      expected: 'POST /test-runs?dryRun=true (YAML), API key → 200',
      send: (url) => httpRequest(`${url}/test-runs?dryRun=true`, { method: 'POST', headers: { 'content-type': 'application/yaml', ...authorized }, body: DRY_RUN_DEFINITION }),
      accept: status(200),
    },
  ],
};
/**
 * The Google clients (and Redis) each probed target's first success goes through: its library
 * floor is the bare function of runtime.ts making just those first calls (`floor (…)` targets).
 */
export const FLOOR_USES: Readonly<Record<string, string>> = {
  'health (deep)': 'firestore,pubsub,redis',
  'webhook (signed)': 'firestore,pubsub',
  'commands (authorized)': 'firestore,pubsub,redis',
  'testRuns (dry run)': 'firestore,redis',
};
export const floorTarget = (uses: string) => `floor (${uses})`;

const ANY_ANSWER: Probe = { label: 'any', expected: 'GET / → any HTTP answer', send: get('/'), accept: () => true };

/** Peak resident memory (VmHWM) of a live process, in MiB (Linux /proc). */
export function peakRssMiB(pid: number | undefined): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export interface RequireCost {
  /** `require(<bundle>)` alone, with the framework's server already loaded (as main.js has it when it loads a function), ms. */
  ms: number;
  /** RSS of `node -e "require('<bundle>')"` in a fresh process (the issue's measure), MiB. */
  rssMiB: number;
  /** RSS that the bundle's require adds over the framework's server loaded first, MiB. */
  addedRssMiB: number;
}

/**
 * What requiring a bundle costs, in fresh processes of the runtime's node: once plainly (`node -e
 * require`, RSS after), once after the Functions Framework's own server module (what its main.js
 * has loaded before it loads the function: Express), timing the bundle's require alone.
 */
export function requireCost(rt: BenchRuntime, source: string, env: NodeJS.ProcessEnv): RequireCost {
  const server = join(rt.root, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'server.js');
  const script = (preload: boolean) =>
    `${preload ? `require(${JSON.stringify(server)});` : ''}const before=process.memoryUsage.rss();const t=process.hrtime.bigint();` +
    `require(${JSON.stringify(source)});const ms=Number(process.hrtime.bigint()-t)/1e6;` +
    `process.stdout.write(JSON.stringify({ms,rss:process.memoryUsage.rss(),added:process.memoryUsage.rss()-before}));process.exit(0)`;
  const run = (preload: boolean) => JSON.parse(execFileSync(rt.node, ['-e', script(preload)], { env, encoding: 'utf8' })) as { ms: number; rss: number; added: number };
  const plain = run(false);
  const framed = run(true);
  return { ms: framed.ms, rssMiB: plain.rss / 1048576, addedRssMiB: framed.added / 1048576 };
}

export interface ColdStartOptions {
  /** Measured runs per target (default COLD_START_RUNS or 10). */
  runs?: number;
  /** Discarded rounds before measuring (default 1). */
  warmup?: number;
  /** Bundles to measure (default: every bundle in shared/infra.ts). */
  bundles?: string[];
  /** Per start: give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Progress and the table; default console.log. Pass `() => {}` for silence. */
  log?: (line: string) => void;
}

export interface TargetResult {
  /** `hello`, `health (live)`, `health (deep)`, `webhook (signed)` … */
  target: string;
  /** The runtime's label: `after` (this checkout) or `before` (BENCH_BASELINE). */
  runtime: string;
  bundle: string;
  entryPoint: string;
  expected: string;
  bytes: number;
  samplesMs: number[];
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
  /** medianMs / the medianMs of hello world on the same runtime. */
  ratioToHello: number;
  /** Non-accepted answers seen before the first success, summed over the runs. */
  rejectedAnswers: number;
  /** Median peak RSS (VmHWM) of the process at its first success, MiB. */
  peakRssMiB: number;
  /** Median CPU (user + system) the function's process spent from its spawn to its first success, ms: its own part of the wait. */
  cpuMs: number;
  /** cpuMs / hello world's on the same runtime. */
  cpuRatioToHello: number;
}

export interface RequireResult {
  bundle: string;
  runtime: string;
  /** Medians over the runs (requireCost). */
  ms: number;
  rssMiB: number;
  addedRssMiB: number;
  /** ms / the whole cold start of hello world (its median) on the same runtime. */
  ratioToHelloColdStart: number;
}

export interface ColdStartResult {
  runs: number;
  warmup: number;
  node: string;
  cpus: number;
  hello: TargetResult;
  /** Every target of this checkout, hello world first. */
  targets: TargetResult[];
  /** The same targets on BENCH_BASELINE's runtime and bundles, when it is set. */
  baseline?: { node: string; targets: TargetResult[]; requires: RequireResult[] };
  /** `require` of each bundle alone (hello world's too), this checkout. */
  requires: RequireResult[];
  bundles: BundleResult[];
  table: string;
}

/** CPU time (user + system) of a process so far, in ms (Linux /proc; clock ticks of 10 ms). */
export function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

interface Target {
  name: string;
  runtime: BenchRuntime;
  bundle: string;
  entryPoint: string;
  source: string;
  bytes: number;
  probe: Probe;
  /** Environment on top of the bench's (the Firestore REST variants). */
  env?: Record<string, string>;
  samples: number[];
  rss: number[];
  cpu: number[];
  rejected: number;
}

/**
 * Probes also measured with Firestore's REST transport (FIRESTORE_PREFER_REST=true, read by the
 * client library itself), this checkout only: the cold starts that reach Firestore.
 */
const REST_VARIANTS = new Set(['health (deep)', 'webhook (signed)', 'commands (authorized)']);

function defaultRuns(): number {
  const raw = process.env.COLD_START_RUNS;
  if (raw === undefined || raw === '') return 10;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`COLD_START_RUNS must be a positive integer (got '${raw}')`);
  return n;
}

export async function coldStartBench(opts: ColdStartOptions = {}): Promise<ColdStartResult> {
  const runs = opts.runs ?? defaultRuns();
  const warmup = opts.warmup ?? 1;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const log = opts.log ?? ((line: string) => console.log(line));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer (got ${runs})`);

  log('cold start: building bundles …');
  const runtimes = benchRuntimes();
  const names = opts.bundles?.length ? opts.bundles : bundleNames();
  const built = await Promise.all(runtimes.map(async (rt) => ({ rt, bundles: await bundlesOn(rt, names), hello: await helloBundleOn(rt) })));
  const floor = await floorBundle();
  const bundles = built[0].bundles;

  log('cold start: starting the local stack (Firestore, Pub/Sub, Redis) and the Virtuoso sandbox …');
  const stack = await startStack({ projectId: 'bench-project', redis: 'private' });
  const sandbox = await startSandbox({ organizationId: ORG_ID, token: VIRTUOSO_TOKEN });
  try {
    // A client of our own, pointed at this stack: nothing in this process's shared/ singletons
    // (config, the events client) is touched, so the bench can run beside anything else.
    process.env.METADATA_SERVER_DETECTION ??= 'none'; // no GCE metadata probe off Google's machines
    const client = new PubSub({ projectId: stack.projectId, apiEndpoint: stack.env.PUBSUB_EMULATOR_HOST });
    const fs = new Firestore({ projectId: stack.projectId, host: stack.env.FIRESTORE_EMULATOR_HOST, ssl: false, ignoreUndefinedProperties: true });
    try {
      await provisionPubsub(client, stack.projectId);
      // What storeApiKey does, with this stack's client: the authorized probes' key.
      await fs.collection(collections.apiKeys).doc(API_KEY.record.keyHash).set(API_KEY.record);
    } finally {
      await Promise.all([client.close(), fs.terminate()]);
    }
    const env: Record<string, string> = {
      ...stack.env,
      LOG_LEVEL: 'warn',
      APP_VERSION: 'bench',
      VIRTUOSO_WEBHOOK_SECRET: WEBHOOK_SECRET,
      // Every start is a new process, so the report cache never serves a first response anyway;
      // 0 keeps a transient 503 from being replayed while we poll.
      HEALTH_CACHE_MS: '0',
      SECRET_MANAGER_ENDPOINT: '',
      VIRTUOSO_BASE_URL: sandbox.url,
      VIRTUOSO_ORG_ID: String(ORG_ID),
      VIRTUOSO_API_KEY: VIRTUOSO_TOKEN,
    };

    const targets: Target[] = [];
    for (const { rt, bundles: own, hello } of built) {
      targets.push({ name: 'hello', runtime: rt, bundle: 'hello', entryPoint: 'hello', source: join(hello.outfile, '..'), bytes: hello.bytes, probe: { label: 'hello', expected: 'GET / → 200', send: get('/'), accept: status(200) }, samples: [], rss: [], cpu: [], rejected: 0 });
      for (const b of own) {
        for (const fn of functions.filter((f) => f.bundle === b.bundle)) {
          for (const probe of PROBES[fn.name] ?? [ANY_ANSWER]) {
            const name = `${fn.name} (${probe.label})`;
            targets.push({ name, runtime: rt, bundle: b.bundle, entryPoint: fn.name, source: join(b.outfile, '..'), bytes: b.bytes, probe, samples: [], rss: [], cpu: [], rejected: 0 });
            if (rt === currentRuntime && REST_VARIANTS.has(name)) {
              targets.push({ name: `${fn.name} (${probe.label}, Firestore REST)`, runtime: rt, bundle: b.bundle, entryPoint: fn.name, source: join(b.outfile, '..'), bytes: b.bytes, probe, env: { FIRESTORE_PREFER_REST: 'true' }, samples: [], rss: [], cpu: [], rejected: 0 });
            }
          }
        }
      }
    }

    // The library floors of the targets measured here, this checkout only.
    const uses = [...new Set(targets.filter((t) => t.runtime === currentRuntime && !t.env).map((t) => FLOOR_USES[t.name]).filter(Boolean))];
    for (const u of uses) {
      targets.push({ name: floorTarget(u), runtime: currentRuntime, bundle: 'floor', entryPoint: 'floor', source: join(floor.outfile, '..'), bytes: floor.bytes, probe: { label: u, expected: `GET /?uses=${u} → 200`, send: get(`/?uses=${u}`), accept: status(200) }, env: { FLOOR_TOPIC: topics.webhookEvents }, samples: [], rss: [], cpu: [], rejected: 0 });
    }

    const rounds = warmup + runs;
    log(`cold start: ${targets.length} targets × ${runs} runs (+${warmup} warm-up), round-robin …`);
    let run = 0;
    for (let round = 0; round < rounds; round++) {
      const measured = round >= warmup;
      // Rotate the order so no target always follows the same one.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]);
      for (const t of order) {
        run++;
        const fn = await spawnFunction({ source: t.source, target: t.entryPoint, env: { ...env, ...t.env }, runtime: t.runtime });
        try {
          const first = await firstResponse(fn, (url) => t.probe.send(url, run), t.probe.accept, timeoutMs);
          if (measured) {
            t.samples.push(first.ms);
            t.rss.push(peakRssMiB(fn.child.pid));
            t.cpu.push(cpuMs(fn.child.pid));
            t.rejected += first.rejected.length;
          }
        } finally {
          await fn.stop();
        }
      }
      log(`  round ${round + 1}/${rounds}${measured ? '' : ' (warm-up, discarded)'} done`);
    }

    const helloMedian = (rt: BenchRuntime) => median(targets.find((t) => t.runtime === rt && t.name === 'hello')!.samples);
    const helloCpu = (rt: BenchRuntime) => median(targets.find((t) => t.runtime === rt && t.name === 'hello')!.cpu);
    const all: TargetResult[] = targets.map((t) => ({
      target: t.name,
      runtime: t.runtime.label,
      bundle: t.bundle,
      entryPoint: t.entryPoint,
      expected: t.probe.expected,
      bytes: t.bytes,
      samplesMs: t.samples.map((x) => Math.round(x * 10) / 10),
      medianMs: median(t.samples),
      p90Ms: percentile(t.samples, 90),
      minMs: Math.min(...t.samples),
      maxMs: Math.max(...t.samples),
      ratioToHello: median(t.samples) / helloMedian(t.runtime),
      rejectedAnswers: t.rejected,
      peakRssMiB: median(t.rss),
      cpuMs: median(t.cpu),
      cpuRatioToHello: median(t.cpu) / helloCpu(t.runtime),
    }));

    // `require` of each bundle alone, in fresh processes, round-robin like the starts.
    log(`cold start: require of each bundle alone × ${runs} …`);
    const requireTargets = targets.filter((t, i) => !t.env && targets.findIndex((x) => x.runtime === t.runtime && x.bundle === t.bundle) === i);
    const costs = new Map<Target, RequireCost[]>(requireTargets.map((t) => [t, []]));
    const requireEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete requireEnv.NODE_OPTIONS;
    for (let round = 0; round < warmup + runs; round++) {
      for (const t of requireTargets) {
        const cost = requireCost(t.runtime, t.source, requireEnv);
        if (round >= warmup) costs.get(t)!.push(cost);
      }
    }
    const requiresAll: RequireResult[] = requireTargets.map((t) => {
      const c = costs.get(t)!;
      const ms = median(c.map((x) => x.ms));
      return { bundle: t.bundle, runtime: t.runtime.label, ms, rssMiB: median(c.map((x) => x.rssMiB)), addedRssMiB: median(c.map((x) => x.addedRssMiB)), ratioToHelloColdStart: ms / helloMedian(t.runtime) };
    });
    const requires = requiresAll.filter((r) => r.runtime === currentRuntime.label);
    const requiresBefore = requiresAll.filter((r) => r.runtime !== currentRuntime.label);
    const results = all.filter((r) => r.runtime === currentRuntime.label);
    const before = all.filter((r) => r.runtime !== currentRuntime.label);
    const ms = (x: number) => x.toFixed(0);
    const versus = (r: TargetResult): string[] => {
      const b = before.find((x) => x.target === r.target);
      if (!before.length) return [];
      return b ? [ms(b.medianMs), `${b.ratioToHello.toFixed(2)}x`, `${b.cpuRatioToHello.toFixed(2)}x`, humanBytes(b.bytes), b.peakRssMiB.toFixed(0), `${(r.medianMs / b.medianMs).toFixed(2)}x`] : ['', '', '', '', '', ''];
    };
    const versusHeader = before.length ? ['before ms', 'before × hello', 'before CPU × hello', 'before size', 'before RSS', 'after / before'] : [];
    const table = formatTable(
      ['target', 'first success', 'bundle', 'index.js', 'median ms', 'p90 ms', 'min ms', 'max ms', '× hello', 'CPU ms', 'CPU × hello', 'peak RSS MiB', ...versusHeader],
      results.map((r) => [r.target, r.expected, r.bundle, humanBytes(r.bytes), ms(r.medianMs), ms(r.p90Ms), ms(r.minMs), ms(r.maxMs), `${r.ratioToHello.toFixed(2)}x`, ms(r.cpuMs), `${r.cpuRatioToHello.toFixed(2)}x`, r.peakRssMiB.toFixed(0), ...versus(r)]),
      ['index.js', 'median ms', 'p90 ms', 'min ms', 'max ms', '× hello', 'CPU ms', 'CPU × hello', 'peak RSS MiB', ...versusHeader],
    );
    const requireBefore = (r: RequireResult): string[] => {
      const b = requiresBefore.find((x) => x.bundle === r.bundle);
      if (!requiresBefore.length) return [];
      return b ? [ms(b.ms), `${b.ratioToHelloColdStart.toFixed(2)}x`, b.rssMiB.toFixed(0)] : ['', '', ''];
    };
    const requireTable = formatTable(
      ['bundle', 'require ms', '× hello cold start', 'RSS MiB (node -e require)', 'added over the framework MiB', ...(requiresBefore.length ? ['before ms', 'before ×', 'before RSS MiB'] : [])],
      requires.map((r) => [r.bundle, ms(r.ms), `${r.ratioToHelloColdStart.toFixed(2)}x`, r.rssMiB.toFixed(1), r.addedRssMiB.toFixed(1), ...requireBefore(r)]),
      ['require ms', '× hello cold start', 'RSS MiB (node -e require)', 'added over the framework MiB', 'before ms', 'before ×', 'before RSS MiB'],
    );
    const nodes = built.map(({ rt }) => `${rt.label}: node ${rt.version}`).join('; ');
    log(`\nCold start, spawn → first success (${nodes}; ${cpus().length} CPUs, ${runs} runs each):\n${table}`);
    log(`\nrequire of each bundle alone (medians of ${runs}; ms with the framework's server loaded first, as its main.js has it; RSS of a plain node -e require):\n${requireTable}`);
    const slow = all.filter((r) => r.rejectedAnswers > 0);
    for (const r of slow) log(`note: ${r.target} (${r.runtime}) answered ${r.rejectedAnswers} non-accepted response(s) before succeeding`);
    const baseline = built[1] ? { node: built[1].rt.version, targets: before, requires: requiresBefore } : undefined;
    return { runs, warmup, node: process.version, cpus: cpus().length, hello: results[0], targets: results, requires, ...(baseline ? { baseline } : {}), bundles, table: `${table}\n\n${requireTable}` };
  } finally {
    await Promise.all([stack.stop(), sandbox.close()]);
  }
}

function parseArgs(argv: string[]): ColdStartOptions {
  const opts: ColdStartOptions = {};
  const bundles: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--runs(?:=(.*))?$/.exec(a);
    if (m) {
      const raw = m[1] ?? argv[++i];
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--runs must be a positive integer (got '${raw}')`);
      opts.runs = n;
    } else if (a.startsWith('-')) {
      throw new Error(`Unknown option ${a} (usage: cold-start.ts [--runs=N] [bundle ...]; bundles: ${bundleNames().join(', ')})`);
    } else {
      bundles.push(a);
    }
  }
  if (bundles.length) opts.bundles = bundles;
  return opts;
}

if (require.main === module) {
  (async () => {
    await coldStartBench(parseArgs(process.argv.slice(2)));
  })().catch((err: Error) => {
    console.error(`cold-start bench failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}
