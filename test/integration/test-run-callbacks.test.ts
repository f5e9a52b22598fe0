/**
 * Completion callbacks end to end: a run submitted with a callbackUrl (a receiver on loopback, as
 * the local stack allows) ends, its callback goes out through the local Cloud Tasks queue
 * `test-callbacks` and testRunWorker, signed with the tenant's secret, and verifies with the
 * project's own Standard Webhooks verifier (shared/webhooks/signature.ts); failed attempts are
 * retried and every attempt is recorded on the run; the secret is shown once and rotates.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import '../../functions/test-runs';
import '../../functions/webhook';
import { startTasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { newApiKey, storeApiKey } from '../../shared/auth';
import { collections, db } from '../../shared/firestore';
import { queues } from '../../shared/infra';
import { verifyStandard } from '../../shared/webhooks/signature';
import { request } from '../helpers/http';
import { useStack } from '../helpers/stack';
import { useTestRunPipeline } from '../helpers/test-run-pipeline';
import { ports } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const DEFINITION = (extra = '') => `
name: Callback smoke
project: Callbacks
options: {timeout: 120}
goals:
  - name: Shop
    url: https://shop.example.com
    journeys:
      - name: Buy
        checkpoints:
          - name: Cart
            steps:
              - click: Add to cart${extra}
`;

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

/** A callback receiver on loopback: answers each request with the next status of `answers` (then 200). */
async function receiver(answers: number[] = []): Promise<{ url: string; received: Received[]; close(): Promise<void>; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks), at: Date.now() });
      const status = answers.shift() ?? 200;
      res.writeHead(status, status === 503 ? { 'Retry-After': '1' } : {});
      res.end(status === 200 ? 'ok' : 'not now');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/virtuoso?team=qa`,
    received,
    server,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('test-run completion callbacks (integration: testRuns → run ends → Cloud Tasks test-callbacks → testRunWorker → receiver)', function () {
  this.timeout(60_000);
  useStack();
  const pipe = useTestRunPipeline({ executionMs: 200 });
  let key: string;

  beforeEach(async () => {
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['test-runs'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const auth = () => ({ authorization: `Bearer ${key}` });
  const submit = (body: unknown) => request<Json>(`${pipe.api.url}/test-runs`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const get = (path: string) => request<Json>(`${pipe.api.url}${path}`, { headers: auth() });
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 25_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const callbackDone = (id: string) =>
    until(`the callback of ${id}`, async () => {
      const r = await get(`/test-runs/${id}`);
      return ['delivered', 'failed'].includes(r.body.callback?.status) ? r.body : undefined;
    });

  it('a finished run POSTs its summary, signed; it verifies with the tenant’s secret (shown once) through the project’s verifier', async () => {
    const rx = await receiver();
    try {
      const res = await submit({ definition: DEFINITION(), callbackUrl: rx.url });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(res.body.callback, { url: rx.url, status: 'waiting', webhookId: `msg_${res.body.id}`, attempts: [] });
      const run = await callbackDone(res.body.id);
      assert.equal(run.status, 'passed');
      assert.equal(run.callback.status, 'delivered');
      assert.equal(run.callback.attempts.length, 1);
      assert.equal(run.callback.attempts[0].status, 200);
      assert.equal(rx.received.length, 1);
      const { headers, body } = rx.received[0];
      assert.equal(headers['content-type'], 'application/json');
      assert.equal(headers['webhook-id'], `msg_${res.body.id}`);
      const payload = JSON.parse(body.toString());
      assert.equal(payload.type, 'test.completed');
      assert.equal(payload.data.id, res.body.id);
      assert.equal(payload.data.status, 'passed');
      assert.equal(payload.data.outcome, 'passed');
      assert.equal(payload.data.report.junit, `/test-runs/${res.body.id}/report?format=junit`);
      assert.match(payload.data.virtuoso.goals[0].goalUrl, /^https:\/\/app\.virtuoso\.qa\/#\/goal\/\d+$/);

      // The tenant reads its secret once; the signature verifies with it, and not with another one.
      const secret = await get('/callback-secret');
      assert.equal(secret.status, 200, secret.text);
      assert.match(secret.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      const verified = verifyStandard(body, headers, [secret.body.secret], 300);
      assert.equal(verified.webhookId, `msg_${res.body.id}`);
      assert.throws(() => verifyStandard(body, headers, ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 300), /does not match/);
      const again = await get('/callback-secret');
      assert.equal(again.status, 409, again.text);
      assert.equal(again.body.error.code, 'conflict');
      // Stored sealed: the secret is nowhere in the tenant's record.
      const stored = JSON.stringify((await db().collection(collections.callbackSecrets).doc('acme').get()).data());
      assert.ok(!stored.includes(secret.body.secret.slice('whsec_'.length)), 'the secret is not stored in the clear');
    } finally {
      await rx.close();
    }
  });

  it('retries a failing receiver through the queue with backoff, records every attempt, and signs every attempt afresh', async () => {
    const rx = await receiver([503, 500, 302]);
    try {
      const res = await submit({ definition: DEFINITION(' FAIL'), callbackUrl: rx.url });
      assert.equal(res.status, 202, res.text);
      const run = await callbackDone(res.body.id);
      assert.equal(run.status, 'failed');
      assert.equal(run.callback.status, 'delivered');
      assert.deepEqual(run.callback.attempts.map((a: Json) => [a.n, a.status]), [[1, 503], [2, 500], [3, 302], [4, 200]]);
      assert.match(run.callback.attempts[0].error, /HTTP 503/);
      assert.equal(rx.received.length, 4);
      assert.equal(new Set(rx.received.map((r) => r.headers['webhook-id'])).size, 1, 'one webhook-id: the receiver dedupes on it');
      assert.equal(new Set(rx.received.map((r) => r.body.toString())).size, 1, 'the same body every time');
      assert.equal(JSON.parse(rx.received[0].body.toString()).type, 'test.failed');
      // Through the test-callbacks queue, retried by it (its settings from infra.ts).
      const task = pipe.tasks.tasks.find((t) => t.queue === queues.testCallbacks.name)!;
      assert.ok(task, 'a task on test-callbacks');
      // The run records the delivery before the worker answers the queue: the queue's last attempt
      // is known a moment later.
      await until('the queue to see its last attempt answered', async () => (task.attempts.length >= 4 ? true : undefined), 5_000);
      assert.deepEqual(task.attempts.map((a) => a.status), [503, 503, 503, 200]);
      const secret = (await get('/callback-secret')).body.secret;
      for (const r of rx.received) verifyStandard(r.body, r.headers, [secret], 300);
    } finally {
      await rx.close();
    }
  });

  it('stops at 410 Gone, and gives up after the queue’s last attempt', async () => {
    const gone = await receiver([410]);
    try {
      const res = await submit({ definition: DEFINITION(), callbackUrl: gone.url });
      const run = await callbackDone(res.body.id);
      assert.equal(run.callback.status, 'failed');
      assert.match(run.callback.reason, /410 Gone/);
      assert.equal(gone.received.length, 1);
    } finally {
      await gone.close();
    }
    // The whole schedule (about 15 hours) compressed into seconds.
    await pipe.tasks.close();
    pipe.tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.00005 });
    const down = await receiver(Array(queues.testCallbacks.retry.maxAttempts).fill(500));
    try {
      const res = await submit({ definition: DEFINITION(), callbackUrl: down.url });
      const run = await callbackDone(res.body.id);
      assert.equal(run.callback.status, 'failed');
      assert.equal(run.callback.reason, `gave up after ${queues.testCallbacks.retry.maxAttempts} attempts`);
      assert.equal(down.received.length, queues.testCallbacks.retry.maxAttempts);
      assert.equal(run.callback.attempts.length, Math.min(20, queues.testCallbacks.retry.maxAttempts));
    } finally {
      await down.close();
    }
  });

  it('a cancelled run calls back too; a receiver that does not answer in time is an attempt that failed', async () => {
    const rx = await receiver();
    const slow = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      pipe.sandbox.faults.setLatency(300);
      const res = await submit({ definition: DEFINITION(), callbackUrl: rx.url });
      const cancelled = await request<Json>(`${pipe.api.url}/test-runs/${res.body.id}/cancel`, { method: 'POST', headers: auth() });
      assert.equal(cancelled.status, 200, cancelled.text);
      const run = await callbackDone(res.body.id);
      assert.equal(run.status, 'cancelled');
      assert.equal(JSON.parse(rx.received[0].body.toString()).data.status, 'cancelled');
      pipe.sandbox.faults.setLatency(0);

      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/`;
      const timed = await submit({ definition: DEFINITION(), callbackUrl: url, execute: false });
      const t = await until('a timed-out attempt', async () => {
        const r = await get(`/test-runs/${timed.body.id}`);
        return r.body.callback?.attempts?.length ? r.body : undefined;
      });
      assert.match(t.callback.attempts[0].error, /no answer within 2000 ms/);
      assert.equal(t.callback.attempts[0].status, undefined);
    } finally {
      slow.closeAllConnections();
      slow.close();
      await rx.close();
    }
  });

  it('refuses callback URLs that are not https or point at private, link-local or metadata addresses (422), before anything runs', async () => {
    for (const url of ['http://ci.example.com/hook', 'https://10.0.0.8/hook', 'https://169.254.169.254/computeMetadata/v1/', 'https://metadata.google.internal/x', 'https://[fd00::1]/x', 'https://user:pw@ci.example.com/x', 'not a url']) {
      const res = await submit({ definition: DEFINITION(), callbackUrl: url });
      assert.equal(res.status, 422, `${url}: ${res.text}`);
      assert.match(res.body.error.message, /callbackUrl is refused/);
    }
    const dry = await submit({ definition: DEFINITION(), callbackUrl: 'https://10.1.1.1/x', dryRun: true });
    assert.equal(dry.status, 422, 'a dry run checks the callbackUrl too');
    const yaml = await request<Json>(`${pipe.api.url}/test-runs?callbackUrl=${encodeURIComponent('https://192.168.1.10/x')}`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/yaml' }, body: DEFINITION() });
    assert.equal(yaml.status, 422, yaml.text);
    assert.equal(pipe.tasks.tasks.length, 0, 'nothing queued');
    assert.equal(pipe.sandbox.faults.received.length, 0, 'nothing sent to Virtuoso');
  });

  it('rotating shows a new secret once; for a day callbacks carry both signatures, so either secret verifies', async () => {
    const first = await get('/callback-secret');
    assert.equal(first.status, 200, first.text);
    const rotated = await request<Json>(`${pipe.api.url}/callback-secret/rotate`, { method: 'POST', headers: auth() });
    assert.equal(rotated.status, 200, rotated.text);
    assert.notEqual(rotated.body.secret, first.body.secret);
    assert.ok(Date.parse(rotated.body.previousValidUntil) > Date.now() + 23 * 3600_000);
    assert.equal((await get('/callback-secret')).status, 409, 'the rotated secret was shown by the rotation');
    const rx = await receiver();
    try {
      const res = await submit({ definition: DEFINITION(), callbackUrl: rx.url, execute: false });
      await callbackDone(res.body.id);
      const { body, headers } = rx.received[0];
      assert.equal(String(headers['webhook-signature']).split(' ').length, 2);
      verifyStandard(body, headers, [first.body.secret], 300);
      verifyStandard(body, headers, [rotated.body.secret], 300);
    } finally {
      await rx.close();
    }
    // Another tenant has its own secret.
    const other = newApiKey({ tenantId: 'globex', userId: 'bob', scopes: ['test-runs'] });
    await storeApiKey(other.record);
    const theirs = await request<Json>(`${pipe.api.url}/callback-secret`, { headers: { authorization: `Bearer ${other.key}` } });
    assert.equal(theirs.status, 200);
    assert.notEqual(theirs.body.secret, rotated.body.secret);
  });
});
