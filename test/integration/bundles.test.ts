import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { buildBundles, bundleNames, CHUNKS_DIR, EXTERNALS, ROOT, type BundleResult } from '../../scripts/build';
import { firstResponse, httpRequest, spawnFunction, type HttpResponse, type RunningFunction } from '../../scripts/bench/cold-start';
import { startTasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startStorageServer } from '../../scripts/local-stack/storage-server';
import { newApiKey, storeApiKey } from '../../shared/auth';
import { publishEvent } from '../../shared/events';
import { functions, secrets, topics } from '../../shared/infra';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { descendants, nodeProcesses, nodeVersionOf } from '../helpers/processes';
import { FakeSecretManager } from '../helpers/secret-manager';
import { resetState, testStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

/**
 * The tests' deadlines (test/setup.ts: 1.5 s per dependency, 200 ms for Redis) suit warm in-process
 * clients; a cold child process on a busy 2-core machine can need longer to load and connect its
 * first clients. Cold-start latency is measured by scripts/bench/cold-start.ts, not here.
 */
const COLD_TIMEOUTS = { DEPENDENCY_TIMEOUT_MS: '10000', REDIS_TIMEOUT_MS: '3000' };

/**
 * The bundles as deployed: built by scripts/build.ts, copied out of the repository (so nothing
 * resolves from its node_modules) with only their package.json's externals installed, and run
 * by the Functions Framework CLI against the real local stack.
 */
describe('bundles (integration: esbuild output under the Functions Framework CLI)', () => {
  let built: BundleResult[];
  let stageDir: string;
  const running = new Map<string, RunningFunction>();

  /** dist/<bundle> copied to a temp dir (once per bundle); the externals linked in as `npm install` would put them. */
  const staged = new Map<string, string>();
  function stage(bundle: BundleResult): string {
    const done = staged.get(bundle.bundle);
    if (done) return done;
    const from = dirname(bundle.outfile);
    const to = join(stageDir, bundle.bundle);
    staged.set(bundle.bundle, to);
    mkdirSync(to, { recursive: true });
    cpSync(from, to, { recursive: true }); // index.js, chunks/, the source maps and package.json
    for (const name of EXTERNALS) {
      const link = join(to, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', name), link, 'dir');
    }
    return to;
  }

  before(async function () {
    this.timeout(120_000);
    stageDir = mkdtempSync(join(tmpdir(), 'bundles-test-'));
    // The state is reset once (topics provisioned afresh), not before each test: nothing here
    // depends on what another test wrote.
    const [results, stack] = await Promise.all([buildBundles(), testStack().then(async (s) => (await resetState(), s))]);
    built = results;
    await Promise.all(
      functions.map(async (fn) => {
        const bundle = built.find((b) => b.bundle === fn.bundle)!;
        const f = await spawnFunction({ source: stage(bundle), target: fn.name, env: { ...stack.env, ...COLD_TIMEOUTS } });
        running.set(fn.name, f);
        // Up means answering HTTP at all (health's liveness probe needs no dependency either).
        await firstResponse(f, (url) => httpRequest(`${url}/?probe=live`), () => true, 20_000);
      }),
    );
  });

  after(async () => {
    await Promise.all([...running.values()].map((f) => f.stop()));
    if (stageDir) rmSync(stageDir, { recursive: true, force: true });
  });

  const url = (name: string) => running.get(name)!.url;

  const json = (res: HttpResponse) => {
    assert.match(String(res.headers['content-type']), /^application\/json/, res.text);
    assert.doesNotMatch(res.text, /<html|<!DOCTYPE|at .*\.(ts|js):\d+/i);
    return JSON.parse(res.text);
  };

  it('builds one bundle per distinct bundle of shared/infra.ts', () => {
    assert.deepEqual(built.map((b) => b.bundle).sort(), bundleNames().sort());
    for (const b of built) assert.ok(b.bytes > 0, `${b.bundle} is empty`);
  });

  it('lists only the externals, at the root package.json versions, in each bundle package.json', () => {
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const b of built) {
      const pkg = JSON.parse(readFileSync(join(dirname(b.outfile), 'package.json'), 'utf8'));
      assert.equal(pkg.main, 'index.js');
      assert.deepEqual(Object.keys(pkg.dependencies).sort(), [...EXTERNALS].sort(), b.bundle);
      for (const name of EXTERNALS) assert.equal(pkg.dependencies[name], root.dependencies[name]);
    }
  });

  /** Every source file a bundle holds (index.js and its chunks), from their source maps (the output is minified). */
  function sourcesOf(b: BundleResult): string[] {
    const dir = dirname(b.outfile);
    const maps = ['index.js.map', ...readdirSync(join(dir, CHUNKS_DIR)).filter((f) => f.endsWith('.map')).map((f) => join(CHUNKS_DIR, f))];
    return maps.flatMap((m) => (JSON.parse(readFileSync(join(dir, m), 'utf8')) as { sources: string[] }).sources);
  }

  it("leaves Pub/Sub's unread static protos modules out of every bundle (scripts/build.ts, unreadProtosExport)", () => {
    for (const b of built) {
      for (const source of sourcesOf(b)) assert.doesNotMatch(source, /node_modules\/@google-cloud\/pubsub(-api)?\/build\/protos\/protos\.js$/, b.bundle);
    }
    // …and the bundles that publish still carry what the client encodes with.
    assert.ok(sourcesOf(built.find((b) => b.bundle === 'webhook')!).some((s) => /pubsub-api\/build\/protos\/protos\.json$/.test(s)));
  });

  it('loads Firestore without gax, gRPC, protobuf.js or its protos, and gax without its protos re-exports (scripts/build.ts, pitfalls 5 and 6)', () => {
    const dir = join(dirname(built.find((b) => b.bundle === 'webhook')!.outfile), CHUNKS_DIR);
    const loaded = (stub: string) =>
      (JSON.parse(execFileSync(process.execPath, ['-e', `require(${JSON.stringify(join(dir, stub))}); console.log(JSON.stringify(Object.keys(require.cache)))`], { encoding: 'utf8' })) as string[]).map((f) => basename(f));
    const firestore = loaded('google-cloud.firestore@build.src.index.js');
    assert.ok(firestore.includes('google-cloud.firestore.js'), firestore.join(' '));
    for (const f of firestore) assert.doesNotMatch(f, /^(google-gax|grpc|protobufjs|google-auth-library)|protos/, `requiring Firestore loaded chunks/${f}`);
    const gax = loaded('google-gax@build.src.index.js');
    assert.ok(gax.includes('google-gax.js'), gax.join(' '));
    for (const f of gax) assert.doesNotMatch(f, /build\.protos\.(iam_service|locations)\b/, `requiring gax loaded chunks/${f}`);
  });

  it('keeps each client library in a chunk of its own, which a cold start does not read', () => {
    for (const b of built) {
      const dir = dirname(b.outfile);
      const entry = readFileSync(b.outfile, 'utf8');
      const chunks = readdirSync(join(dir, CHUNKS_DIR)).filter((f) => f.endsWith('.js'));
      // Every chunk the entry names is there.
      const named = [...entry.matchAll(/require\("\.\/chunks\/([^"]+)"\)/g)].map((m) => m[1]);
      assert.ok(named.some((n) => n.startsWith('google-cloud.firestore@')), `${b.bundle} requires Firestore from a chunk`);
      for (const n of named) assert.ok(chunks.includes(n), `${b.bundle}: chunks/${n}`);
      // Each package chunk (the stubs, `package@file.js`, hand out its files) has its source map beside it.
      for (const c of chunks.filter((f) => !f.includes('@'))) assert.ok(existsSync(join(dir, CHUNKS_DIR, `${c}.map`)), `${b.bundle}: chunks/${c}.map`);
      // The libraries' code is not in the entry file.
      assert.doesNotMatch(entry, /class Firestore\b|class CloudTasksClient\b|class SecretManagerServiceClient\b|class PubSub\b/, b.bundle);
      assert.ok(b.bytes < 1024 * 1024, `${b.bundle}: index.js is ${b.bytes} bytes`);
    }
  });

  it('health: the liveness probe answers 200 JSON', async () => {
    const res = await httpRequest(`${url('health')}/?probe=live`);
    assert.equal(res.status, 200, res.text);
    assert.equal(json(res).status, 'ok');
  });

  it('runs every function process on Node.js 24: each one under /proc, and health says so itself', async () => {
    const started = nodeProcesses(descendants());
    for (const fn of running.values()) {
      const proc = started.find((p) => p.pid === fn.child.pid);
      assert.ok(proc, `${fn.target} (pid ${fn.child.pid}) is not a node process under this test`);
      assert.match(nodeVersionOf(proc.exe), /^24\./, `${fn.target} runs ${proc.exe}`);
    }
    // Any other node process the run started (none expected but the functions) is on 24 too.
    for (const p of started) assert.match(nodeVersionOf(p.exe), /^24\./, `${p.cmdline} runs ${p.exe}`);
    const live = json(await httpRequest(`${url('health')}/?probe=live`));
    assert.equal(live.runtime, 'nodejs24');
  });

  it('health: the deep check reaches Firestore, Pub/Sub and Redis from inside the bundle', async () => {
    const res = await httpRequest(`${url('health')}/`);
    assert.equal(res.status, 200, res.text);
    const body = json(res);
    assert.equal(body.status, 'ok', res.text);
    for (const dep of ['firestore', 'pubsub', 'redis']) assert.equal(body.checks[dep]?.status, 'ok', `${dep}: ${res.text}`);
  });

  it('webhook: the method check answers 405 JSON', async () => {
    const res = await httpRequest(`${url('webhook')}/`);
    assert.equal(res.status, 405, res.text);
    assert.equal(json(res).error.code, 'method_not_allowed');
  });

  it('webhook: a malformed JSON body gets a JSON error from the front door, never HTML', async () => {
    const res = await httpRequest(`${url('webhook')}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"event": EXECUTION',
    });
    assert.ok(res.status === 400 || res.status === 401, `${res.status} ${res.text}`);
    const body = json(res);
    assert.equal(typeof body.error?.code, 'string', res.text);
  });

  it('commands and commandWorker (one bundle, with @google-cloud/tasks inside) load and answer JSON', async () => {
    const unauth = await httpRequest(`${url('commands')}/commands`);
    assert.equal(unauth.status, 401, unauth.text);
    assert.equal(json(unauth).error.code, 'unauthenticated');
    const bad = await httpRequest(`${url('commandWorker')}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(json(bad).error.code, 'unprocessable_entity');
  });

  it('each public function serves its part of the OpenAPI document from inside its bundle; private ones do not', async () => {
    for (const fn of functions) {
      const res = await httpRequest(`${url(fn.name)}/openapi.json`);
      if (fn.trigger.kind === 'http' && fn.trigger.public) {
        assert.equal(res.status, 200, `${fn.name}: ${res.text}`);
        const doc = json(res);
        assert.equal(doc.openapi, '3.1.0');
        assert.ok(Object.keys(doc.paths).length > 1, fn.name);
      } else {
        assert.notEqual(res.status, 200, `${fn.name} is private`);
      }
    }
  });

  it('logArchive loads, refuses an unknown source, and drains an empty archive subscription through the bundled Pub/Sub client', async () => {
    const post = (body: unknown) =>
      httpRequest(`${url('logArchive')}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const unknown = await post({ sources: ['nope'] });
    assert.equal(unknown.status, 400, unknown.text);
    assert.equal(json(unknown).error.code, 'bad_request');
    const empty = await post({ sources: ['system-events'] });
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(json(empty).sources, [{ source: 'system-events', records: 0, objects: [], drained: true }]);
  });

  it('backup loads and checks its body (with the Firestore admin client inside)', async () => {
    const bad = await httpRequest(`${url('backup')}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"incremental":"yes"}' });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(json(bad).error.code, 'unprocessable_entity');
  });

  it('serves a request needing each lazily loaded client from the staged bundle: Secret Manager, auth, Pub/Sub, Firestore, Cloud Tasks, Storage', async function () {
    this.timeout(60_000);
    const stack = await testStack();
    const extra: RunningFunction[] = [];
    const secretManager = new FakeSecretManager(TEST_ENV.GOOGLE_CLOUD_PROJECT);
    secretManager.values.set(secrets.virtuosoWebhookSecret, 'from-secret-manager');
    await secretManager.start();
    const tasks = await startTasksDispatcher({ port: ports.tasksPort });
    const storageDir = mkdtempSync(join(tmpdir(), 'bundles-storage-'));
    const storage = await startStorageServer({ port: ports.storagePort, dir: storageDir });
    try {
      const start = async (bundle: string, target: string, env: Record<string, string>, probe: string) => {
        const f = await spawnFunction({ source: stage(built.find((b) => b.bundle === bundle)!), target, env: { ...stack.env, ...COLD_TIMEOUTS, ...env } });
        extra.push(f);
        await firstResponse(f, (u) => httpRequest(`${u}${probe}`), () => true, 20_000);
        return f;
      };
      // webhook: the secret from Secret Manager (its client, over google-auth-library's pass-through
      // auth), the claim in Firestore, the publish to Pub/Sub.
      const webhook = await start('webhook', 'webhook', { SECRET_MANAGER_ENDPOINT: secretManager.url, VIRTUOSO_WEBHOOK_SECRET: '' }, '/');
      const body = JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 4711, projectId: 1, at: Date.now() });
      const accepted = await httpRequest(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, 'from-secret-manager') },
        body,
      });
      assert.equal(accepted.status, 202, accepted.text);
      assert.ok(secretManager.requests.some((r) => r.secret === secrets.virtuosoWebhookSecret), 'the secret was read from Secret Manager');
      assert.match(json(accepted).messageId, /\S/);

      // commands: a queued command goes through the Cloud Tasks client.
      const { key, record } = newApiKey({ tenantId: 'bundles', userId: 'chunks', scopes: ['commands'] });
      await storeApiKey(record);
      const queued = await httpRequest(`${url('commands')}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ command: 'create-project "Chunks"', async: true }),
      });
      assert.equal(queued.status, 202, queued.text);
      assert.equal(json(queued).status, 'queued');
      assert.ok(tasks.tasks.length >= 1, 'the task reached the Cloud Tasks endpoint');

      // logArchive: a pulled message written to Cloud Storage through the Storage client.
      await publishEvent(topics.systemEvents, 'system.note', { from: 'bundles' }, { source: 'test' });
      const archived = await httpRequest(`${url('logArchive')}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sources: ['system-events'] }) });
      assert.equal(archived.status, 200, archived.text);
      const [source] = json(archived).sources;
      assert.equal(source.records, 1, archived.text);
      assert.equal(source.objects.length, 1, archived.text);
    } finally {
      await Promise.all(extra.map((f) => f.stop()));
      await Promise.all([secretManager.stop(), tasks.close(), storage.close()]);
      rmSync(storageDir, { recursive: true, force: true });
    }
  });
});
