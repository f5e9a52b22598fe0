/**
 * The commands function (issue 3) on the real local stack: what a command costs through the
 * function over the same Virtuoso call made directly, and how fast the queued pipeline drains.
 *
 *   node --import tsx scripts/bench/commands.ts [--n=300] [--m=200] [--concurrency=20]
 *
 * Everything runs as in `npm start`, each in its own process where production has one: the Firestore
 * and Pub/Sub emulators and a private Redis (startStack, free ports), the `commands` bundle under
 * the Functions Framework twice (targets `commands` and `commandWorker`), the local Cloud Tasks
 * dispatcher and the Virtuoso sandbox (these two in this process).
 *
 * 1. Synchronous overhead, sandbox latency 0: one project/goal/journey and checkpoints of 50 steps
 *    each (Virtuoso answers a step creation with the whole checkpoint), then N
 *    `step-misc comment <cp> "…"` as `POST /commands` against the same N step creations made
 *    directly with VirtuosoClient (`POST /teststeps`, body from stepFromCli + createStepBody, as
 *    the function builds it), interleaved in blocks (the order alternates) so noise hits both.
 *    Both use keep-alive connections. Breakdown: the command's own `durationMs` (runCommand, i.e.
 *    the Virtuoso call) against the rest, the function's and Firestore emulator's CPU per command,
 *    and a read command (`get-step`) direct / through the function uncached / cached in Redis.
 * 2. Queued pipeline, sandbox latency 20 ms: M `POST /commands {async: true}` with C in flight,
 *    through the real Cloud Tasks client, the local dispatcher and commandWorker; when the
 *    dispatcher is idle every command is read back through `GET /commands/{id}` (it must be
 *    `succeeded`; its `updatedAt` is when the worker recorded that), and the checkpoint must hold
 *    exactly the M steps, each once: otherwise the bench fails. Also: CPU per queued command of
 *    every process, to show where a saturated machine spends it.
 *
 * API keys are made by shared/auth's newApiKey and stored at `api_keys/{sha256}` exactly as
 * storeApiKey does, with a Firestore client of this bench's own (pointed at this stack), so no
 * shared/ singleton of this process is touched. A key is used for at most KEY_BUDGET requests
 * (the limit is 1000 per minute per user and endpoint).
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { formatTable } from '../build';
import { freePort } from '../local-stack/processes';
import { provisionPubsub } from '../local-stack/provision';
import { startStack } from '../local-stack/stack';
import { startTasksDispatcher, type TasksDispatcher } from '../local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../virtuoso-sandbox/server';
import { newApiKey } from '../../shared/auth';
import { collections, topics } from '../../shared/infra';
import { tokenize } from '../../shared/virtuoso/cli';
import { VirtuosoClient } from '../../shared/virtuoso/client';
import { stepFromCli } from '../../shared/virtuoso/step-commands';
import { APPEND, createStepBody } from '../../shared/virtuoso/steps';
import { benchNodeArgs, cpuMs, firstResponse, httpRequest, median, percentile, spawnFunction, type RunningFunction } from './cold-start';
import { bundlesOn, currentRuntime, floorBundle, type BenchRuntime } from './runtime';

const ORG_ID = 2242;
const VIRTUOSO_TOKEN = 'bench-virtuoso-token';
/** Requests per API key (the rate limit is 1000 per minute per user and endpoint). */
const KEY_BUDGET = 900;
const REQUEST_TIMEOUT_MS = 30_000;
const DEPENDENCY_SAMPLES = 100;
/** Steps per checkpoint in the synchronous part (a real checkpoint holds tens). */
const STEPS_PER_CHECKPOINT = 50;

export interface CommandsBenchOptions {
  /** Synchronous step commands each way (default 300). */
  n?: number;
  /** Warm-up calls each way before measuring, discarded (default 20). */
  warmup?: number;
  /** Calls per interleaved block (default 10). */
  blockSize?: number;
  /** Read commands each way for the breakdown (default 100; 0 skips it). */
  reads?: number;
  /** Queued commands (default 200). */
  m?: number;
  /** Queued commands in flight while submitting (default 20). */
  concurrency?: number;
  /** Sandbox latency during the queued part (default 20 ms). */
  asyncLatencyMs?: number;
  /** Give up waiting for the queue after this long (default 90 s). */
  asyncTimeoutMs?: number;
  /** What the functions run on (default: this checkout, on its Node). */
  runtime?: BenchRuntime;
  log?: (line: string) => void;
}

