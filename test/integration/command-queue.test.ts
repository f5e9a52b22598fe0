/**
 * Queued commands: POST /commands {async: true} → the real @google-cloud/tasks client → the local
 * Cloud Tasks dispatcher (retry settings of infra.ts) → commandWorker → the Virtuoso sandbox.
 */
import assert from 'node:assert/strict';
import '../../functions/commands';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { enqueueTask, taskId } from '../../shared/tasks';
import { request, serve, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('queued commands (integration: Cloud Tasks client → local dispatcher → commandWorker → sandbox)', () => {
  useStack();
  let api: Served;
  let worker: Served;
  let tasks: TasksDispatcher;
  let sandbox: Sandbox;
  let key: string;

  before(async () => {
    api = await serve('commands');
    worker = await serve('commandWorker', ports.workerPort);
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.002 });
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
  });
  after(async () => {
    await Promise.all([api.close(), worker.close(), tasks.close(), sandbox.close()]);
  });
  beforeEach(async () => {
    clearKeyCache();
    tasks.tasks.length = 0;
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const post = (body: object, headers: Record<string, string> = {}) =>
    request<Json>(`${api.url}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const get = (id: string) => request<Json>(`${api.url}/commands/${id}`, { headers: { authorization: `Bearer ${key}` } });
  const runNow = async (command: string) => {
    const res = await post({ command });
    assert.equal(res.status, 200, res.text);
    return res.body.output;
  };
  async function checkpoint(): Promise<string> {
    const project = await runNow(`create-project "Queue ${Math.random()}"`);
    const goal = await runNow(`create-goal ${project.project_id} G`);
    const journey = await runNow(`create-journey ${goal.goal_id} ${goal.snapshot_id} J`);
    return (await runNow(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C`)).checkpoint_id;
  }
  const stepsOf = async (cp: string) => ((await runNow(`list-checkpoint-steps ${cp}`)) as Json[]).length;

  it('the enqueuer sends createTask with a hashed name, the worker URL and an OIDC token, once per name', async () => {
    const id = taskId('acme', 'cmd-1');
    await enqueueTask({ queue: 'commandExecution', id, url: 'http://127.0.0.1:9/unreachable', body: { hello: 1 } });
    await enqueueTask({ queue: 'commandExecution', id, url: 'http://127.0.0.1:9/unreachable', body: { hello: 1 } });
    assert.equal(tasks.tasks.length, 1);
    const [t] = tasks.tasks;
    assert.equal(t.name, `projects/test-project/locations/test-region/queues/command-execution/tasks/${id}`);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(t.body), { hello: 1 });
    assert.equal(t.oidcToken?.serviceAccountEmail, TEST_ENV.TASKS_INVOKER_SA);
  });

  it('queues a command (202), runs it through the worker, and records the result', async () => {
    const cp = await checkpoint();
    const res = await post({ command: `step-interact click ${cp} "Buy"`, async: true });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.status, 'queued');
    assert.equal(res.body.statusUrl, `/commands/${res.body.id}`);
    await tasks.idle();
    const done = await get(res.body.id);
    assert.equal(done.body.status, 'succeeded', done.text);
    assert.equal(done.body.output.type, 'CLICK');
    assert.equal(await stepsOf(cp), 1);
    const [t] = tasks.tasks;
    assert.equal(t.attempts.length, 1);
    const events = await pull('command-events-archive');
    assert.ok(events.some((e) => e.json.data.commandId === res.body.id && e.json.eventType === 'command.executed'));
  });

  it('a duplicate delivery of a finished command changes nothing', async () => {
    const cp = await checkpoint();
    const res = await post({ command: `step-misc comment ${cp} once`, async: true });
    await tasks.idle();
    const body = tasks.tasks.at(-1)!.body;
    const again = await request<Json>(worker.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(again.status, 200);
    assert.equal(again.body.outcome, 'ignored');
    assert.equal((await get(res.body.id)).body.status, 'succeeded');
    assert.equal(await stepsOf(cp), 1);
  });

  it('a step whose answer was lost is found on the retry, not created twice', async () => {
    const cp = await checkpoint();
    // Virtuoso creates the step, then the answer is lost (a crash or timeout from our side).
    sandbox.faults.next(1, '5xx-after', { method: 'POST', path: '/teststeps' });
    const res = await post({ command: `step-interact write ${cp} Email "a@b.c"`, async: true });
    await tasks.idle();
    const t = tasks.tasks.at(-1)!;
    assert.deepEqual(t.attempts.map((a) => a.status), [503, 200], 'retried by the queue after a 503');
    const done = await get(res.body.id);
    assert.equal(done.body.status, 'succeeded', done.text);
    assert.equal(await stepsOf(cp), 1, 'no duplicate step');
  });

  it('a permanent error is recorded as failed and not retried', async () => {
    const res = await post({ command: 'step-interact click 987654 "Nothing"', async: true });
    await tasks.idle();
    assert.equal(tasks.tasks.at(-1)!.attempts.length, 1);
    const failed = await get(res.body.id);
    assert.equal(failed.body.status, 'failed');
    assert.equal(failed.body.error.status, 404);
  });

  it('pins the session position when queuing, so queued steps keep their order', async () => {
    const cp = await checkpoint();
    const session = await request<Json>(`${api.url}/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ checkpointId: cp }),
    });
    const a = await post({ command: 'step-misc comment first', sessionId: session.body.id, async: true });
    const b = await post({ command: 'step-misc comment second', sessionId: session.body.id, async: true });
    await tasks.idle();
    assert.equal((await get(a.body.id)).body.output.position, 1);
    assert.equal((await get(b.body.id)).body.output.position, 2);
  });

  it('answers 503 and leaves nothing behind when the queue cannot take the task', async () => {
    await tasks.close();
    try {
      const res = await post({ command: 'create-project Unqueued', async: true }, { 'idempotency-key': 'q-1' });
      assert.equal(res.status, 503, res.text);
      assert.ok(res.headers.get('retry-after'));
    } finally {
      tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.002 });
    }
    const retry = await post({ command: 'create-project Unqueued', async: true }, { 'idempotency-key': 'q-1' });
    assert.equal(retry.status, 202, retry.text);
    await tasks.idle();
    assert.equal((await get(retry.body.id)).body.status, 'succeeded');
  });

  it('queues a batch: runs in order, resumes after a lost answer without duplicating, and records every result', async () => {
    const cp = await checkpoint();
    const before = sandbox.faults.count('POST', '/teststeps');
    // The second step is created, then its answer is lost: the retry must resume, not redo.
    sandbox.faults.next(1, '5xx-after', { method: 'POST', path: '/teststeps' });
    const res = await request<Json>(`${api.url}/commands/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        async: true,
        commands: [
          { command: `step-navigate to ${cp} https://shop.example.com` },
          { command: `step-interact click ${cp} "Buy"` },
          { command: `step-misc comment ${cp} done` },
        ],
      }),
    });
    assert.equal(res.status, 202, res.text);
    await tasks.idle();
    const done = await get(res.body.id);
    assert.equal(done.body.status, 'succeeded', done.text);
    assert.deepEqual(done.body.output.results.map((r: Json) => r.status), ['succeeded', 'succeeded', 'succeeded']);
    const steps = (await runNow(`list-checkpoint-steps ${cp}`)) as Json[];
    assert.deepEqual(steps.map((st) => st.action), ['NAVIGATE', 'CLICK', 'COMMENT']);
    assert.ok(sandbox.faults.count('POST', '/teststeps') - before >= 3);
    assert.deepEqual(tasks.tasks.at(-1)!.attempts.map((a) => a.status), [503, 200]);
  });

  it("never adopts an identical step another command created between a failed attempt and its retry", async () => {
    const cp = await checkpoint();
    // Slower retries for this test, so that another command runs between A's attempts.
    await tasks.close();
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.05 });
    try {
      // A's first attempt is refused by Virtuoso before anything is created.
      sandbox.faults.next(1, '5xx', { method: 'POST', path: '/teststeps' });
      const a = await post({ command: `step-interact click ${cp} "Next"`, async: true });
      await until(() => tasks.tasks.at(-1)?.attempts.length === 1);
      // B: the same step, run now, succeeds before A's retry.
      const b = await post({ command: `step-interact click ${cp} "Next"` });
      assert.equal(b.status, 200, b.text);
      await tasks.idle(10_000);
      const doneA = await get(a.body.id);
      assert.equal(doneA.body.status, 'succeeded', doneA.text);
      assert.notEqual(doneA.body.output.id, b.body.output.id, 'A must not claim the step B created');
      assert.equal(await stepsOf(cp), 2, 'both steps exist');
    } finally {
      await tasks.close();
      tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.002 });
    }
  });
});

async function until(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
