/**
 * Test-run build benchmark (issue 4 §4): a definition of 1 project, 3 goals, 10 journeys,
 * 50 checkpoints and 1,000 steps, built by testRunWorker (its own process, the real bundle) against
 * the Virtuoso sandbox answering every call after 20 ms.
 *
 * Reported per run: the build's wall time (the worker's `startedAt` → `executing` recorded, so the
 * queue's own delay is out) and POST → executing, against the critical-path lower bound — the
 * longest chain of calls that must happen one after another (plan.ts), times 20 ms; target ratio
 * ≤ 1.5. And the worker's peak memory (VmHWM), beside its resident memory when idle.
 *
 *   node --import tsx scripts/bench/test-runs.ts [--runs=3] [--latency=20] [--concurrency=50]
 *
 * For looking into a slow build: BENCH_LOG_LEVEL=info prints the worker's log at the end;
 * BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the worker;
 * BENCH_DUMP=/tmp/calls.json writes each run's Virtuoso calls with their times.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FieldPath, Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { stringify } from 'yaml';
import { freePort } from '../local-stack/processes';
import { provisionPubsub } from '../local-stack/provision';
import { startStack } from '../local-stack/stack';
import { startStorageServer } from '../local-stack/storage-server';
import { startTasksDispatcher } from '../local-stack/tasks-dispatcher';
import { startSandbox } from '../virtuoso-sandbox/server';
import { newApiKey } from '../../shared/auth';
import { getConfig } from '../../shared/config';
import { collections, functions } from '../../shared/infra';
import { parseDefinition } from '../../shared/testruns/definition';
import { buildPlan } from '../../shared/testruns/plan';
import { benchNodeArgs, cpuMs, firstResponse, httpRequest, median, spawnFunction, type RunningFunction } from './cold-start';
import { exchangesOf, startReplayServer, type Exchange } from './replay-floor';
import { bundlesOn, currentRuntime, type BenchRuntime } from './runtime';
import { workerMemoryFloor, type MemoryFloor } from './worker-memory-floor';

const ORG_ID = 2242;
const TOKEN = 'bench-virtuoso-token';

export interface TestRunsBenchOptions {
  runs?: number;
  latencyMs?: number;
  /** TEST_RUN_CONCURRENCY for the worker (default: the worker's own default). */
  concurrency?: number;
  /** What the functions run on (default: this checkout, on its Node). */
  runtime?: BenchRuntime;
  log?: (line: string) => void;
}

export interface TestRunBenchRun {
  buildMs: number;
  postToExecutingMs: number;
  ratio: number;
  virtuosoCalls: number;
  workerCpuMs: number;
  /** The Firestore emulator (the worker's progress writes, the watcher's reads). */
  firestoreCpuMs: number;
  /** This process: the sandbox, the Cloud Tasks dispatcher, the local Storage and the watcher. */
  sandboxCpuMs: number;
  /**
   * The ratio a worker costing no CPU at all could reach on this machine: the other processes'
   * CPU (sandbox and emulator) spread over every core, or the critical path if that is longer.
   */
  zeroCostWorkerRatio: number;
  /**
   * The most CPU the worker could spend on the build and still finish within TARGET_RATIO × the
   * critical path here, if every core were kept busy: cores × that time − the others' CPU (≥ 0).
   */
  workerCpuBudgetMs: number;
}

/** Issue 4's target: the build within 1.5 × the critical path. */
const TARGET_RATIO = 1.5;
/** Builds before the measured ones (not counted): the worker warms as the CPU floor does. */
export const WARM_UP_BUILDS = 2;

export interface TestRunsBenchResult {
  node: string;
  cpus: number;
  shape: { goals: number; journeys: number; checkpoints: number; steps: number; operations: number; calls: number };
  latencyMs: number;
  criticalPathCalls: number;
  lowerBoundMs: number;
  runs: TestRunBenchRun[];
  medianBuildMs: number;
  medianRatio: number;
  worker: { idleRssMiB: number; peakRssMiB: number; /** The memory limit it ran under, MiB (undefined: none could be set). */ memoryLimitMiB?: number };
  /**
   * The CPU floor per Virtuoso call (replay-floor.ts): a bare Node HTTP client making the last
   * measured build's calls, with their bodies and answers, as many in flight as the worker allows;
   * this checkout only.
   */
  floor?: { calls: number; cpuMsPerCall: number };
  /** The memory floor (worker-memory-floor.ts): the same clients and calls in a bare process, as many builds' worth; this checkout only. */
  memoryFloor?: MemoryFloor;
}