export interface Stats {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

export interface CommandsBenchResult {
  node: string;
  cpus: number;
  sync: {
    /** Step creation made directly with VirtuosoClient. */
    direct: Stats;
    /** The same through POST /commands (client-side, request → whole answer). */
    viaFunction: Stats;
    addedP50Ms: number;
    addedP99Ms: number;
    /** The command's own durationMs (runCommand: the Virtuoso call), as the function reports it. */
    insideRunCommand: Stats;
    /** Client latency minus durationMs, per request: auth, rate limit, history writes, cache, event, HTTP. */
    outsideRunCommand: Stats;
    /** CPU of the commands function's process per command (user + system). */
    functionCpuMsPerCommand: number;
    /**
     * CPU per command of the floor (runtime.ts `floorCommand`): a bare function making the calls a
     * sync step command must make, through the same clients, on the same interleaved requests; this
     * checkout only.
     */
    floorCpuMsPerCommand?: number;
    /** CPU of each emulator per command (only the function's calls touch them). */
    emulatorCpuMsPerCommand: Record<string, number>;
    reads?: { direct: Stats; uncached: Stats; cached: Stats };
    /** From this process, the same libraries: one history-like document write, one event publish (1 ms batching, as shared/events.ts). */
    dependencies: { firestoreWrite: Stats; pubsubPublish: Stats };
  };
  async: {
    commands: number;
    concurrency: number;
    virtuosoLatencyMs: number;
    /** First POST sent → last `succeeded` recorded. */
    wallMs: number;
    commandsPerSecond: number;
    /** POST → 202. */
    submit: Stats;
    /** POST sent → `succeeded` recorded by the worker (its `updatedAt`; whole ms). */
    toSucceeded: Stats;
    /** Task created at the dispatcher → the worker's answer received (ms resolution). */
    taskToAnswered: Stats;
    /** CPU per queued command (submit, worker, the reads back excluded) of each process. */
    cpuMsPerCommand: Record<string, number>;
    /** Tasks the dispatcher had to deliver more than once. */
    retriedTasks: number;
    deliveries: number;
  };
  table: string;
}

// ---------------------------------------------------------------------------------------------

function stats(xs: number[]): Stats {
  if (!xs.length) return { samples: 0, p50Ms: NaN, p99Ms: NaN, meanMs: NaN, minMs: NaN, maxMs: NaN };
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    samples: xs.length,
    p50Ms: r(median(xs)),
    p99Ms: r(percentile(xs, 99)),
    meanMs: r(xs.reduce((s, x) => s + x, 0) / xs.length),
    minMs: r(Math.min(...xs)),
    maxMs: r(Math.max(...xs)),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Answer {
  status: number;
  body: Json;
  text: string;
  ms: number;
}

/** One call to the function on a keep-alive connection (like a CLI session), timed to the whole answer. */
async function call(base: string, key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  let parsed: Json;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, ms };
}

/** API keys of one tenant, each used for at most KEY_BUDGET requests, made before they are needed. */
class KeyPool {
  private keys: string[] = [];
  constructor(
    private readonly fs: Firestore,
    readonly tenantId: string,
    private readonly userPrefix: string,
  ) {}

  /** Makes sure `requests` requests have a key; each new key is used once by `warm` (its lookup then cached). */
  async reserve(requests: number, warm: (key: string) => Promise<void>): Promise<void> {
    while (this.keys.length * (KEY_BUDGET - 1) < requests) {
      const { key, record } = newApiKey({ tenantId: this.tenantId, userId: `${this.userPrefix}-${this.keys.length + 1}`, scopes: ['commands'], name: 'bench' });
      // What storeApiKey does, with this stack's client.
      await this.fs.collection(collections.apiKeys).doc(record.keyHash).create(record);
      await warm(key);
      this.keys.push(key);
    }
  }

