/**
 * The memory floor of testRunWorker (issue 14's peak ≤ 150 MiB): a bare process that loads what a
 * build must load and does what a build must do through the same client libraries, and nothing of
 * ours — the Functions Framework, a Firestore write and then a progress write every 40 ms, a
 * Pub/Sub publish, a Cloud Tasks client and a Redis round trip, and the build's Virtuoso calls
 * replayed (bodies stringified, answers parsed, 50 in flight, 20 ms each: replay-floor.ts) — with
 * the worker's Node flags, process environment and memory limit (shared/infra.ts). It prints the process's
 * resident memory after loading each client and its peak after each replay of the build.
 *
 *   BENCH_DUMP=/tmp/calls.json node --import tsx scripts/bench/test-runs.ts --runs=1
 *   node --import tsx scripts/bench/worker-memory-floor.ts /tmp/calls.json [--replays=6]
 *
 * The libraries are loaded from node_modules, not from the bundle's chunks, so the figure is the
 * floor of the libraries themselves (a bundle shares one copy of gax and gRPC between them, as
 * node_modules does here).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { functions } from '../../shared/infra';
import { startFirestoreEmulator, startPubsubEmulator } from '../local-stack/emulators';
import { inCgroup, memoryBytes, memoryCgroup } from './memory-limit';
import type { ReceivedRequest } from '../virtuoso-sandbox/faults';
import { exchangesOf, startReplayServer, type Exchange } from './replay-floor';

// Plain CommonJS with its own replay client (replay-floor.ts's, spelled again): loading TypeScript
// through tsx would count in the memory this process measures.
const FLOOR = `
const http = require('node:http');
const fs = require('node:fs');
const status = (k) => Number(new RegExp(k + ':\\\\s+(\\\\d+)').exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const say = (what) => console.log(JSON.stringify({ what, rssMiB: Math.round(status('VmRSS')), peakMiB: Math.round(status('VmHWM')) }));
(async () => {
  const [exchangesFile, base, replays] = process.argv.slice(2);
  require('@google-cloud/functions-framework');
  say('the Functions Framework');
  const { Firestore } = require('@google-cloud/firestore');
  const run = new Firestore({ projectId: process.env.GOOGLE_CLOUD_PROJECT }).collection('benchFloor').doc('run');
  await run.set({ status: 'building' });
  say('Firestore, one write');
  const { PubSub } = require('@google-cloud/pubsub');
  const [topic] = await new PubSub({ projectId: process.env.GOOGLE_CLOUD_PROJECT }).createTopic('bench-floor-' + Date.now());
  await topic.publishMessage({ data: Buffer.from('{}') });
  say('Pub/Sub, one publish');
  const { CloudTasksClient } = require('@google-cloud/tasks');
  new CloudTasksClient({ fallback: true });
  const { createClient } = require('redis');
  const redis = createClient({ url: process.env.REDIS_URL });
  await redis.connect();
  await redis.ping();
  say('Cloud Tasks client, Redis');
  const exchanges = JSON.parse(fs.readFileSync(exchangesFile, 'utf8'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const call = (i) => new Promise((resolve, reject) => {
    const x = exchanges[i];
    const body = x.body === undefined ? undefined : JSON.stringify(JSON.parse(x.body));
    const req = http.request(base + x.url, { method: x.method, agent, headers: { 'x-replay': String(i), Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}) } });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('error', reject);
    req.end(body);
  });
  for (let r = 1; r <= Number(replays); r++) {
    let next = 0;
    let writes = 0;
    const progress = setInterval(() => void run.update({ 'progress.writes': ++writes, ['steps.c' + (writes % 50)]: 'x'.repeat(120) }).catch(() => undefined), 40);
    await Promise.all(Array.from({ length: 50 }, async () => { while (next < exchanges.length) await call(next++); }));
    clearInterval(progress);
    await topic.publishMessage({ data: Buffer.from('{}') });
    say('replay ' + r);
  }
  await redis.quit();
  process.exit(0);
})();
`;

export interface MemoryFloor {
  /** Resident memory of the bare process with only the Functions Framework loaded (hello world's share). */
  frameworkMiB: number;
  /** After loading the clients and making one call with each. */
  clientsMiB: number;
  /** The process's peak over all the replays. */
  peakMiB: number;
}

/**
 * Runs the floor against emulators already running (their hosts in `env`, as the stack gives
 * them) or, without, ones of its own; `replays` builds' worth of the calls, as many as the worker made.
 */
export async function workerMemoryFloor(exchanges: Exchange[], replays: number, env?: Record<string, string>, log: (line: string) => void = console.log): Promise<MemoryFloor> {
  const worker = functions.find((f) => f.name === 'testRunWorker')!;
  const dir = await mkdtemp(join(tmpdir(), 'bench-memory-floor-'));
  const own = env ? undefined : await Promise.all([startFirestoreEmulator(), startPubsubEmulator()]);
  const hosts = own ? { FIRESTORE_EMULATOR_HOST: `127.0.0.1:${own[0].port}`, PUBSUB_EMULATOR_HOST: `127.0.0.1:${own[1].port}`, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' } : env!;
  const server = await startReplayServer(exchanges, 20);
  try {
    writeFileSync(join(dir, 'exchanges.json'), JSON.stringify(exchanges));
    // Beside the checkout's node_modules, which it loads the libraries from.
    const source = join(__dirname, '..', '..', '.local', 'bench', 'worker-memory-floor.cjs');
    mkdirSync(dirname(source), { recursive: true });
    writeFileSync(source, FLOOR);
    // Under the worker's deployed memory limit, as the bench runs the worker (Node sizes its heap from it).
    const limit = memoryCgroup(memoryBytes(worker.memory));
    const args = [...(worker.nodeOptions?.split(/\s+/) ?? []), source, join(dir, 'exchanges.json'), server.url, String(replays)];
    const [command, argv] = limit ? inCgroup(limit, process.execPath, args) : [process.execPath, args];
    log(limit ? `worker memory floor: under the worker's deployed ${worker.memory} (a cgroup)` : 'worker memory floor: WITHOUT the deployed memory limit (no writable cgroup memory controller here)');
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const child = spawn(command, argv, {
        cwd: join(__dirname, '..', '..'),
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
          ...process.env, ...worker.processEnv, METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'bench-memory-floor',
          FIRESTORE_EMULATOR_HOST: hosts.FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST: hosts.PUBSUB_EMULATOR_HOST, REDIS_URL: hosts.REDIS_URL,
        },
      });
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the floor process exited with ${code}`))));
    });
    const points = out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { what: string; rssMiB: number; peakMiB: number });
    for (const p of points) log(`worker memory floor: after ${p.what}: RSS ${p.rssMiB} MiB, peak ${p.peakMiB} MiB`);
    const after = (what: string) => points.find((p) => p.what === what)!.rssMiB;
    return { frameworkMiB: after('the Functions Framework'), clientsMiB: after('Cloud Tasks client, Redis'), peakMiB: Math.max(...points.map((p) => p.peakMiB)) };
  } finally {
    await server.close();
    if (own) await Promise.all(own.map((e) => e.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const dump = process.argv[2];
  if (!dump) throw new Error('usage: worker-memory-floor.ts <BENCH_DUMP file of a 1,000-step build> [--replays=6]');
  const replays = Number(process.argv.find((a) => a.startsWith('--replays='))?.split('=')[1] ?? 6);
  await workerMemoryFloor(exchangesOf(JSON.parse(readFileSync(dump, 'utf8')) as ReceivedRequest[]), replays);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exit(1);
    },
  );
}
