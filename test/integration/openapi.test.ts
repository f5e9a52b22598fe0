/**
 * The OpenAPI document against the functions themselves:
 *
 * - each public function serves its own part at GET /openapi.json;
 * - every route the functions' routers serve (their route strings, read from functions/*\/index.ts,
 *   and the methods of health and webhook) is in the document, and every documented operation is
 *   one they serve;
 * - every documented status, success or error, is one a real request gets: each has a probe here
 *   (a documented status without one fails the test), sent over real HTTP, whose answer must have
 *   that status and match the documented schema. Dependency trouble (503) is provoked for real: a
 *   copy of each function runs in its own process against a Firestore that answers
 *   RESOURCE_EXHAUSTED to every call.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import '../../functions/commands';
import '../../functions/health';
import '../../functions/test-runs';
import '../../functions/webhook';
import { firstResponse, httpRequest, spawnFunction, type RunningFunction } from '../../scripts/bench/cold-start';
import { provisionPubsub } from '../../scripts/local-stack/provision';
import { startStorageServer } from '../../scripts/local-stack/storage-server';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { cacheKeys, withRedis } from '../../shared/cache';
import { pubsub } from '../../shared/events';
import { functions as functionSpecs } from '../../shared/infra';
import { openApiDocument } from '../../shared/openapi/document';
import { ROUTES, type FunctionRoutes } from '../../shared/openapi/routes';
import { request, serve, type JsonResponse, type Served } from '../helpers/http';
import { testStack, resetState } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
type FnName = FunctionRoutes['name'];

const ROOT = join(__dirname, '..', '..');

/** Routes served without a route string: webhook takes its intake on any path but /deliveries (functions/webhook/index.ts). */
const UNROUTED: Partial<Record<FnName, { method: string; path: string }[]>> = { webhook: [{ method: 'POST', path: '/' }] };

/** The routes a function's router serves: its route strings (`case 'GET /test-runs/:id/report':`, `route === '…'`). */
function sourceRoutes(fn: FnName): { method: string; path: string }[] {
  const spec = functionSpecs.find((f) => f.name === fn)!;
  const source = readFileSync(join(ROOT, 'functions', spec.bundle, 'index.ts'), 'utf8');
  const literals = [...source.matchAll(/(?:case |route === )'(GET|HEAD|POST|PUT|PATCH|DELETE) (\/[^'\s]*)'/g)].map((m) => ({ method: m[1], path: m[2] }));
  if (literals.length) return [...literals, ...(UNROUTED[fn] ?? [])];
  // No router: the function answers its methods at its root.
  const m = new RegExp(`httpFunction\\(\\s*'${fn}',[^{]*\\{[^}]*methods: \\[([^\\]]+)\\]`).exec(source);
  assert.ok(m, `the methods of ${fn}`);
  return [...m[1].matchAll(/'(\w+)'/g)].map((x) => ({ method: x[1], path: '/' }));
}

/** A router pattern (`:id` matches any one segment) against a documented path (`{id}` matches anything too). */
function matches(pattern: string, documented: string): boolean {
  const a = pattern.split('/');
  const b = documented.split('/');
  return a.length === b.length && a.every((seg, i) => seg === b[i] || seg.startsWith(':') || /^\{.+\}$/.test(b[i]));
}

/** A Firestore that refuses everything at once (gRPC RESOURCE_EXHAUSTED): "a dependency is down". */
async function downFirestore(): Promise<Http2Server> {
  const server = createServer();
  server.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '8', 'grpc-message': 'down for the test' }));
    stream.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

interface Probe {
  method?: string;
  path?: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Whose key: the scoped one (default; `admin` for admin operations), none, one without the scope, one over its rate limit. */
  as?: 'key' | 'admin' | 'none' | 'unscoped' | 'limited';
  /** The copy of the function whose Firestore is down. */
  down?: boolean;
}