  /** The key for the i-th request of the pool (after the warming request of each key). */
  key(i: number): string {
    const k = this.keys[Math.floor(i / (KEY_BUDGET - 1))];
    if (!k) throw new Error(`no API key reserved for request ${i}`);
    return k;
  }
}

// ---------------------------------------------------------------------------------------------

export async function commandsBench(opts: CommandsBenchOptions = {}): Promise<CommandsBenchResult> {
  const n = opts.n ?? 300;
  const warmup = opts.warmup ?? 20;
  const blockSize = opts.blockSize ?? 10;
  const readCount = Math.min(opts.reads ?? 100, n);
  const m = opts.m ?? 200;
  const concurrency = opts.concurrency ?? 20;
  const asyncLatencyMs = opts.asyncLatencyMs ?? 20;
  const asyncTimeoutMs = opts.asyncTimeoutMs ?? 90_000;
  const log = opts.log ?? ((line: string) => console.log(line));
  for (const [k, v] of Object.entries({ n, m, concurrency, blockSize })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer (got ${v})`);
  }

  const runtime = opts.runtime ?? currentRuntime;
  log(`commands (${runtime.label}, node ${runtime.version}): building the commands bundle …`);
  const [bundle] = await bundlesOn(runtime, ['commands']);
  const floor = runtime === currentRuntime ? await floorBundle() : undefined;
  log('commands: starting the local stack, the Virtuoso sandbox and the Cloud Tasks dispatcher …');
  const stack = await startStack({ projectId: 'bench-commands', redis: 'private' });
  // This process's own clients (Firestore, Pub/Sub) read the emulator hosts from the environment
  // when created; the previous values come back at the end.
  const savedEnv = Object.fromEntries(Object.keys(stack.env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, stack.env);

  let sandbox: Sandbox | undefined;
  let tasks: TasksDispatcher | undefined;
  let fs: Firestore | undefined;
  let pubsub: PubSub | undefined;
  const fns: RunningFunction[] = [];
  try {
    sandbox = await startSandbox({ organizationId: ORG_ID, token: VIRTUOSO_TOKEN });
    tasks = await startTasksDispatcher();
    fs = new Firestore({ projectId: stack.projectId, ignoreUndefinedProperties: true });
    pubsub = new PubSub({ projectId: stack.projectId, apiEndpoint: stack.env.PUBSUB_EMULATOR_HOST });
    await provisionPubsub(pubsub, stack.projectId);

    const workerPort = await freePort();
    const env: Record<string, string> = {
      ...stack.env,
      LOG_LEVEL: 'warn',
      APP_VERSION: 'bench',
      REGION: 'local',
      SECRET_MANAGER_ENDPOINT: '',
      VIRTUOSO_BASE_URL: sandbox.url,
      VIRTUOSO_ORG_ID: String(ORG_ID),
      VIRTUOSO_API_KEY: VIRTUOSO_TOKEN,
      CLOUD_TASKS_ENDPOINT: tasks.url,
      COMMAND_WORKER_URL: `http://127.0.0.1:${workerPort}/`,
      TASKS_INVOKER_SA: 'tasks-invoker@bench-commands.iam.gserviceaccount.com',
    };
    const source = join(bundle.outfile, '..');
    const api = await spawnFunction({ source, target: 'commands', env, execArgv: benchNodeArgs(), runtime });
    fns.push(api);
    const worker = await spawnFunction({ source, target: 'commandWorker', env, port: workerPort, runtime });
    fns.push(worker);
    await firstResponse(api, (url) => httpRequest(`${url}/commands`), (r) => r.status === 401, 30_000);
    await firstResponse(worker, (url) => httpRequest(url), (r) => r.status === 405, 30_000);
    const floorFn = floor
      ? await spawnFunction({ source: join(floor.outfile, '..'), target: 'floorCommand', env: { ...env, FLOOR_TOPIC: topics.commandEvents }, runtime })
      : undefined;
    if (floorFn) fns.push(floorFn);
    const fail = (what: string, r: Answer) => new Error(`${what}: HTTP ${r.status} ${r.text.slice(0, 300)}\n${api.output()}${worker.output()}`);

    const direct = new VirtuosoClient({ baseUrl: sandbox.url, token: async () => VIRTUOSO_TOKEN, maxAttempts: 1 });
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const warmKey = async (key: string) => {
      const r = await call(api.url, key, 'GET', '/commands?limit=1');
      if (r.status !== 200) throw fail('warming an API key', r);
    };

    // --- 1. Synchronous commands ----------------------------------------------------------------
    const sync = new KeyPool(fs, `bench-${run}`, 'sync');
    await sync.reserve(10 + warmup + n + 2 * readCount, warmKey);
    let syncReq = 0;
    const runSync = async (command: string, what = command): Promise<Answer> => {
      const r = await call(api.url, sync.key(syncReq++), 'POST', '/commands', { command });
      if (r.status !== 200 || r.body?.status !== 'succeeded') throw fail(what, r);
      return r;
    };
    const project = (await runSync(`create-project "Bench ${run}"`)).body.output;
    const goal = (await runSync(`create-goal ${project.project_id} Goal --url https://shop.example.com`)).body.output;
    const journey = (await runSync(`create-journey ${goal.goal_id} ${goal.snapshot_id} Journey`)).body.output;
    // Virtuoso answers a step creation with the whole checkpoint (VIRTUOSO_API.md §1.4), so one
    // checkpoint of hundreds of steps would make every answer hundreds of KB and the bench would
    // measure JSON parsing. Each side fills checkpoints of STEPS_PER_CHECKPOINT steps, like real ones.
    const newCheckpoint = async (name: string) =>
      String((await runSync(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} "${name}"`)).body.output.checkpoint_id);
    const checkpointsPerSide = Math.ceil((warmup + n) / STEPS_PER_CHECKPOINT);
    const fnCheckpoints: string[] = [];
    const directCheckpoints: string[] = [];
    const floorCheckpoints: string[] = [];
    for (let i = 0; i < checkpointsPerSide; i++) {
      fnCheckpoints.push(await newCheckpoint(`Sync f${i}`));
      directCheckpoints.push(await newCheckpoint(`Sync d${i}`));
      if (floorFn) floorCheckpoints.push(await newCheckpoint(`Sync floor${i}`));
    }
    let fnSteps = 0;
    let directSteps = 0;
    let floorSteps = 0;
    const cpAsync = String((await runSync(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} Async`)).body.output.checkpoint_id);

