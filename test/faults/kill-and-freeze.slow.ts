/**
 * The slow part of the fault suite (`npm run test:faults`, not in `npm test`): a worker process
 * killed with SIGKILL in the middle of a queued batch, a worker frozen out of Firestore right after
 * Virtuoso did its work, a webhook sender retrying through a Firestore freeze, and bodies and
 * headers that trickle against the real functions' own timeouts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import '../../functions/commands';
import '../../functions/webhook';
import { buildBundles } from '../../scripts/build';
import { firstResponse, httpRequest, spawnFunction, type RunningFunction } from '../../scripts/bench/cold-start';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey, type Principal } from '../../shared/auth';
import { getCommand } from '../../shared/commands/history';
import { collections, db } from '../../shared/firestore';
import { HEADERS_TIMEOUT_MS, receiveTimeoutOf } from '../../shared/http';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { freeze } from '../helpers/faults';
import { rawExchange, request, serve, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { testStack, useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const alice: Principal = { keyHash: '', tenantId: 'acme', userId: 'alice', scopes: ['commands'] };

describe('faults (slow): killed and frozen workers, retrying senders, trickling clients', function () {
  this.timeout(180_000);
  useStack();
  let api: Served;
  let sandbox: Sandbox;
  let tasks: TasksDispatcher;
  let key: string;

  before(async () => {
    api = await serve('commands');
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
    // Cloud Tasks' backoff at a tenth: the first retry after 1 s, then 2 s, 4 s …
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.1 });
  });
  after(async () => {
    await Promise.all([api.close(), sandbox.close(), tasks.close()]);
  });
  beforeEach(async () => {
    clearKeyCache();
    tasks.tasks.length = 0;
    sandbox.faults.clear();
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const post = async (path: string, body: unknown) =>
    request<Json>(`${api.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const ok = async (command: string) => {
    const res = await post('/commands', { command });
    assert.equal(res.status, 200, res.text);
    return res.body.output;
  };
  async function checkpoint(): Promise<string> {
    const project = await ok(`create-project "Faults ${Date.now()}"`);
    const goal = await ok(`create-goal ${project.project_id} G`);
    const journey = await ok(`create-journey ${goal.goal_id} ${goal.snapshot_id} J`);
    return (await ok(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C`)).checkpoint_id;
  }
  const stepPosts = () => sandbox.faults.count('POST', /^\/api\/teststeps$/);
  async function until(what: string, probe: () => Promise<boolean> | boolean, ms: number): Promise<void> {
    for (const end = Date.now() + ms; !(await probe()); ) {
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('kill -9 of commandWorker after 5 of 50 batch results: the redelivery waits out the short lease instead of spending attempts, the batch resumes, the unrecorded step is adopted — 50 steps, each once', async () => {
    const [bundle] = await buildBundles(['commands']);
    const stack = await testStack();
    const env = { ...TEST_ENV, ...stack.env, LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'silent', COMMAND_LEASE_SECONDS: '3', SECRET_MANAGER_ENDPOINT: '' };
    const start = async () => {
      const w = await spawnFunction({ source: join(bundle.outfile, '..'), target: 'commandWorker', env, port: ports.workerPort });
      await firstResponse(w, (url) => httpRequest(url), (r) => r.status === 405, 30_000);
      return w;
    };
    let worker: RunningFunction = await start();
    try {
      const cp = await checkpoint();
      const before = stepPosts();
      sandbox.faults.setLatency(40);
      const started = Date.now();
      const queued = await post('/commands/batch', { async: true, commands: Array.from({ length: 50 }, (_, i) => ({ command: `step-interact click ${cp} "Button ${i}"` })) });
      assert.equal(queued.status, 202, queued.text);
      // The sixth step request reached Virtuoso: five results are recorded, the sixth step will exist unrecorded.
      await until('five steps', () => stepPosts() - before >= 6, 60_000);
      worker.child.kill('SIGKILL');
      await worker.exited;
      const recorded = ((await getCommand(alice, queued.body.id)).output as Json)?.results?.length ?? 0;
      worker = await start(); // Cloud Run (and npm start) start a new instance
      await until('the batch finishes', async () => ['succeeded', 'failed'].includes((await getCommand(alice, queued.body.id)).status), 90_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${JSON.stringify(tasks.tasks.map((t) => [t.body, t.attempts]))}\n${worker.output()}`);
      });
      const elapsed = Date.now() - started;
      const batch = await getCommand(alice, queued.body.id);
      assert.equal(batch.status, 'succeeded', JSON.stringify(batch.error));
      const results = (batch.output as Json).results as Json[];
      assert.equal(results.length, 50);
      assert.ok(results.every((r) => r.status === 'succeeded'));
      assert.equal(recorded, 5, 'killed with five results recorded');
      // Virtuoso holds each step once, in order; the sixth was adopted, not created again.
      const steps = (await ok(`list-checkpoint-steps ${cp}`)) as Json[];
      assert.equal(steps.length, 50);
      assert.equal(stepPosts() - before, 50, 'fifty step requests in all');
      assert.deepEqual(new Set(results.map((r) => r.output.id)).size, 50);
      // No delivery was answered 503 for meeting the dead attempt's lease: it queued itself after it.
      const attempts = tasks.tasks.filter((t) => (JSON.parse(t.body) as Json).commandId === queued.body.id).flatMap((t) => t.attempts.map((a) => a.status));
      assert.ok(!attempts.includes(503), `attempts: ${attempts.join(', ')}`);
      assert.ok(elapsed < 60_000, `${elapsed} ms from queueing to done`);
    } finally {
      sandbox.faults.setLatency(0);
      await worker.stop();
    }
  });

  it('commandWorker frozen out of Firestore right after Virtuoso created its step: the outcome is parked, the retry records it — one step, succeeded', async () => {
    const worker = await serve('commandWorker', ports.workerPort);
    let thaw: (() => void) | undefined;
    try {
      const cp = await checkpoint();
      const before = stepPosts();
      sandbox.faults.setLatency(300);
      const queued = await post('/commands', { command: `step-interact click ${cp} "Pay"`, async: true });
      assert.equal(queued.status, 202, queued.text);
      await until('the step request', () => stepPosts() > before, 30_000);
      thaw = await freeze('firestore');
      await new Promise((r) => setTimeout(r, 7000)); // the worker's record of the outcome times out meanwhile
      thaw();
      await until('the command succeeds', async () => (await getCommand(alice, queued.body.id)).status === 'succeeded', 60_000);
      assert.equal(stepPosts() - before, 1, 'one step request');
      assert.equal(((await ok(`list-checkpoint-steps ${cp}`)) as Json[]).length, 1);
    } finally {
      thaw?.();
      sandbox.faults.setLatency(0);
      await worker.close();
    }
  });

  it('a webhook through a Firestore freeze: 503s within the deadline, then the sender’s retry is accepted and published once', async () => {
    const webhook = await serve('webhook');
    try {
      const body = JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 4242 });
      const send = () => request<Json>(webhook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, 'new-virtuoso-secret') }, body });
      const thaw = await freeze('firestore');
      let first;
      const t0 = Date.now();
      try {
        first = await send();
      } finally {
        thaw();
      }
      assert.equal(first.status, 503);
      assert.ok(Date.now() - t0 < 9000);
      // A sender retrying as Standard Webhooks senders do (Retry-After honoured), for up to a minute.
      let accepted;
      for (const end = Date.now() + 60_000; ; ) {
        const res = await send();
        if (res.status < 300) {
          accepted = res;
          break;
        }
        assert.equal(res.status, 503, res.text);
        if (Date.now() > end) throw new Error('never accepted');
        await new Promise((r) => setTimeout(r, Math.min(Number(res.headers.get('retry-after') ?? 1), 5) * 1000));
      }
      const deliveries = await db().collection(collections.webhookDeliveries).get();
      assert.equal(deliveries.size, 1);
      assert.equal(deliveries.docs[0].get('status'), 'published');
      const messages = (await pull('webhook-events-archive')).filter((m) => m.attributes.deliveryId === accepted.body.deliveryId);
      assert.equal(messages.length, 1, 'published once');
    } finally {
      await webhook.close();
    }
  });

  it('a trickling body and trickling headers against the webhook’s own timeouts: 408 as JSON, the connection closed', async () => {
    const webhook = await serve('webhook');
    try {
      const limit = receiveTimeoutOf({ maxBodyBytes: 256 * 1024 });
      const body = await rawExchange(webhook.url, ['POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n', '{"a":"1234'], 60_000);
      assert.equal(body.status, 408, body.body);
      assert.ok(body.ms >= limit - 100 && body.ms < limit + 3000, `${body.ms} ms (limit ${limit})`);
      const headers = await rawExchange(webhook.url, ['POST / HTTP/1.1\r\nHost: x\r\nX-Slow: '], 60_000);
      assert.equal(headers.status, 408, headers.body);
      assert.equal((JSON.parse(headers.body) as Json).error.code, 'request_timeout');
      assert.ok(headers.ms >= HEADERS_TIMEOUT_MS - 100 && headers.ms < HEADERS_TIMEOUT_MS + 3000, `${headers.ms} ms`);
    } finally {
      await webhook.close();
    }
  });
});