describe('OpenAPI document against the functions (integration)', function () {
  this.timeout(120_000);
  const doc: Json = openApiDocument();
  const served = new Map<FnName, Served>();
  const down = new Map<FnName, RunningFunction>();
  let firestoreDown: Http2Server;
  let worker: Served;
  let events: Served;
  let tasks: TasksDispatcher;
  let sandbox: Sandbox;
  let storage: Awaited<ReturnType<typeof startStorageServer>>;
  let storageDir: string;
  const keys = { key: '', admin: '', unscoped: '', limited: '' };
  /** Ids the probes need, made in before(). */
  const made = { command: '', session: '', run: '', finished: '', delivery: '' };

  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: 'doc', ...doc });

  before(async function () {
    this.timeout(180_000);
    storageDir = mkdtempSync(join(tmpdir(), 'openapi-storage-'));
    const stack = await testStack();
    await resetState();
    firestoreDown = await downFirestore();
    const downHost = `127.0.0.1:${(firestoreDown.address() as AddressInfo).port}`;
    const [health, webhook, commands, testRuns] = await Promise.all((['health', 'webhook', 'commands', 'testRuns'] as const).map((n) => serve(n)));
    served.set('health', health).set('webhook', webhook).set('commands', commands).set('testRuns', testRuns);
    [worker, events] = await Promise.all([serve('testRunWorker', ports.testRunWorkerPort), serve('testRunEvents')]);
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.002 });
    storage = await startStorageServer({ port: ports.storagePort, dir: storageDir });
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: 200, webhookUrl: `${webhook.url}/`, webhookSecret: 'new-virtuoso-secret' });
    await provisionPubsub(pubsub(), TEST_ENV.GOOGLE_CLOUD_PROJECT, { testRunEvents: events.url });
    // The copies with Firestore down, each in its own process (their own Firestore client).
    await Promise.all(
      ROUTES.map(async (fn) => {
        const spec = functionSpecs.find((f) => f.name === fn.name)!;
        const f = await spawnFunction({
          source: join(ROOT, 'functions', spec.bundle, 'index.ts'),
          target: fn.name,
          execArgv: ['--require', 'tsx/cjs'],
          env: { ...stack.env, FIRESTORE_EMULATOR_HOST: downHost, LOG_LEVEL: 'silent', DEPENDENCY_TIMEOUT_MS: '3000' },
        });
        down.set(fn.name, f);
        await firstResponse(f, (url) => httpRequest(`${url}/openapi.json`), (r) => r.status === 200, 60_000);
      }),
    );
    clearKeyCache();
    for (const [name, scopes, user] of [['key', ['commands', 'test-runs'], 'probe'], ['admin', ['admin'], 'probe'], ['unscoped', ['other'], 'probe'], ['limited', ['commands', 'test-runs', 'admin'], 'limited']] as const) {
      const k = newApiKey({ tenantId: 'openapi', userId: user, scopes: [...scopes] });
      await storeApiKey(k.record);
      keys[name] = k.key;
    }
    await withRedis(async (c) => {
      for (const endpoint of ['commands', 'sessions', 'commands.batch', 'test-runs', 'deliveries', 'usage']) await c.set(cacheKeys.rateLimit('limited', endpoint), '100000', { EX: 600 });
    });
    // What the probes need: a command, a session, a run in flight and a finished one with its report.
    const auth = { authorization: `Bearer ${keys.key}`, 'content-type': 'application/json' };
    made.command = (await request(`${commands.url}/commands`, { method: 'POST', headers: auth, body: JSON.stringify({ command: 'list-projects' }) })).body.id;
    made.session = (await request(`${commands.url}/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ checkpointId: '5002' }) })).body.id;
    const hookBody = JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 7900 });
    made.delivery = (await request(`${webhook.url}/`, { method: 'POST', headers: signed(hookBody), body: hookBody })).body.deliveryId;
    const submit = (def: string) => request(`${testRuns.url}/test-runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/yaml' }, body: def });
    made.finished = (await submit(DEFINITION('Finished'))).body.id;
    for (let end = Date.now() + 30_000; ; ) {
      const r = await request(`${testRuns.url}/test-runs/${made.finished}`, { headers: auth });
      if (r.body.status === 'passed') break;
      assert.ok(Date.now() < end, `the run did not pass: ${r.text}`);
      await new Promise((r2) => setTimeout(r2, 100));
    }
    // The next run stays in flight while the probes run: Virtuoso never answers its goal's creation.
    sandbox.faults.add({ kind: 'hang', method: 'POST', path: '^/api/goals$', count: 1000 });
    made.run = (await submit(DEFINITION('In flight'))).body.id;
  });

  after(async () => {
    await Promise.all([...served.values()].map((s) => s.close()));
    await Promise.all([...down.values()].map((f) => f.stop()));
    await Promise.all([worker.close(), events.close(), tasks.close(), sandbox.close(), storage.close()]);
    firestoreDown.close();
    rmSync(storageDir, { recursive: true, force: true });
  });

  const DEFINITION = (name: string) => `name: ${name}\nproject: OpenAPI\ngoals:\n  - name: G\n    url: https://shop.example.com\n    journeys:\n      - name: J\n        checkpoints:\n          - name: C\n            steps:\n              - click: Buy\n`;
  const json = (v: unknown) => JSON.stringify(v);
  const signed = (body: string) => ({ 'content-type': 'application/json', 'x-virtuoso-signature': `sha1=${createHmac('sha1', 'new-virtuoso-secret').update(body).digest('hex')}` });
  const big = (bytes: number) => `{"command":"${'x'.repeat(bytes)}"}`;
  const tooLarge = { 'content-type': 'application/json' };

  /** The probe for each documented status of each operation, by operationId. Generic ones are below. */
  const PROBES: Record<string, Record<number, () => Probe>> = {
    health: { 200: () => ({}), 400: () => ({ query: '?probe=sideways' }), 503: () => ({ down: true }) },
    healthHead: { 200: () => ({}), 503: () => ({ down: true }) },
    webhook: {
      202: () => ({ headers: signed(json({ event: 'EXECUTION', status: 'STARTED', jobId: 7001 })), body: json({ event: 'EXECUTION', status: 'STARTED', jobId: 7001 }) }),
      200: () => ({ headers: signed(json({ event: 'EXECUTION', status: 'STARTED', jobId: 7001 })), body: json({ event: 'EXECUTION', status: 'STARTED', jobId: 7001 }) }),
      400: () => ({ headers: signed('{"event": EXECUTION'), body: '{"event": EXECUTION' }),
      401: () => ({ headers: { 'content-type': 'application/json', 'x-virtuoso-signature': `sha1=${'0'.repeat(40)}` }, body: '{}' }),
      413: () => ({ headers: tooLarge, body: big(300 * 1024) }),
      415: () => ({ headers: { 'content-type': 'text/csv' }, body: 'a,b' }),
      422: () => ({ headers: signed('[1,2]'), body: '[1,2]' }),
      503: () => ({ down: true, headers: signed(json({ event: 'EXECUTION', jobId: 7002 })), body: json({ event: 'EXECUTION', jobId: 7002 }) }),
    },
    runCommand: {
      200: () => ({ body: json({ command: 'list-projects' }) }),
      202: () => ({ body: json({ command: 'list-projects', async: true }) }),
      400: () => ({ query: '?output=xml', body: json({ command: 'list-projects' }) }),
      404: () => ({ body: json({ command: 'create-journey 999999 888888 Nope' }) }),
      409: () => ({ headers: { 'idempotency-key': 'openapi-409' }, body: json({ command: 'list-projects' }) }),
    },
    runBatch: {
      200: () => ({ body: json({ commands: [{ command: 'list-projects' }] }) }),
      202: () => ({ body: json({ commands: [{ command: 'list-projects' }], async: true }) }),
      409: () => ({ headers: { 'idempotency-key': 'openapi-batch-409' }, body: json({ commands: [{ command: 'list-projects' }] }) }),
    },
    listCommands: { 200: () => ({}) },
    getCommand: { 200: () => ({ path: `/commands/${made.command}` }), 400: () => ({ path: `/commands/${made.command}`, query: '?output=xml' }), 404: () => ({ path: '/commands/nope' }) },
    createSession: { 201: () => ({ body: json({ checkpointId: '5002', name: 'probe' }) }) },
    listSessions: { 200: () => ({}) },
    getSession: { 200: () => ({ path: `/sessions/${made.session}` }), 404: () => ({ path: '/sessions/sess_nope' }) },
    deleteSession: { 204: () => ({ path: `/sessions/${made.session}` }), 404: () => ({ path: '/sessions/sess_nope' }) },
    submitTestRun: {
      202: () => ({ headers: { 'content-type': 'application/yaml' }, query: '?execute=false', body: DEFINITION('Probe') }),
      200: () => ({ headers: { 'content-type': 'application/yaml' }, query: '?dryRun=true', body: DEFINITION('Probe') }),
      400: () => ({ headers: { 'content-type': 'application/yaml' }, body: 'name: [unclosed\n' }),
      409: () => ({ headers: { 'content-type': 'application/yaml', 'idempotency-key': 'openapi-run-409' }, query: '?execute=false', body: DEFINITION('Probe') }),
      422: () => ({ headers: { 'content-type': 'application/yaml' }, body: 'name: x\nproject: p\ngoals: []\n' }),
      413: () => ({ headers: tooLarge, body: big(600 * 1024) }),
    },
    listTestRuns: { 200: () => ({}), 400: () => ({ query: '?status=sideways' }) },
    getTestRun: { 200: () => ({ path: `/test-runs/${made.run}` }), 404: () => ({ path: '/test-runs/run_00000000000000000000' }) },
    cancelTestRun: { 200: () => ({ path: `/test-runs/${made.run}/cancel` }), 409: () => ({ path: `/test-runs/${made.finished}/cancel` }), 404: () => ({ path: '/test-runs/run_00000000000000000000/cancel' }) },
    getTestRunReport: {
      200: () => ({ path: `/test-runs/${made.finished}/report` }),
      400: () => ({ path: `/test-runs/${made.finished}/report`, query: '?format=pdf' }),
      404: () => ({ path: '/test-runs/run_00000000000000000000/report' }),
      409: () => ({ path: `/test-runs/${made.run}/report` }),
    },
    revealCallbackSecret: { 200: () => ({}), 409: () => ({}) },
    listDeliveries: { 200: () => ({ query: '?limit=5' }), 400: () => ({ query: '?status=sideways' }) },
    getDelivery: { 200: () => ({ path: `/deliveries/${made.delivery}` }), 404: () => ({ path: `/deliveries/${'0'.repeat(64)}` }) },
    replayDelivery: { 200: () => ({ path: `/deliveries/${made.delivery}/replay`, headers: { 'idempotency-key': 'openapi-replay' } }), 404: () => ({ path: `/deliveries/${'0'.repeat(64)}/replay` }) },
    bulkReplayDeliveries: { 200: () => ({ body: json({ dryRun: true, limit: 5 }) }), 400: () => ({ body: json({ limit: 5 }) }) },
    rotateCallbackSecret: { 200: () => ({}) },
    getUsage: { 200: () => ({ query: '?days=3' }), 400: () => ({ query: '?days=0' }) },
  };

  /** Statuses every operation of a kind can meet, the same way for each. */
  function genericProbe(op: Json, status: number): (() => Probe) | undefined {
    const bodyType = Object.keys(op.requestBody?.content ?? {})[0];
    switch (status) {
      case 401: return () => ({ as: 'none', ...(bodyType ? { body: '{}' } : {}) });
      case 403: return () => ({ as: 'unscoped' });
      case 429: return () => ({ as: 'limited' });
      case 503: return () => ({ down: true });
      case 400: return bodyType ? () => ({ headers: { 'content-type': 'application/json' }, body: '{"command": nope' }) : undefined;
      case 413: return bodyType ? () => ({ headers: tooLarge, body: big(1024 * 1024 + 10) }) : undefined;
      case 415: return bodyType ? () => ({ headers: { 'content-type': 'text/csv' }, body: 'a,b' }) : undefined;
      case 422: return bodyType ? () => ({ body: json({ unexpected: true }) }) : undefined;
      case 200: return op.operationId.endsWith('OpenApi') ? () => ({}) : undefined;
    }
    return undefined;
  }

  const operations = () =>
    ROUTES.flatMap((fn) => fn.operations.map((op) => ({ fn: fn.name, op, documented: doc.paths[`/${fn.name}${op.path === '/' ? '' : op.path}`][op.method] })));

  it('each public function serves its own part at GET /openapi.json, without a key', async () => {
    for (const fn of ROUTES) {
      const res = await request(`${served.get(fn.name)!.url}/openapi.json`);
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(res.body, JSON.parse(JSON.stringify(openApiDocument(fn.name))));
    }
    // A private function serves none.
    assert.ok(!ROUTES.some((r) => r.name === ('logArchive' as FnName)));
  });

  it('every route the functions serve is documented, and every documented operation is served', () => {
    for (const fn of ROUTES) {
      const ops = fn.operations.filter((o) => o.path !== '/openapi.json');
      const routes = sourceRoutes(fn.name);
      for (const r of routes) assert.ok(ops.some((o) => o.method.toUpperCase() === r.method && matches(r.path, o.path)), `${fn.name}: ${r.method} ${r.path} is served but not documented`);
      for (const o of ops) assert.ok(routes.some((r) => o.method.toUpperCase() === r.method && matches(r.path, o.path)), `${fn.name}: ${o.method.toUpperCase()} ${o.path} is documented but not served`);
    }
  });

  it('every documented status is one a real request gets, with the documented body', async () => {
    const problems: string[] = [];
    let probes = 0;
    // The duplicate of a webhook needs its original first; the idempotency conflicts need theirs.
    const order = (status: number) => (status === 409 || status === 200 ? 1 : 0);
    for (const { fn, op, documented } of operations()) {
      const statuses = Object.keys(documented.responses).map(Number).sort((a, b) => order(a) - order(b));
      for (const status of statuses) {
        const make = PROBES[op.operationId]?.[status] ?? genericProbe(documented, status);
        if (!make) {
          problems.push(`${op.operationId} ${status}: documented, but no probe shows the function answering it`);
          continue;
        }
        // The conflicting request of a 409 goes first, with another body.
        if (status === 409 && ['runCommand', 'runBatch', 'submitTestRun'].includes(op.operationId)) {
          const p = make();
          await send(fn, op.method, op.path, { ...p, body: op.operationId === 'submitTestRun' ? DEFINITION('Other') : op.operationId === 'runBatch' ? json({ commands: [{ command: 'list-goals 1' }] }) : json({ command: 'list-goals 1' }) }, op.scope);
        }
        if (op.operationId === 'revealCallbackSecret' && status === 409) await send(fn, 'get', op.path, {}, op.scope);
        if (op.operationId === 'webhook' && status === 200) await send(fn, 'post', op.path, make());
        const res = await send(fn, op.method, op.path, make(), op.scope);
        probes++;
        if (res.status !== status) {
          problems.push(`${op.operationId} ${status}: the probe got ${res.status} ${res.text.slice(0, 200)}`);
          continue;
        }
        const content = documented.responses[status].content;
        const type = (res.headers.get('content-type') ?? '').split(';')[0];
        if (op.method === 'head' || status === 204) continue;
        if (!content?.[type]) {
          problems.push(`${op.operationId} ${status}: answered ${type}, documented ${Object.keys(content ?? {}).join(', ')}`);
          continue;
        }
        const validate = ajv.compile({ $ref: `doc#/paths/${pointer(`/${fn}${op.path === '/' ? '' : op.path}`)}/${op.method}/responses/${status}/content/${pointer(type)}/schema` });
        if (type.endsWith('json') && !validate(res.body)) problems.push(`${op.operationId} ${status}: ${ajv.errorsText(validate.errors)} in ${res.text.slice(0, 300)}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(probes > 60, `${probes} probes`);
  });

  const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

  async function send(fn: FnName, method: string, path: string, p: Probe, scope?: string): Promise<JsonResponse> {
    const base = p.down ? down.get(fn)!.url : served.get(fn)!.url;
    const key = !scope || p.as === 'none' ? undefined : keys[p.as ?? (scope === 'admin' ? 'admin' : 'key')];
    const headers: Record<string, string> = { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(p.body !== undefined ? { 'content-type': 'application/json' } : {}), ...p.headers };
    const target = `${base}${(p.path ?? path).replace(/\{id\}/, 'x')}${p.query ?? ''}`;
    return request(target, { method: (p.method ?? method).toUpperCase(), headers, body: p.body });
  }
});
