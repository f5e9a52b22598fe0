import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildBundles, bundleNames, EXTERNALS, ROOT, type BundleResult } from '../../scripts/build';
import { firstResponse, httpRequest, spawnFunction, type HttpResponse, type RunningFunction } from '../../scripts/bench/cold-start';
import { functions } from '../../shared/infra';
import { descendants, nodeProcesses, nodeVersionOf } from '../helpers/processes';
import { resetState, testStack } from '../helpers/stack';

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
    for (const f of ['index.js', 'index.js.map', 'package.json']) copyFileSync(join(from, f), join(to, f));
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

  it("leaves Pub/Sub's unread static protos modules out of every bundle (scripts/build.ts, unreadProtosExport)", () => {
    for (const b of built) {
      const text = readFileSync(b.outfile, 'utf8');
      assert.doesNotMatch(text, /node_modules\/@google-cloud\/pubsub(-api)?\/build\/protos\/protos\.js(?!on)/, b.bundle);
    }
    // …and the bundles that publish still carry what the client encodes with.
    assert.match(readFileSync(built.find((b) => b.bundle === 'webhook')!.outfile, 'utf8'), /pubsub-api\/build\/protos\/protos\.json/);
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
});
