/**
 * Dependencies frozen (issue 11 §1): the Firestore emulator, the Pub/Sub emulator and Redis each
 * stopped with SIGSTOP — a hung server, a partition: connections open, nothing answers — while
 * every path is asked at once. Each must answer within its documented deadline (Firestore,
 * Cloud Tasks, Storage: DEPENDENCY_DEADLINE_MS, 5 s; a publish: PUBLISH_TIMEOUT_MS, 3 s in the
 * tests; Redis: REDIS_TIMEOUT_MS, then the circuit breaker) with 503 + Retry-After, or go on
 * without the optional cache; and once thawed, nothing is lost, duplicated or left stuck.
 */
import assert from 'node:assert/strict';
import '../../functions/commands';
import '../../functions/health';
import '../../functions/test-runs';
import '../../functions/webhook';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { cacheCircuit, cacheGet, cacheSet } from '../../shared/cache';
import { getCommand } from '../../shared/commands/history';
import { sweepCommands, STALE_AFTER_MS } from '../../shared/commands/sweep';
import { getDelivery } from '../../shared/webhooks/deliveries';
import { log } from '../../shared/log';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { freeze, timed } from '../helpers/faults';
import { request, serve, type JsonResponse, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** FAULTS_REPORT=1 prints each case's answer and time (the figures of the closing note). */
const report = (rows: [string, number, number][]) => {
  if (process.env.FAULTS_REPORT) for (const [what, status, ms] of rows) process.stdout.write(`      ${status} in ${Math.round(ms)} ms  ${what}\n`);
};

/** The documented deadlines, with generous slack for a loaded 2-core machine. */
const FIRESTORE_BOUND_MS = 5000 + 4000;
const PUBLISH_BOUND_MS = Number(TEST_ENV.PUBLISH_TIMEOUT_MS) + 4000;

function assertUnavailable(what: string, res: JsonResponse, ms: number, boundMs: number): void {
  assert.equal(res.status, 503, `${what}: ${res.status} ${res.text}`);
  assert.ok(Number(res.headers.get('retry-after')) >= 1, `${what}: Retry-After`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, what);
  assert.ok(ms < boundMs, `${what}: answered after ${Math.round(ms)} ms (bound ${boundMs} ms)`);
}

describe('faults: frozen dependencies', function () {
  this.timeout(120_000);
  useStack();
  let webhook: Served, commands: Served, worker: Served, testRuns: Served, health: Served;
  let sandbox: Sandbox;
  let tasks: TasksDispatcher;
  let key: string;

  before(async () => {
    [webhook, commands, worker, testRuns, health] = await Promise.all([
      serve('webhook'), serve('commands'), serve('commandWorker', ports.workerPort), serve('testRuns'), serve('health'),
    ]);
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.002 });
  });
  after(async () => {
    await Promise.all([webhook.close(), commands.close(), worker.close(), testRuns.close(), health.close(), sandbox.close(), tasks.close()]);
  });
  beforeEach(async () => {
    clearKeyCache();
    tasks.tasks.length = 0;
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands', 'test-runs'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const call = (served: Served, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, as = key) =>
    timed(() =>
      request<Json>(`${served.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${as}`, ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'application/yaml' : 'application/json' }), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }),
    );
  /** As a client does after a 503: the same request again after its Retry-After, for up to 30 s (the emulator works off its backlog after a thaw). */
  const retrying = async (send: () => Promise<{ value: JsonResponse; ms: number }>) => {
    for (const end = Date.now() + 30_000; ; ) {
      const r = await send();
      if (r.value.status !== 503 || Date.now() > end) return r;
      await new Promise((res) => setTimeout(res, Math.min(Number(r.value.headers.get('retry-after') ?? 1), 5) * 1000));
    }
  };
  const signed = (body: string) =>
    timed(() => request<Json>(webhook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, 'new-virtuoso-secret') }, body }));
  const ok = async (command: string) => {
    const { value } = await call(commands, 'POST', '/commands', { command });
    assert.equal(value.status, 200, value.text);
    return value.body;
  };
  const definition = 'name: Frozen\nproject: Frozen\ngoals:\n  - name: G\n    url: https://a.example.com\n    journeys:\n      - name: J\n        checkpoints:\n          - name: C\n            steps:\n              - comment: hi\n';

  it('Firestore frozen: every path answers 503 + Retry-After within its deadline; thawed, the effect done under the 503 ends its retry, and nothing is stuck', async () => {
    // Before: a warm API key (cached), a key never used (not cached), a command, a session, a run.
    const existing = await ok('list-projects');
    const session = await call(commands, 'POST', '/sessions', { checkpointId: '5001' });
    assert.equal(session.value.status, 201, session.value.text);
    const run = await call(testRuns, 'POST', '/test-runs?execute=false', definition);
    assert.equal(run.value.status, 202, run.value.text);
    const fresh = newApiKey({ tenantId: 'acme', userId: 'bob', scopes: ['commands'] });
    await storeApiKey(fresh.record);
    const projectName = `Frozen ${Date.now()}`;

    const thaw = await freeze('firestore');
    let answers: [string, { value: JsonResponse; ms: number }][];
    try {
      answers = await Promise.all(
        (
          [
            ['webhook', signed(JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 777 }))],
            ['sync command (its effect happens: a project is created)', call(commands, 'POST', '/commands', { command: `create-project "${projectName}"` })],
            ['queued command', call(commands, 'POST', '/commands', { command: 'list-projects', async: true })],
            ['batch', call(commands, 'POST', '/commands/batch', { commands: [{ command: 'list-projects' }] })],
            ['GET /commands', call(commands, 'GET', '/commands')],
            ['GET /commands/{id}', call(commands, 'GET', `/commands/${existing.id}`)],
            ['POST /sessions', call(commands, 'POST', '/sessions', { checkpointId: '5001' })],
            ['GET /sessions/{id}', call(commands, 'GET', `/sessions/${session.value.body.id}`)],
            ['an API key not yet cached', call(commands, 'GET', '/commands', undefined, {}, fresh.key)],
            ['POST /test-runs', call(testRuns, 'POST', '/test-runs', definition)],
            ['POST /test-runs?execute=false', call(testRuns, 'POST', '/test-runs?execute=false', definition)],
            ['GET /test-runs', call(testRuns, 'GET', '/test-runs')],
            ['GET /test-runs/{id}', call(testRuns, 'GET', `/test-runs/${run.value.body.id}`)],
            ['cancel', call(testRuns, 'POST', `/test-runs/${run.value.body.id}/cancel`)],
            ['commandWorker delivery', call(worker, 'POST', '/', { commandId: existing.id, userId: 'alice', tenantId: 'acme' })],
            ['health', timed(() => request<Json>(health.url))],
          ] as [string, Promise<{ value: JsonResponse; ms: number }>][]
        ).map(async ([what, p]) => [what, await p] as [string, { value: JsonResponse; ms: number }]),
      );
    } finally {
      thaw();
    }
    report(answers.map(([what, { value, ms }]) => [what, value.status, ms]));
    for (const [what, { value, ms }] of answers) assertUnavailable(what, value, ms, FIRESTORE_BOUND_MS);
    const created = [...sandbox.state.projects.values()].filter((p) => p.name === projectName);
    assert.equal(created.length, 1, 'the sync command’s effect happened under the 503');

    // The retry of the command whose effect happened ends with that effect: no 409, no second project.
    const retry = await retrying(() => call(commands, 'POST', '/commands', { command: `create-project "${projectName}"` }));
    assert.equal(retry.value.status, 200, retry.value.text);
    assert.equal(retry.value.headers.get('idempotent-replayed'), 'true');
    assert.equal(retry.value.body.output.project_id, String(created[0].id));
    assert.equal([...sandbox.state.projects.values()].filter((p) => p.name === projectName).length, 1);
    assert.equal((await getCommand({ keyHash: '', tenantId: 'acme', userId: 'alice', scopes: [] }, retry.value.body.id)).status, 'succeeded', 'recorded now');
    // Sent again later, it is a new command (the parked outcome was used once): Virtuoso's 409.
    assert.equal((await retrying(() => call(commands, 'POST', '/commands', { command: `create-project "${projectName}"` }))).value.status, 409);

    // Nothing stuck: a queued command whose record landed after its 503 is found by the sweep and runs.
    const swept = await sweepCommands(log, Date.now() + STALE_AFTER_MS + 60_000);
    await tasks.idle(30_000);
    const history = await retrying(() => call(commands, 'GET', '/commands?limit=100'));
    const unfinished = history.value.body.items.filter((c: Json) => c.status === 'queued' || c.status === 'running');
    assert.deepEqual(unfinished, [], `left unfinished after the sweep (${JSON.stringify(swept)})`);
  });

  it('Firestore frozen mid-batch: the batch answers 503, and its retry resumes after what was done — each step once', async () => {
    const project = await ok(`create-project "Mid ${Date.now()}"`);
    const goal = await ok(`create-goal ${project.output.project_id} G`);
    const journey = await ok(`create-journey ${goal.output.goal_id} ${goal.output.snapshot_id} J`);
    const cp = (await ok(`create-checkpoint ${journey.output.journey_id} ${goal.output.goal_id} ${goal.output.snapshot_id} C`)).output.checkpoint_id;
    const body = { commands: ['A', 'B', 'C'].map((t) => ({ command: `step-interact click ${cp} "${t}"` })) };
    sandbox.faults.setLatency(400);
    const steps = () => sandbox.faults.count('POST', /^\/api\/teststeps$/);
    const before = steps();
    const pending = call(commands, 'POST', '/commands/batch', body);
    let thaw: (() => void) | undefined;
    try {
      // Frozen while Virtuoso creates the first step: its record cannot be written.
      for (const end = Date.now() + 20_000; steps() === before; ) {
        if (Date.now() > end) throw new Error('the batch did not start');
        await new Promise((r) => setTimeout(r, 5));
      }
      thaw = await freeze('firestore');
      const { value, ms } = await pending;
      report([['batch frozen mid-way', value.status, ms]]);
      assertUnavailable('batch', value, ms, 400 + FIRESTORE_BOUND_MS + 5000);
    } finally {
      thaw?.();
      sandbox.faults.setLatency(0);
    }
    const retry = await retrying(() => call(commands, 'POST', '/commands/batch', body));
    assert.equal(retry.value.status, 200, retry.value.text);
    assert.deepEqual(retry.value.body.output.results.map((r: Json) => r.status), ['succeeded', 'succeeded', 'succeeded']);
    const listed = (await ok(`list-checkpoint-steps ${cp}`)).output.map((s: Json) => s.value ?? s.action);
    assert.equal(steps() - before, 3, 'three steps created in Virtuoso, not four');
    assert.equal(listed.length, 3);
  });

  it('Pub/Sub frozen: the webhook answers 503 within the publish deadline and its retry goes through once thawed; a command still answers, its event logged as lost', async () => {
    const body = JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 888 });
    const thaw = await freeze('pubsub');
    let hook, command;
    try {
      [hook, command] = await Promise.all([signed(body), call(commands, 'POST', '/commands', { command: 'list-projects' })]);
    } finally {
      thaw();
    }
    report([['webhook, Pub/Sub frozen', hook.value.status, hook.ms], ['sync command, Pub/Sub frozen', command.value.status, command.ms]]);
    assertUnavailable('webhook', hook.value, hook.ms, PUBLISH_BOUND_MS);
    assert.equal(command.value.status, 200, command.value.text);
    assert.ok(command.ms < PUBLISH_BOUND_MS, `command: ${command.ms} ms`);
    const retry = await signed(body);
    assert.equal(retry.value.status, 202, retry.value.text);
    assert.equal((await getDelivery(retry.value.body.deliveryId))?.status, 'published');
    // The publish given up may still have gone out: every copy carries the delivery's event id.
    await new Promise((r) => setTimeout(r, 500));
    const messages = (await pull('webhook-events-archive')).filter((m) => m.attributes.deliveryId === retry.value.body.deliveryId);
    assert.ok(messages.length >= 1);
    assert.deepEqual([...new Set(messages.map((m) => m.json.eventId))], [retry.value.body.deliveryId]);
  });

  it('Redis frozen: requests go on uncached at almost no cost (the deadline, then the circuit breaker), and the cache comes back', async () => {
    await ok('list-projects');
    const thaw = await freeze('redis');
    const times: number[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const { value, ms } = await call(commands, 'POST', '/commands', { command: `list-projects --limit ${i + 1}` });
        assert.equal(value.status, 200, value.text);
        times.push(ms);
      }
    } finally {
      thaw();
    }
    report(times.map((ms, i) => [`read command ${i + 1}, Redis frozen`, 200, ms]));
    times.sort((a, b) => a - b);
    const median = times[10];
    // Without the breaker each request waits out REDIS_TIMEOUT_MS (200 ms here) at least twice.
    assert.ok(median < 150, `median ${Math.round(median)} ms: ${times.map(Math.round).join(', ')}`);
    assert.ok(times[19] < 2000, `slowest ${Math.round(times[19])} ms`);
    // Thawed: the breaker probes and closes; the cache works again.
    for (const end = Date.now() + 20_000; ; ) {
      await cacheSet('freeze:probe', { ok: true }, 60);
      if ((await cacheGet<{ ok: boolean }>('freeze:probe'))?.ok) break;
      if (Date.now() > end) throw new Error(`the cache did not come back (circuit ${cacheCircuit()})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(cacheCircuit(), 'closed');
  });
});