    const viaFunction = async (text: string) => {
      const cp = fnCheckpoints[Math.floor(fnSteps++ / STEPS_PER_CHECKPOINT)];
      const r = await runSync(`step-misc comment ${cp} "${text}"`);
      return { ms: r.ms, durationMs: Number(r.body.durationMs), stepId: String(r.body.output.id) };
    };
    const viaClient = async (text: string) => {
      const cp = directCheckpoints[Math.floor(directSteps++ / STEPS_PER_CHECKPOINT)];
      const t0 = performance.now();
      // What the function does with the same CLI string: parse, build the body, POST /teststeps.
      const step = stepFromCli(tokenize(`step-misc comment ${cp} "${text}"`));
      const created = await direct.item<{ testStep: { id: number | string } }>('POST', '/teststeps', { body: createStepBody(cp, step.parsedStep, APPEND) });
      const ms = performance.now() - t0;
      if (created?.testStep?.id === undefined) throw new Error(`direct POST /teststeps answered no step: ${JSON.stringify(created).slice(0, 300)}`);
      return ms;
    };

    // The same step creation through the floor function (the body built here, as viaClient does).
    const viaFloor = async (text: string) => {
      const cp = floorCheckpoints[Math.floor(floorSteps++ / STEPS_PER_CHECKPOINT)];
      const step = stepFromCli(tokenize(`step-misc comment ${cp} "${text}"`));
      const r = await call(floorFn!.url, '', 'POST', '/', { checkpointId: cp, body: createStepBody(cp, step.parsedStep, APPEND) });
      if (r.status !== 200 || r.body?.status !== 'succeeded') throw fail('floor step command', r);
    };