/** 3 goals; journeys 4 + 3 + 3; 5 checkpoints each; 20 steps each, of every common kind. */
export function benchDefinition(project: string): string {
  const kinds = [
    { click: 'Add to cart' }, { write: { selector: 'Email', text: 'qa@example.com' } }, { assert: 'Cart (1)' }, { key: 'Enter' },
    { hover: 'Menu' }, { wait: 500 }, { store: { selector: 'Total', as: 'total' } }, { comment: 'checkpoint reached' },
    { select: { selector: 'Country', option: 'France' } }, { scroll: 'bottom' },
  ];
  const goals = [4, 3, 3].map((journeys, g) => ({
    name: `Goal ${g + 1}`,
    url: `https://shop${g + 1}.example.com`,
    journeys: Array.from({ length: journeys }, (_, j) => ({
      name: `Journey ${j + 1}`,
      checkpoints: Array.from({ length: 5 }, (_, c) => ({
        name: `Checkpoint ${c + 1}`,
        steps: Array.from({ length: 20 }, (_, s) => kinds[(s + c) % kinds.length]),
      })),
    })),
  }));
  return stringify({ name: 'Benchmark build', project, options: { timeout: 3600 }, goals }, { aliasDuplicateObjects: false });
}

/** Peak and current resident memory of a process (Linux /proc), MiB. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

export async function testRunsBench(opts: TestRunsBenchOptions = {}): Promise<TestRunsBenchResult> {
  const runs = opts.runs ?? 3;
  const latencyMs = opts.latencyMs ?? 20;
  const log = opts.log ?? ((line: string) => console.log(line));
  const runtime = opts.runtime ?? currentRuntime;
  log(`test-runs (${runtime.label}, node ${runtime.version}): building the test-runs bundle …`);
  const [bundle] = await bundlesOn(runtime, ['test-runs']);
  log('test-runs: starting the local stack, the sandbox (20 ms per call), Cloud Tasks and Storage …');
  const stack = await startStack({ projectId: 'bench-test-runs', redis: 'private' });
  const savedEnv = Object.fromEntries(Object.keys(stack.env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, stack.env);
  const storageDir = await mkdtemp(join(tmpdir(), 'bench-storage-'));
  const sandbox = await startSandbox({ organizationId: ORG_ID, token: TOKEN, latencyMs, executionMs: 60_000 });
  const tasks = await startTasksDispatcher();
  const storage = await startStorageServer({ dir: storageDir });
  const fs = new Firestore({ projectId: stack.projectId, ignoreUndefinedProperties: true });
  const fns: RunningFunction[] = [];
  try {
    await provisionPubsub(new PubSub({ projectId: stack.projectId, apiEndpoint: stack.env.PUBSUB_EMULATOR_HOST }), stack.projectId);
    const workerPort = await freePort();
    const env: Record<string, string> = {
      ...stack.env,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', APP_VERSION: 'bench', REGION: 'local', SECRET_MANAGER_ENDPOINT: '',
      VIRTUOSO_BASE_URL: sandbox.url, VIRTUOSO_ORG_ID: String(ORG_ID), VIRTUOSO_API_KEY: TOKEN,
      CLOUD_TASKS_ENDPOINT: tasks.url, STORAGE_ENDPOINT: storage.url,
      TEST_RUN_WORKER_URL: `http://127.0.0.1:${workerPort}/`, TEST_RUN_POLL_SECONDS: '3600',
      ...(opts.concurrency ? { TEST_RUN_CONCURRENCY: String(opts.concurrency) } : {}),
    };
    const source = join(bundle.outfile, '..');
    const api = await spawnFunction({ source, target: 'testRuns', env, runtime });
    fns.push(api);
    // Under its deployed memory limit, as on Cloud Run: Node sizes its heap from it (memory-limit.ts).
    const worker = await spawnFunction({ source, target: 'testRunWorker', env, port: workerPort, execArgv: benchNodeArgs(), runtime, deployedMemory: true });
    fns.push(worker);
    log(
      worker.memoryLimitBytes
        ? `test-runs: testRunWorker runs under its deployed memory limit, ${worker.memoryLimitBytes / 1048576} MiB (a cgroup)`
        : 'test-runs: testRunWorker runs WITHOUT its deployed memory limit (no writable cgroup memory controller here): Node sizes its heap from this machine\'s memory, so its peak is not production\'s',
    );
    await firstResponse(api, (url) => httpRequest(`${url}/test-runs`), (r) => r.status === 401, 30_000);
    await firstResponse(worker, (url) => httpRequest(url), (r) => r.status === 405, 30_000);
    const { key, record } = newApiKey({ tenantId: 'bench', userId: 'bench', scopes: ['test-runs'] });
    await fs.collection(collections.apiKeys).doc(record.keyHash).create(record);

    const def = parseDefinition(benchDefinition('shape'));
    const plan = buildPlan(def, { execute: true });
    const lowerBoundMs = plan.criticalPathCalls * latencyMs;
    log(`test-runs: ${plan.totals.operations} operations, ${plan.totals.calls} calls; critical path ${plan.criticalPathCalls} calls × ${latencyMs} ms = ${lowerBoundMs} ms`);
    const idle = memoryOf(worker.child.pid!);
    const idleFs0 = cpuMs(stack.firestore.pid?.());
    await new Promise((r) => setTimeout(r, 2000));
    log(`test-runs: Firestore emulator CPU while idle: ${Math.round(cpuMs(stack.firestore.pid?.()) - idleFs0)} ms in 2 s`);

    const results: TestRunBenchRun[] = [];
    // The first runs warm the worker's JIT and the emulator's JVM; they are reported, not counted.
    // Two, as the CPU floor replays a build twice before it measures (replay-floor.ts): the first
    // build after one warm-up still cost 15-25 % more than the ones after it.
    let exchanges: Exchange[] = [];
    for (let i = -WARM_UP_BUILDS; i < runs; i++) {
      const received = sandbox.faults.received.length;
      // The last build's calls are kept, with their bodies and answers, for the floor's replay.
      sandbox.faults.keepExchanges = runtime === currentRuntime && i === runs - 1;
      const cpu0 = cpuMs(worker.child.pid);
      const fsCpu0 = cpuMs(stack.firestore.pid?.());
      const here0 = process.cpuUsage();
      const t0 = performance.now();
      const res = await fetch(`${api.url}/test-runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/yaml' },
        body: benchDefinition(`Bench ${Date.now().toString(36)}-${i + 1}`),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 202 || !body.id) throw new Error(`POST /test-runs: ${res.status} ${JSON.stringify(body)}\n${api.output()}`);
      // Polled through a projection (a listener would receive the whole document on every progress write).
      const query = fs.collection(collections.testRuns).where(FieldPath.documentId(), '==', body.id).select('status', 'startedAt', 'updatedAt', 'error');
      let run: { status?: string; startedAt: string; updatedAt: string; error?: unknown } | undefined;
      for (const end = Date.now() + 120_000; ; ) {
        run = (await query.get()).docs[0]?.data() as typeof run;
        if (run?.status === 'error') throw new Error(`run failed: ${JSON.stringify(run.error)}`);
        if (run?.status === 'executing') break;
        if (Date.now() > end) throw new Error(`run ${body.id} did not reach executing in 120 s\n${worker.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const postToExecutingMs = performance.now() - t0;
      const buildMs = Date.parse(run.updatedAt) - Date.parse(run.startedAt);
      const r: TestRunBenchRun = {
        buildMs, postToExecutingMs: Math.round(postToExecutingMs), ratio: Number((buildMs / lowerBoundMs).toFixed(2)),
        virtuosoCalls: sandbox.faults.received.length - received, workerCpuMs: Math.round(cpuMs(worker.child.pid) - cpu0),
        firestoreCpuMs: Math.round(cpuMs(stack.firestore.pid?.()) - fsCpu0),
        sandboxCpuMs: Math.round(((u) => (u.user + u.system) / 1000)(process.cpuUsage(here0))),
        zeroCostWorkerRatio: 0,
        workerCpuBudgetMs: 0,
      };
      const others = r.sandboxCpuMs + r.firestoreCpuMs;
      r.zeroCostWorkerRatio = Number((Math.max(lowerBoundMs, others / cpus().length) / lowerBoundMs).toFixed(2));
      r.workerCpuBudgetMs = Math.max(0, Math.round(cpus().length * TARGET_RATIO * lowerBoundMs - others));
      if (i >= 0) results.push(r);
      if (sandbox.faults.keepExchanges) exchanges = exchangesOf(sandbox.faults.received.slice(received));
      sandbox.faults.keepExchanges = false;
      if (process.env.BENCH_DUMP) writeFileSync(process.env.BENCH_DUMP, JSON.stringify(sandbox.faults.received.slice(received)));
      log(`test-runs: ${i < 0 ? `warm-up run ${WARM_UP_BUILDS + i + 1}` : `run ${i + 1}`}: build ${r.buildMs} ms (${r.ratio}× the lower bound), POST → executing ${r.postToExecutingMs} ms, ${r.virtuosoCalls} Virtuoso calls, worker CPU ${r.workerCpuMs} ms, sandbox CPU ${r.sandboxCpuMs} ms, Firestore emulator CPU ${r.firestoreCpuMs} ms; a worker costing no CPU could reach ${r.zeroCostWorkerRatio}× here, and ${TARGET_RATIO}× needs the worker under ${r.workerCpuBudgetMs} ms of CPU`);
    }
    const peak = memoryOf(worker.child.pid!);
    const floor = exchanges.length ? await replayFloor(exchanges, latencyMs, opts.concurrency ?? (getConfig().testRunConcurrency as number)) : undefined;
    if (floor) log(`test-runs: CPU floor, a bare HTTP client replaying the last build's ${floor.calls} calls: ${floor.cpuMsPerCall} ms per call`);
    // As many builds' worth as the worker made (the warm-ups included), with the stack's emulators and Redis.
    const memoryFloor = exchanges.length ? await workerMemoryFloor(exchanges, runs + WARM_UP_BUILDS, stack.env, (line) => log(`test-runs: ${line}`)) : undefined;
    if (process.env.BENCH_LOG_LEVEL) log(worker.output());
    const medianBuildMs = median(results.map((r) => r.buildMs));
    return {
      node: runtime.version, cpus: cpus().length,
      shape: { goals: plan.totals.goals, journeys: plan.totals.journeys, checkpoints: plan.totals.checkpoints, steps: plan.totals.steps, operations: plan.totals.operations, calls: plan.totals.calls },
      latencyMs, criticalPathCalls: plan.criticalPathCalls, lowerBoundMs, runs: results, medianBuildMs,
      medianRatio: Number((medianBuildMs / lowerBoundMs).toFixed(2)),
      worker: { idleRssMiB: Math.round(idle.rss), peakRssMiB: Math.round(peak.hwm), ...(worker.memoryLimitBytes ? { memoryLimitMiB: worker.memoryLimitBytes / 1048576 } : {}) },
      ...(floor ? { floor } : {}),
      ...(memoryFloor ? { memoryFloor } : {}),
    };
  } finally {
    await Promise.all(fns.map((f) => f.stop()));
    await fs.terminate();
    await Promise.all([sandbox.close(), tasks.close(), storage.close(), stack.stop()]);
    await rm(storageDir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * Replays a build's calls from a bare client in a process of its own (replay-floor.ts), with the
 * worker's Node flags (shared/infra.ts), against the recorded answers served after `latencyMs`.
 */
