/**
 * `npm run drill:restore [-- --sizes 10000,100000]`: the recovery drill, end to end, on this machine.
 * For each size: a private Firestore emulator and local Cloud Storage are filled with that many
 * documents spread over every collection group a backup copies; a full backup is taken, then 5 % of
 * the documents change and 1 % are deleted and an hourly incremental backup follows. Both backups
 * are taken by the `backup` function itself (its bundle under the Functions Framework, a process of
 * its own, under its deployed memory limit where this machine allows, as the bench runs functions),
 * called as Cloud Scheduler calls it, and its peak resident memory (VmHWM) is read after the two; the database's
 * digest is taken and the database emptied; then `npm run restore -- <the incremental backup>` runs
 * as an operator runs it (its chain: the full one and the incremental one), timed from start to exit,
 * its peak resident memory (maxRSS) read as it exits. The restored database must have the same
 * digest (every path and every typed value) as before, or the drill fails (exit 1).
 *
 * Not in `npm test` (it takes minutes); the figures go in README.md ("Recovery"). DRILL_NODE_OPTIONS
 * adds Node flags to the restore's process (NODE_OPTIONS).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, httpAnswers, spawnService, waitUntil } from './local-stack/processes';
import { emulatorJars } from './local-stack/emulators';
import { clearFirestore } from './local-stack/stack';
import { firstResponse, httpRequest, peakRssMiB, spawnFunction, type RunningFunction } from './bench/cold-start';
import { bundlesOn, currentRuntime } from './bench/runtime';
import { startStorageServer } from './local-stack/storage-server';

const ROOT = join(__dirname, '..');
const PROJECT = 'drill-project';

/** A deterministic pseudo-random sequence (mulberry32), so every run restores the same data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How a database of this product is made up (shares of the documents), and one document of each kind. */
type Make = (i: number, r: () => number, ts: (ms: number) => unknown) => { path: string; data: Record<string, unknown> };
const text = (r: () => number, n: number) => Buffer.from(Array.from({ length: Math.ceil((n * 3) / 4) }, () => Math.floor(r() * 256))).toString('base64').slice(0, n);
const KINDS: { share: number; make: Make }[] = [
  {
    share: 0.4,
    make: (i, r, ts) => ({
      path: `command_history/user-${i % 500}/commands/cmd-${i}`,
      data: { id: `cmd-${i}`, tenantId: `t${i % 20}`, userId: `user-${i % 500}`, command: 'create-step', status: r() < 0.9 ? 'succeeded' : 'failed', createdAt: new Date(1_790_000_000_000 + i * 1000).toISOString(), durationMs: Math.floor(r() * 900), outputJson: JSON.stringify({ stepId: i, text: text(r, 400) }), at: ts(1_790_000_000_000 + i) },
    }),
  },
  { share: 0.2, make: (i, r, ts) => ({ path: `webhook_deliveries/d-${i}`, data: { status: 'published', scheme: 'virtuoso', rawBody: text(r, 1200), receivedAt: ts(1_790_000_000_000 + i), expiresAt: ts(1_790_300_000_000 + i), bytes: Buffer.from(text(r, 24)) } }) },
  { share: 0.1, make: (i, r, ts) => ({ path: `idempotency/k-${i}`, data: { tenantId: `t${i % 20}`, commandId: `cmd-${i}`, requestHash: text(r, 64), createdAt: ts(1_790_000_000_000 + i), expiresAt: ts(1_790_090_000_000 + i) } }) },
  { share: 0.1, make: (i, r, ts) => ({ path: `created_steps/s-${i}`, data: { commandId: `cmd-${i}`, checkpointId: Math.floor(r() * 1e6), createdAt: ts(1_790_000_000_000 + i) } }) },
  { share: 0.05, make: (i, r, ts) => ({ path: `sessions/sess-${i}`, data: { userId: `user-${i % 500}`, checkpointId: String(i), nextPosition: Math.floor(r() * 50), createdAt: new Date(1_790_000_000_000 + i).toISOString(), expiresAt: ts(1_790_003_600_000 + i) } }) },
  { share: 0.05, make: (i, r) => ({ path: `test_runs/run-${i}`, data: { id: `run-${i}`, tenantId: `t${i % 20}`, status: 'passed', ids: { goals: [i, i + 1] }, steps: Array.from({ length: 8 }, (_, k) => ({ k, ok: r() < 0.95 })), createdAt: new Date(1_790_000_000_000 + i).toISOString() } }) },
  { share: 0.05, make: (i, r) => ({ path: `test_runs/run-${i}/definition/current`, data: { json: text(r, 2500), format: 'yaml' } }) },
  { share: 0.02, make: (i, r) => ({ path: `test_run_claims/goal:${i}`, data: { runId: `run-${i}`, score: r() } }) },
  { share: 0.02, make: (i, r) => ({ path: `user_preferences/user-${i}`, data: { outputFormat: r() < 0.5 ? 'json' : 'table', theme: null, nested: { a: [1, 'two', { three: 3 }] } } }) },
  { share: 0.01, make: (i, r) => ({ path: `api_keys/${createHash('sha256').update(String(i)).digest('hex')}`, data: { tenantId: `t${i % 20}`, userId: `user-${i % 500}`, scopes: ['commands', 'test-runs'], active: r() < 0.9 } }) },
];