    log(`commands: ${warmup} warm-up calls each way, then ${n} step commands each way (blocks of ${blockSize}, alternating${floorFn ? ', and as many through the CPU floor' : ''}) …`);
    for (let i = 0; i < warmup; i++) {
      await viaFunction(`warm f${i}`);
      await viaClient(`warm d${i}`);
      if (floorFn) await viaFloor(`warm floor${i}`);
    }
    const fnMs: number[] = [];
    const inside: number[] = [];
    const outside: number[] = [];
    const directMs: number[] = [];
    const fnStepIds: string[] = [];
    const emulatorPids = { firestore: stack.firestore.pid?.(), pubsub: stack.pubsub.pid?.() };
    let fnCpu = 0;
    let floorCpu = 0;
    let floorDone = 0;
    const emuCpu: Record<string, number> = { firestore: 0, pubsub: 0 };
    for (let block = 0; fnMs.length < n || directMs.length < n; block++) {
      const fnFirst = block % 2 === 0;
      for (const side of [...(fnFirst ? ['fn', 'direct'] : ['direct', 'fn']), ...(floorFn ? ['floor'] : [])]) {
        if (side === 'floor') {
          const c0 = cpuMs(floorFn!.child.pid);
          for (let j = 0; j < blockSize && floorDone < n; j++, floorDone++) await viaFloor(`floor${floorDone}`);
          floorCpu += cpuMs(floorFn!.child.pid) - c0;
          continue;
        }
        if (side === 'fn') {
          const c0 = cpuMs(api.child.pid);
          const e0 = Object.fromEntries(Object.entries(emulatorPids).map(([k, p]) => [k, cpuMs(p)]));
          for (let j = 0; j < blockSize && fnMs.length < n; j++) {
            const r = await viaFunction(`f${fnMs.length}`);
            fnMs.push(r.ms);
            inside.push(r.durationMs);
            outside.push(r.ms - r.durationMs);
            fnStepIds.push(r.stepId);
          }
          fnCpu += cpuMs(api.child.pid) - c0;
          for (const [k, p] of Object.entries(emulatorPids)) emuCpu[k] += cpuMs(p) - e0[k];
        } else {
          for (let j = 0; j < blockSize && directMs.length < n; j++) directMs.push(await viaClient(`d${directMs.length}`));
        }
      }
    }

    // Every one of them is in its checkpoint, once.
    const syncSteps: { value?: string }[] = [];
    for (const cp of [...fnCheckpoints, ...directCheckpoints]) {
      syncSteps.push(...((await direct.item<{ steps?: { value?: string }[] }>('GET', `/testcases/${cp}`)).steps ?? []));
    }
    for (const cp of floorCheckpoints) {
      syncSteps.push(...((await direct.item<{ steps?: { value?: string }[] }>('GET', `/testcases/${cp}`)).steps ?? []));
    }
    const expectedSync = (floorFn ? 3 : 2) * (warmup + n);
    const distinctSync = new Set(syncSteps.map((s) => s.value));
    if (syncSteps.length !== expectedSync || distinctSync.size !== expectedSync) {
      throw new Error(`the sync checkpoints hold ${syncSteps.length} steps (${distinctSync.size} distinct), expected ${expectedSync}`);
    }

    let reads: CommandsBenchResult['sync']['reads'];
    if (readCount > 0) {
      log(`commands: breakdown — ${readCount} get-step reads direct / through the function uncached / cached …`);
      const rd: number[] = [];
      const unc: number[] = [];
      const cac: number[] = [];
      for (let i = 0; i < readCount; i++) {
        const id = fnStepIds[i];
        const doDirect = async () => {
          const t0 = performance.now();
          await direct.item('GET', `/teststeps/${id}`);
          rd.push(performance.now() - t0);
        };
        const doFn = async () => {
          unc.push((await runSync(`get-step ${id}`)).ms); // first time: a cache miss, GET /teststeps
          cac.push((await runSync(`get-step ${id}`)).ms); // the same: served from Redis
        };
        if (i % 2 === 0) {
          await doDirect();
          await doFn();
        } else {
          await doFn();
          await doDirect();
        }
      }
      reads = { direct: stats(rd), uncached: stats(unc), cached: stats(cac) };
    }

