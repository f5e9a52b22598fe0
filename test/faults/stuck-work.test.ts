/**
 * Nothing left stuck (issue 11 §1): a delivery that meets a live lease queues itself for after it
 * instead of spending one of the queue's attempts, and takes over once the holder is gone; the
 * stale-work sweep resumes what the queue gave up on, ends what cannot finish, and marks a
 * synchronous command whose instance died as interrupted.
 */
import assert from 'node:assert/strict';
import '../../functions/commands';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey, type Principal } from '../../shared/auth';
import { getCommand, newCommandRecord, saveCommand, type CommandRecord } from '../../shared/commands/history';
import { MAX_SWEEPS, STALE_AFTER_MS } from '../../shared/commands/sweep';
import { commandRef } from '../../shared/commands/worker';
import { enqueueTask, taskId } from '../../shared/tasks';
import { request, serve, type Served } from '../helpers/http';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const alice: Principal = { keyHash: '', tenantId: 'acme', userId: 'alice', scopes: ['commands'] };

describe('faults: stuck work (leases, continuations, the sweep)', function () {
  this.timeout(60_000);
  useStack();
  let worker: Served;
  let sandbox: Sandbox;
  let tasks: TasksDispatcher;

  before(async () => {
    worker = await serve('commandWorker', ports.workerPort);
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.01 });
  });
  after(async () => {
    await Promise.all([worker.close(), sandbox.close(), tasks.close()]);
  });
  beforeEach(async () => {
    clearKeyCache();
    tasks.tasks.length = 0;
    await storeApiKey(newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] }).record);
  });

  /** A queued command as the API stores it, with what the test wants changed. */
  async function queued(changes: Partial<CommandRecord> & Record<string, unknown> = {}): Promise<CommandRecord> {
    const record = { ...newCommandRecord(alice, 'list-projects', { command: 'list-projects' }, 'queued'), queuedAt: new Date().toISOString(), ...changes } as CommandRecord;
    await saveCommand(record);
    return record;
  }
  const deliver = (record: CommandRecord) =>
    enqueueTask({ queue: 'commandExecution', id: taskId(record.tenantId, record.id), url: TEST_ENV.COMMAND_WORKER_URL, body: { commandId: record.id, userId: record.userId, tenantId: record.tenantId } });
  const statusOf = async (id: string) => (await getCommand(alice, id)).status;
  async function until(what: string, probe: () => Promise<boolean>, ms = 20_000): Promise<void> {
    for (const end = Date.now() + ms; !(await probe()); ) {
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('a delivery that meets a live lease is deferred to just after it (200, no attempt spent), then takes the command over', async () => {
    // An attempt that died holding the command: its lease runs 2 more seconds.
    const record = await queued({ status: 'running', attempts: 1, leaseUntil: new Date(Date.now() + 2000).toISOString() });
    const started = Date.now();
    await deliver(record);
    await until('the command finishes', async () => (await statusOf(record.id)) === 'succeeded');
    await tasks.idle(10_000);
    const mine = tasks.tasks.filter((t) => (JSON.parse(t.body) as Json).commandId === record.id);
    const [first, ...continuations] = mine;
    assert.deepEqual(first.attempts.map((a) => a.status), [200], 'the first delivery answered 200 (deferred), not 503');
    assert.equal(continuations.length, 1, 'one continuation');
    assert.equal((JSON.parse(continuations[0].body) as Json).n, 1);
    assert.ok((continuations[0].dueAt ?? 0) >= started + 2000, 'due after the lease');
    assert.deepEqual(continuations[0].attempts.map((a) => a.status), [200]);
    const doc = (await commandRef({ userId: 'alice', commandId: record.id }).get()).data() as Json;
    assert.equal(doc.attempts, 2, 'taken over by a second attempt');
    assert.equal(doc.leaseUntil, null);
  });

  it('the sweep queues again what the queue gave up on, resumes a dead attempt’s command, ends what cannot finish, and marks interrupted sync commands', async () => {
    const old = new Date(Date.now() - STALE_AFTER_MS - 60_000).toISOString();
    const abandonedQueue = await queued({ updatedAt: old });
    const deadAttempt = await queued({ status: 'running', attempts: 5, leaseUntil: old, updatedAt: old });
    const hopeless = await queued({ updatedAt: old, sweeps: MAX_SWEEPS, attempts: 20 });
    const interrupted = { ...newCommandRecord(alice, 'create-project', { command: 'create-project X' }, 'running'), updatedAt: old };
    await saveCommand(interrupted);
    const fresh = await queued(); // just queued: its task may well be pending: left alone
    const live = await queued({ status: 'running', attempts: 1, leaseUntil: new Date(Date.now() + 60_000).toISOString(), updatedAt: old });

    const res = await request<Json>(`${worker.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'sweep' }) });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual({ requeued: res.body.requeued, abandoned: res.body.abandoned, interrupted: res.body.interrupted }, { requeued: 2, abandoned: 1, interrupted: 1 });

    await until('the swept commands finish', async () => (await statusOf(abandonedQueue.id)) === 'succeeded' && (await statusOf(deadAttempt.id)) === 'succeeded');
    const ended = await getCommand(alice, hopeless.id);
    assert.equal(ended.status, 'failed');
    assert.match(ended.error!.message, /Abandoned after 20 attempts and 3 sweeps/);
    const cut = await getCommand(alice, interrupted.id);
    assert.equal(cut.status, 'failed');
    assert.match(cut.error!.message, /Interrupted/);
    assert.equal(await statusOf(fresh.id), 'queued');
    assert.equal(await statusOf(live.id), 'running');
    // A second sweep right away finds nothing stale (every change moved updatedAt).
    const again = await request<Json>(`${worker.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'sweep' }) });
    assert.deepEqual([again.body.requeued, again.body.abandoned, again.body.interrupted], [0, 0, 0]);
  });
});