interface Result {
  size: number;
  documents: number;
  restoreSeconds: number;
  peakRssMiB: number;
  /** The backup function's process, over its full and its incremental backup. */
  backupPeakRssMiB: number;
  backupSeconds: { full: number; incremental: number };
  objects: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000' } } });
  const sizes = values.sizes!.split(',').map(Number);
  emulatorJars();
  const fsPort = await freePort();
  // The emulator keeps every document and its indexes on the heap: give it room for the largest size.
  const emulator = spawnService('drill-firestore', 'java', [
    '-Xmx2g', '-cp', emulatorJars().firestore, 'com.google.cloud.datastore.emulator.firestore.CloudFirestore', 'start',
    '--host=127.0.0.1', `--port=${fsPort}`, '--database-mode=firestore-native',
  ]);
  const storageDir = mkdtempSync(join(tmpdir(), 'drill-storage-'));
  const storage = await startStorageServer({ dir: storageDir });
  try {
    await waitUntil('Firestore emulator', () => httpAnswers(`http://127.0.0.1:${fsPort}/`, 'Ok'), 60_000, emulator.exited);
    const env = {
      GOOGLE_CLOUD_PROJECT: PROJECT,
      FIRESTORE_EMULATOR_HOST: `127.0.0.1:${fsPort}`,
      STORAGE_ENDPOINT: storage.url,
      METADATA_SERVER_DETECTION: 'none',
      LOG_LEVEL: 'warn',
    };
    Object.assign(process.env, env);
    const [bundle] = await bundlesOn(currentRuntime, ['backup']);
    const results: Result[] = [];
    for (const size of sizes) results.push(await drill(size, fsPort, env, join(bundle.outfile, '..')));
    report(results);
  } finally {
    await storage.close();
    await emulator.stop();
    rmSync(storageDir, { recursive: true, force: true });
  }
}

/** One backup through the function: POST / as Cloud Scheduler sends it; its answer. */
async function backupThrough(fn: RunningFunction, body: Record<string, unknown>): Promise<{ id: string; manifest: string }> {
  const res = await fetch(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`backup ${JSON.stringify(body)}: HTTP ${res.status} ${text.slice(0, 300)}\n${fn.output()}`);
  return JSON.parse(text) as { id: string; manifest: string };
}