    // What the function waits for besides Virtuoso, timed from here with the same libraries: one
    // history write and one event publish with the batching of shared/events.ts (a lone publish
    // waits the whole window). A sync command awaits both at once, with the step's owner record
    // and the Redis result, before it answers.
    log(`commands: breakdown — ${DEPENDENCY_SAMPLES} Firestore writes and Pub/Sub publishes from this process …`);
    const writeMs: number[] = [];
    const publishMs: number[] = [];
    const eventsTopic = pubsub.topic(topics.commandEvents, { batching: { maxMessages: 100, maxMilliseconds: 1 } });
    for (let i = 0; i < DEPENDENCY_SAMPLES + 10; i++) {
      const doc = { id: `probe-${i}`, tenantId: 'bench', userId: 'bench', command: 'step-misc.comment', input: { command: 'x' }, status: 'succeeded', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() };
      let t0 = performance.now();
      await fs.collection('bench_probe').doc(doc.id).set(doc);
      const w = performance.now() - t0;
      t0 = performance.now();
      await eventsTopic.publishMessage({ data: Buffer.from(JSON.stringify(doc)), attributes: { eventType: 'bench.probe' } });
      const pMs = performance.now() - t0;
      if (i >= 10) {
        writeMs.push(w);
        publishMs.push(pMs);
      }
    }
    const dependencies = { firestoreWrite: stats(writeMs), pubsubPublish: stats(publishMs) };

    const dSync = stats(directMs);
    const fSync = stats(fnMs);
    const syncResult: CommandsBenchResult['sync'] = {
      direct: dSync,
      viaFunction: fSync,
      addedP50Ms: Math.round((fSync.p50Ms - dSync.p50Ms) * 100) / 100,
      addedP99Ms: Math.round((fSync.p99Ms - dSync.p99Ms) * 100) / 100,
      insideRunCommand: stats(inside),
      outsideRunCommand: stats(outside),
      functionCpuMsPerCommand: Math.round((fnCpu / n) * 100) / 100,
      ...(floorFn ? { floorCpuMsPerCommand: Math.round((floorCpu / n) * 100) / 100 } : {}),
      emulatorCpuMsPerCommand: Object.fromEntries(Object.entries(emuCpu).map(([k, v]) => [k, Math.round((v / n) * 100) / 100])),
      reads,
      dependencies,
    };

    // --- 2. Queued commands ---------------------------------------------------------------------
    log(`commands: ${m} queued commands, ${concurrency} in flight, Virtuoso latency ${asyncLatencyMs} ms …`);
    const queued = new KeyPool(fs, `bench-async-${run}`, 'async');
    await queued.reserve(2 * m, warmKey);
    sandbox.faults.setLatency(asyncLatencyMs);
    tasks.tasks.length = 0;

