import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../scripts/local-stack/processes';
import { VirtuosoApiError, VirtuosoClient } from '../../shared/virtuoso/client';
import { virtuosoToAppError } from '../../shared/virtuoso/errors';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
type Answer = (req: Seen, res: ServerResponse) => void;

/** A stand-in for the Virtuoso API: answers from a script, records every request. */
async function fakeVirtuoso(answers: Answer[]): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(s);
      (answers[seen.length - 1] ?? answers[answers.length - 1])(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`,
    seen,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const hang: Answer = () => undefined;

const client = (url: string, extra: Partial<ConstructorParameters<typeof VirtuosoClient>[0]> = {}) =>
  new VirtuosoClient({ baseUrl: url, token: async () => 'tok-123', baseBackoffMs: 5, attemptTimeoutMs: 2000, deadlineMs: 5000, ...extra });

describe('Virtuoso API client (integration: real HTTP against a stand-in)', () => {
  let fake: Awaited<ReturnType<typeof fakeVirtuoso>> | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('sends the bearer token and client headers, encodes queries (arrays repeat), unwraps {success, item}', async () => {
    fake = await fakeVirtuoso([json(200, { success: true, item: { id: 7, name: 'P' } })]);
    const item = await client(fake.url).item<{ id: number }>('GET', '/testsuites/execution', { query: { 'suiteId[]': [1, 2], jobId: 9, skip: undefined } });
    assert.deepEqual(item, { id: 7, name: 'P' });
    const [req] = fake.seen;
    assert.equal(req.url, '/api/testsuites/execution?suiteId%5B%5D=1&suiteId%5B%5D=2&jobId=9');
    assert.equal(req.headers.authorization, 'Bearer tok-123');
    assert.ok(req.headers['x-virtuoso-client-id']);
  });

  it('frames every request itself: Host, a Content-Length for each body (0 for a bodiless POST), never chunked', async () => {
    fake = await fakeVirtuoso([json(200, { success: true, item: {} })]);
    const api = client(fake.url);
    await api.call('GET', '/projects/1');
    await api.call('POST', '/goals/5/snapshots/6/execute');
    await api.call('POST', '/teststeps', { body: { checkpointId: 1, note: 'é' } });
    await api.call('PUT', '/testsuites/3', { body: { title: 'x' } });
    const [get, bare, post, put] = fake.seen;
    const host = new URL(fake.url).host;
    for (const r of fake.seen) {
      assert.equal(r.headers.host, host);
      assert.equal(r.headers['transfer-encoding'], undefined, `${r.method} ${r.url} is not chunked`);
      assert.equal(r.headers.connection, 'keep-alive');
    }
    assert.equal(get.headers['content-length'], undefined);
    assert.equal(bare.headers['content-length'], '0');
    assert.equal(post.headers['content-length'], String(Buffer.byteLength(post.body)), 'bytes, not characters');
    assert.equal(post.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(post.body), { checkpointId: 1, note: 'é' });
    assert.equal(put.headers['content-length'], String(Buffer.byteLength(put.body)));
  });

  it('accepts the bare object of envelope=false and sends JSON bodies', async () => {
    fake = await fakeVirtuoso([json(200, { testStep: { id: 55 } })]);
    const out = await client(fake.url).item<{ testStep: { id: number } }>('POST', '/teststeps', { query: { envelope: false }, body: { checkpointId: 1, stepIndex: 0, parsedStep: { action: 'CLICK' } } });
    assert.equal(out.testStep.id, 55);
    assert.equal(fake.seen[0].headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(fake.seen[0].body), { checkpointId: 1, stepIndex: 0, parsedStep: { action: 'CLICK' } });
  });

  it('turns {success, map} into entries ordered by numeric id', async () => {
    fake = await fakeVirtuoso([json(200, { success: true, map: { '10': { n: 'b' }, '9': { n: 'a' } }, total: 2 })]);
    const list = await client(fake.url).list<{ n: string }>('GET', '/projects', { query: { organizationId: 2242 } });
    assert.deepEqual(list, [{ id: '9', value: { n: 'a' } }, { id: '10', value: { n: 'b' } }]);
  });

  it("types Virtuoso's error codes and maps them once into the taxonomy", async () => {
    const cases: [number, string, string, number][] = [
      [404, '1403', 'Project not found', 404],
      [404, '2500', 'Checkpoint not found', 404],
      [400, '1501', 'A project with the specified name already exists', 409],
      [400, '2605', 'Invalid test step command', 422],
      [401, '401', 'Unauthorized', 500],
    ];
    for (const [status, code, message, mapped] of cases) {
      fake = await fakeVirtuoso([json(status, { success: false, error: { code, message } })]);
      const err = await client(fake.url).call('POST', '/projects', { body: {} }).catch((e) => e);
      assert.ok(err instanceof VirtuosoApiError, String(err));
      assert.equal(err.code, code);
      assert.equal(err.retryable, false);
      assert.equal(virtuosoToAppError(err).status, mapped, `${code} → ${mapped}`);
      assert.equal(fake.seen.length, 1, 'a permanent error is not retried');
      await fake.close();
      fake = undefined;
    }
  });

  it('retries 429 honouring Retry-After, for a POST too (nothing was processed)', async () => {
    fake = await fakeVirtuoso([json(429, { success: false, error: { code: '429', message: 'slow down' } }, { 'retry-after': '1' }), json(201, { success: true, item: { id: 1 } })]);
    const started = Date.now();
    const item = await client(fake.url).item<{ id: number }>('POST', '/projects', { body: { name: 'x' } });
    assert.equal(item.id, 1);
    assert.equal(fake.seen.length, 2);
    assert.ok(Date.now() - started >= 950, 'waited for Retry-After');
  });

  it('retries 5xx for GET, but never sends a POST twice after a 5xx (it may have been processed)', async () => {
    fake = await fakeVirtuoso([json(503, {}), json(502, {}), json(200, { success: true, item: { ok: true } })]);
    assert.deepEqual(await client(fake.url).item('GET', '/goals/1'), { ok: true });
    assert.equal(fake.seen.length, 3);
    await fake.close();

    fake = await fakeVirtuoso([json(503, {}), json(201, { success: true, item: { id: 2 } })]);
    const err = await client(fake.url).call('POST', '/teststeps', { body: {} }).catch((e) => e);
    assert.ok(err instanceof VirtuosoApiError && err.retryable && err.status === 503);
    assert.equal(fake.seen.length, 1);
    assert.equal(virtuosoToAppError(err).status, 503);
  });

  it('gives every attempt a timeout and the whole call a deadline', async () => {
    fake = await fakeVirtuoso([hang]);
    const started = Date.now();
    const err = await client(fake.url, { attemptTimeoutMs: 200, deadlineMs: 700 }).call('GET', '/goals/1').catch((e) => e);
    assert.ok(err instanceof VirtuosoApiError && err.code === 'timeout' && err.retryable, String(err));
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
    assert.ok(fake.seen.length >= 2, 'timed-out GETs are retried inside the deadline');
    await fake.close();

    fake = await fakeVirtuoso([hang]);
    const post = (await client(fake.url, { attemptTimeoutMs: 200, deadlineMs: 2000 }).call('POST', '/teststeps', { body: {} }).catch((e) => e)) as VirtuosoApiError;
    assert.equal(post.code, 'timeout');
    assert.equal(fake.seen.length, 1, 'a timed-out POST is left to the caller to check');
  });

  it('retries a refused connection, even for a POST (nothing was sent)', async () => {
    const closed = await freePort(); // nothing listens there
    const err = await client(`http://127.0.0.1:${closed}/api`, { deadlineMs: 300, maxAttempts: 3 }).call('POST', '/projects', { body: {} }).catch((e) => e);
    assert.ok(err instanceof VirtuosoApiError && err.code === 'refused' && err.retryable, String(err));
  });
});