async function drill(size: number, fsPort: number, env: Record<string, string>, backupSource: string): Promise<Result> {
  const { db } = await import('../shared/firestore');
  const { readManifest } = await import('../shared/backup/portable');
  const { Timestamp } = await import('@google-cloud/firestore');
  await clearFirestore(fsPort, PROJECT);
  const say = (s: string) => process.stdout.write(`[${size}] ${s}\n`);

  say('seeding');
  const r = random(size);
  const ts = (ms: number) => Timestamp.fromMillis(ms);
  const paths: string[] = [];
  let writer = db().bulkWriter({ throttling: false });
  let i = 0;
  for (const kind of KINDS) {
    for (let n = 0; n < Math.round(size * kind.share); n++, i++) {
      const { path, data } = kind.make(i, r, ts);
      paths.push(path);
      void writer.set(db().doc(path), data);
      if (paths.length % 5000 === 0) await writer.flush();
    }
  }
  await writer.close();

  // A process of its own for this size's two backups, so its peak is theirs.
  const fn = await spawnFunction({ source: backupSource, target: 'backup', env, deployedMemory: true, execArgv: [] });
  let backupPeakRssMiB: number;
  let fullSeconds: number;
  let incSeconds: number;
  let fullManifest: string;
  let incId: string;
  try {
    await firstResponse(fn, (url) => httpRequest(url), (r) => r.status === 405, 30_000);
    const t0 = Date.now();
    const full = await backupThrough(fn, {});
    fullManifest = full.manifest;
    fullSeconds = (Date.now() - t0) / 1000;
    say(`full backup ${full.id}: ${fullSeconds.toFixed(1)} s`);

    // An hour of use: 5 % changed, 1 % deleted (some of those changed before), then the hourly incremental.
    writer = db().bulkWriter({ throttling: false });
    for (let k = 0; k < paths.length; k++) {
      const x = r();
      if (x < 0.05) void writer.set(db().doc(paths[k]), { touchedAt: Timestamp.fromMillis(1_790_100_000_000 + k), revision: 2 }, { merge: true });
      else if (x < 0.06) void writer.delete(db().doc(paths[k]));
    }
    await writer.close();
    const t1 = Date.now();
    incId = (await backupThrough(fn, { incremental: true })).id;
    incSeconds = (Date.now() - t1) / 1000;
    backupPeakRssMiB = peakRssMiB(fn.child.pid);
    say(`incremental backup ${incId}: ${incSeconds.toFixed(1)} s; the backup function's peak RSS over both ${backupPeakRssMiB.toFixed(0)} MiB${fn.memoryLimitBytes ? ` (under its deployed ${fn.memoryLimitBytes / 2 ** 20} MiB)` : ' (no memory limit could be set here)'}`);
  } finally {
    await fn.stop();
  }

  const before = await digest();
  await clearFirestore(fsPort, PROJECT);
  if ((await digest()).documents !== 0) throw new Error('the database is not empty before the restore');

  say(`npm run restore -- ${incId}`);
  const rssFile = join(tmpdir(), `drill-rss-${process.pid}-${size}.json`);
  const started = Date.now();
  const out = await run('npm', ['run', '--silent', 'restore', '--', incId], {
    ...process.env,
    ...env,
    // DRILL_NODE_OPTIONS: flags for the restore's Node (e.g. --cpu-prof), as BENCH_NODE_ARGS for the bench.
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${process.env.DRILL_NODE_OPTIONS ?? ''} --require ${join(__dirname, 'peak-rss.cjs')}`.trim(),
    PEAK_RSS_FILE: rssFile,
    PEAK_RSS_SCRIPT: 'scripts/restore.ts',
  });
  const restoreSeconds = (Date.now() - started) / 1000;
  const restored = JSON.parse(out) as { documents: number; missing: string[]; chain: string[] };
  const peak = JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRSS: number; peaks: { heapUsed: number; external: number } };
  rmSync(rssFile, { force: true });

  const after = await digest();
  if (after.documents !== before.documents || after.hash !== before.hash) {
    throw new Error(`restored database differs: ${after.documents} documents (digest ${after.hash}) instead of ${before.documents} (${before.hash})`);
  }
  if (restored.missing.length || restored.documents !== before.documents || restored.chain.length !== 2) {
    throw new Error(`restore report: ${restored.documents} documents, ${restored.missing.length} missing, chain ${restored.chain.length}`);
  }
  const full = await readManifest(fullManifest);
  const objects = Object.values(full.groups).reduce((n, g) => n + g.objects.length + 1, 0);
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  say(`restored ${after.documents} documents identical to the original in ${restoreSeconds.toFixed(1)} s, peak RSS ${(peak.maxRSS / 1024).toFixed(0)} MiB (V8 heap in use ≤ ${mib(peak.peaks.heapUsed)}, outside the heap ≤ ${mib(peak.peaks.external)})`);
  return { size, documents: after.documents, restoreSeconds, peakRssMiB: peak.maxRSS / 1024, backupPeakRssMiB, backupSeconds: { full: fullSeconds, incremental: incSeconds }, objects };
}

/** Every document of every backed-up group: how many, and a digest of their paths and typed values (order-free). */
async function digest(): Promise<{ documents: number; hash: string }> {
  const { db } = await import('../shared/firestore');
  const { backupCollectionGroups } = await import('../shared/infra');
  const { encodeValue } = await import('../shared/backup/typed-json');
  let documents = 0;
  let sum = 0n;
  for (const group of backupCollectionGroups) {
    for await (const doc of db().collectionGroup(group).stream() as AsyncIterable<import('@google-cloud/firestore').QueryDocumentSnapshot>) {
      documents++;
      const h = createHash('sha256').update(doc.ref.path).update('\0').update(stableJson(encodeValue(doc.data()))).digest();
      sum = (sum + h.readBigUInt64BE(0)) & 0xffffffffffffffffn;
    }
  }
  return { documents, hash: sum.toString(16) };
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

function report(results: readonly Result[]): void {
  const lines = [
    '',
    '| documents | restore (npm run restore, end to end) | documents/s | restore peak RSS | full backup | incremental backup | backup function peak RSS |',
    '|---|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.documents.toLocaleString('en')} (of ${r.size.toLocaleString('en')} seeded; chain full + incremental) | ${r.restoreSeconds.toFixed(1)} s | ${Math.round(r.documents / r.restoreSeconds).toLocaleString('en')} | ${r.peakRssMiB.toFixed(0)} MiB | ${r.backupSeconds.full.toFixed(1)} s | ${r.backupSeconds.incremental.toFixed(1)} s | ${r.backupPeakRssMiB.toFixed(0)} MiB |`),
  ];
  if (results.length >= 2) {
    const [small, large] = [results[0], results.at(-1)!];
    lines.push(
      '',
      `peak RSS ${large.size.toLocaleString('en')} / ${small.size.toLocaleString('en')}: restore ${(large.peakRssMiB / small.peakRssMiB).toFixed(2)}×, backup ${(large.backupPeakRssMiB / small.backupPeakRssMiB).toFixed(2)}× (issue 14's target: ≤ 1.3× and < 256 MiB)`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`restore drill failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