    // Sent → succeeded is taken from this machine's clock: Date.now() when the POST is sent, and
    // the command's `updatedAt`, which the worker sets in the transaction that records `succeeded`.
    // Nothing watches the history meanwhile: a Firestore listener on it, tried first, tripled the
    // emulator's CPU per command and more than halved the throughput on a 2-core machine, and
    // polling GET /commands/{id} would load the function under test. So the bench waits for the
    // dispatcher to go idle, then reads every command back once, through the API.
    const sentAt = new Map<string, number>();
    const submitMs: number[] = [];
    const asyncPids: Record<string, number | undefined> = {
      'commands fn': api.child.pid,
      'commandWorker fn': worker.child.pid,
      'firestore emulator': stack.firestore.pid?.(),
      'pubsub emulator': stack.pubsub.pid?.(),
    };
    const asyncCpu0 = Object.fromEntries(Object.entries(asyncPids).map(([k, p]) => [k, cpuMs(p)]));
    const benchCpu0 = process.cpuUsage();
    let next = 0;
    let asyncReq = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: Math.min(concurrency, m) }, async () => {
        while (next < m) {
          const i = next++;
          const sent = Date.now();
          const r = await call(api.url, queued.key(asyncReq++), 'POST', '/commands', { command: `step-misc comment ${cpAsync} "a${i}"`, async: true });
          if (r.status !== 202 || r.body?.status !== 'queued') throw fail(`queued command ${i}`, r);
          submitMs.push(r.ms);
          sentAt.set(String(r.body.id), sent);
        }
      }),
    );
    try {
      await tasks.idle(asyncTimeoutMs);
    } catch {
      const pending = tasks.tasks.filter((t) => t.state === 'pending').length;
      throw new Error(`${pending} of ${m} queued commands still pending after ${asyncTimeoutMs} ms\n${worker.output()}`);
    }
    const benchCpu = process.cpuUsage(benchCpu0);
    const asyncCpu: Record<string, number> = {
      ...Object.fromEntries(Object.entries(asyncPids).map(([k, p]) => [k, Math.round(((cpuMs(p) - asyncCpu0[k]) / m) * 100) / 100])),
      'this process (sandbox, dispatcher, client)': Math.round(((benchCpu.user + benchCpu.system) / 1000 / m) * 100) / 100,
    };

    // Every command succeeded, as the API reports it.
    const succeededAt = new Map<string, number>();
    const notOk: string[] = [];
    const ids = [...sentAt.keys()];
    let k = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (k < ids.length) {
          const id = ids[k++];
          const r = await call(api.url, queued.key(asyncReq++), 'GET', `/commands/${id}`);
          if (r.status !== 200) throw fail(`GET /commands/${id}`, r);
          if (r.body?.status === 'succeeded') succeededAt.set(id, Date.parse(r.body.updatedAt));
          else notOk.push(`${id}: ${r.body?.status} ${JSON.stringify(r.body?.error ?? null)}`);
        }
      }),
    );
    if (notOk.length) throw new Error(`${notOk.length} of ${m} queued commands did not succeed (first: ${notOk[0]})`);
    const wallMs = Math.max(...succeededAt.values()) - t0;
    sandbox.faults.setLatency(0);
    const asyncSteps = (await direct.item<{ steps?: { value?: string }[] }>('GET', `/testcases/${cpAsync}`)).steps ?? [];
    const values = asyncSteps.map((s) => s.value ?? '');
    const missing = Array.from({ length: m }, (_, i) => `a${i}`).filter((v) => !values.includes(v));
    if (asyncSteps.length !== m || new Set(values).size !== m || missing.length) {
      throw new Error(`the queued checkpoint holds ${asyncSteps.length} steps (${new Set(values).size} distinct, ${missing.length} missing), expected exactly ${m}`);
    }
    const ourTasks = tasks.tasks;
    if (ourTasks.length !== m || ourTasks.some((t) => t.state !== 'succeeded')) {
      throw new Error(`the dispatcher holds ${ourTasks.length} tasks (${ourTasks.filter((t) => t.state !== 'succeeded').length} not succeeded), expected ${m} succeeded`);
    }
    const toSucceeded = ids.map((id) => succeededAt.get(id)! - sentAt.get(id)!);
    // The queue's share: task created → the worker's answer received (the dispatcher's clock, whole ms).
    const taskToDone = ourTasks.map((t) => Date.parse(t.attempts.at(-1)!.at) - Date.parse(t.createdAt));
    const asyncResult: CommandsBenchResult['async'] = {
      commands: m,
      concurrency,
      virtuosoLatencyMs: asyncLatencyMs,
      wallMs: Math.round(wallMs),
      commandsPerSecond: Math.round((m / (wallMs / 1000)) * 10) / 10,
      submit: stats(submitMs),
      toSucceeded: stats(toSucceeded),
      taskToAnswered: stats(taskToDone),
      cpuMsPerCommand: asyncCpu,
      retriedTasks: ourTasks.filter((t) => t.attempts.length > 1).length,
      deliveries: ourTasks.reduce((s, t) => s + t.attempts.length, 0),
    };

    // --- Report ---------------------------------------------------------------------------------
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
    const row = (measure: string, s: Stats, note = ''): string[] => [measure, String(s.samples), f(s.p50Ms), f(s.p99Ms), f(s.meanMs), note];
    const rows: string[][] = [
      row('step create, direct VirtuosoClient', dSync, 'POST /teststeps, latency 0'),
      row('step create, POST /commands (sync)', fSync, `added: p50 +${f(syncResult.addedP50Ms)} ms, p99 +${f(syncResult.addedP99Ms)} ms`),
      row('  of which runCommand (durationMs)', syncResult.insideRunCommand, 'the Virtuoso call, as the function reports it (whole ms)'),
      row('  of which the rest', syncResult.outsideRunCommand, 'auth, rate limit, history + owner writes, cache, event (at once), HTTP'),
      row('    Firestore write (one history doc)', dependencies.firestoreWrite, 'from this process; a sync command awaits one (and the owner record) before answering'),
      row('    Pub/Sub publish (1 ms batching)', dependencies.pubsubPublish, 'from this process; awaited together with the write'),
      ...(reads
        ? [
            row('get-step, direct VirtuosoClient', reads.direct, 'GET /teststeps/{id}'),
            row('get-step, POST /commands uncached', reads.uncached, 'Redis miss → Virtuoso → Redis set'),
            row('get-step, POST /commands cached', reads.cached, 'served from Redis: no Virtuoso call'),
          ]
        : []),
      row('queued: POST /commands async → 202', asyncResult.submit, `${concurrency} in flight`),
      row('queued: task created → worker answered', asyncResult.taskToAnswered, 'dispatcher → commandWorker (whole ms)'),
      row('queued: POST sent → succeeded recorded', asyncResult.toSucceeded, `${asyncResult.commandsPerSecond} commands/s, Virtuoso latency ${asyncLatencyMs} ms`),
    ];
    const table = formatTable(['measure', 'samples', 'p50 ms', 'p99 ms', 'mean ms', 'note'], rows, ['samples', 'p50 ms', 'p99 ms', 'mean ms']);
    log(`\nCommands (${runtime.label}: node ${runtime.version}, ${cpus().length} CPUs; sync: ${n} each way after ${warmup} warm-up, interleaved in blocks of ${blockSize}):\n${table}`);
    log(
      `sync overhead of the function: p50 +${f(syncResult.addedP50Ms)} ms (target < 5 ms: ${syncResult.addedP50Ms < 5 ? 'met' : 'NOT met'}), p99 +${f(syncResult.addedP99Ms)} ms; ` +
        `CPU per command: function ${syncResult.functionCpuMsPerCommand} ms${syncResult.floorCpuMsPerCommand === undefined ? '' : ` (its floor ${syncResult.floorCpuMsPerCommand} ms)`}, ` +
        Object.entries(syncResult.emulatorCpuMsPerCommand).map(([k, v]) => `${k} emulator ${v} ms`).join(', '),
    );
    log(
      `queued: ${m} commands in ${(asyncResult.wallMs / 1000).toFixed(2)} s = ${asyncResult.commandsPerSecond} commands/s; ` +
        `every one succeeded, ${m} steps in the checkpoint, each once; ${asyncResult.deliveries} deliveries, ${asyncResult.retriedTasks} task(s) retried`,
    );
    log(`CPU per queued command: ${Object.entries(asyncResult.cpuMsPerCommand).map(([k, v]) => `${k} ${v} ms`).join(', ')}`);
    return { node: runtime.version, cpus: cpus().length, sync: syncResult, async: asyncResult, table };
  } finally {
    await Promise.all(fns.map((fn) => fn.stop()));
    await Promise.all([
      fs?.terminate().catch(() => undefined),
      pubsub?.close().catch(() => undefined),
      tasks?.close(),
      sandbox?.close(),
    ]);
    await stack.stop();
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

if (require.main === module) {
  const arg = (name: string) => {
    const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    return raw === undefined ? undefined : Number(raw);
  };
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  commandsBench({ n: arg('n'), m: arg('m'), concurrency: arg('concurrency'), warmup: arg('warmup'), reads: arg('reads') }).then(
    () => process.exit(0),
    (err: Error) => {
      console.error(`commands bench failed: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
}