async function replayFloor(exchanges: Exchange[], latencyMs: number, concurrency: number): Promise<{ calls: number; cpuMsPerCall: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-replay-'));
  const server = await startReplayServer(exchanges, latencyMs);
  try {
    const file = join(dir, 'exchanges.json');
    writeFileSync(file, JSON.stringify(exchanges));
    const nodeOptions = functions.find((f) => f.name === 'testRunWorker')?.nodeOptions?.split(/\s+/).filter(Boolean) ?? [];
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(currentRuntime.node, [...nodeOptions, '--import', 'tsx', join(__dirname, 'replay-floor.ts'), file, server.url, String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`the replay client exited with ${code}`))));
    });
    const { calls, cpuMs: used } = JSON.parse(out.trim().split('\n').at(-1)!) as { calls: number; cpuMs: number };
    return { calls, cpuMsPerCall: Math.round((used / calls) * 1000) / 1000 };
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  testRunsBench({ runs: Number(arg('runs') ?? 3), latencyMs: Number(arg('latency') ?? 20), concurrency: arg('concurrency') ? Number(arg('concurrency')) : undefined })
    .then((r) => {
      console.log(JSON.stringify({ ...r }, null, 2));
      process.exit(0);
    })
    .catch((err: Error) => {
      console.error(err.stack ?? err.message);
      process.exit(1);
    });
}
