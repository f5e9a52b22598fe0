/**
 * Hostile input (issue 11 §2), each case with the documented answer, its time bound and what must
 * not have happened: the functions served by the Functions Framework's own server as in
 * production, against the real emulators, Redis and the Virtuoso sandbox.
 */
import assert from 'node:assert/strict';
import '../../functions/commands';
import '../../functions/test-runs';
import '../../functions/webhook';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { collections, db } from '../../shared/firestore';
import { httpFunction, receiveTimeoutOf, HEADERS_TIMEOUT_MS } from '../../shared/http';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { timed } from '../helpers/faults';
import { rawExchange, request, serve, type JsonResponse, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** A function that takes its time over nothing: the receive timeout's subject (1.5 s here). */
httpFunction('slowBodyProbe', { methods: ['POST'], receiveTimeoutMs: 1500 }, ({ rawBody }) => ({ status: 200, body: { bytes: rawBody.length } }));

/** The answer is the error body the README documents: JSON, a code, never HTML. */
function assertJsonError(res: Pick<JsonResponse, 'status' | 'headers' | 'text'>, status: number, code: string): void {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal((JSON.parse(res.text) as Json).error.code, code, res.text);
}

describe('faults: hostile input', function () {
  this.timeout(60_000);
  useStack();
  let webhook: Served;
  let commands: Served;
  let testRuns: Served;
  let probe: Served;
  let sandbox: Sandbox;
  let key: string;

  before(async () => {
    [webhook, commands, testRuns, probe] = await Promise.all([serve('webhook'), serve('commands'), serve('testRuns'), serve('slowBodyProbe')]);
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
  });
  after(async () => {
    await Promise.all([webhook.close(), commands.close(), testRuns.close(), probe.close(), sandbox.close()]);
  });
  beforeEach(async () => {
    clearKeyCache();
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands', 'test-runs'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const auth = () => ({ authorization: `Bearer ${key}` });
  const post = (served: Served, path: string, body: string, contentType = 'application/json', headers: Record<string, string> = {}) =>
    timed(() => request<Json>(`${served.url}${path}`, { method: 'POST', headers: { ...auth(), 'content-type': contentType, ...headers }, body }));

  describe('deep nesting', () => {
    it('a validly signed webhook nested 10,000 deep is a 400 at once: not recorded, not published, not retried', async () => {
      const body = `{"event":"EXECUTION","status":"FINISHED","jobId":1,"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
      const { value: res, ms } = await timed(() =>
        request(webhook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, 'new-virtuoso-secret') }, body }),
      );
      assertJsonError(res, 400, 'bad_request');
      assert.match(res.body.error.message, /nested deeper than 64/);
      assert.ok(ms < 2000, `${ms} ms`);
      assert.equal((await db().collection(collections.webhookDeliveries).get()).size, 0, 'nothing recorded');
      assert.deepEqual(await pull('webhook-events-archive'), [], 'nothing published');
    });

    it('deep JSON to the commands and test-runs APIs is a 400 before anything parses it', async () => {
      const deep = `{"command":"list-projects","args":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
      const a = await post(commands, '/commands', deep);
      assertJsonError(a.value, 400, 'bad_request');
      const b = await post(testRuns, '/test-runs', `{"definition":${'['.repeat(100_000)}}`);
      assertJsonError(b.value, 400, 'bad_request');
      assert.match(b.value.body.error.message, /nested deeper than 64/, 'refused by the guard, not by a parser');
      assert.ok(a.ms < 2000 && b.ms < 2000, `${a.ms} / ${b.ms} ms`);
    });

    it('200 KB of 100,000 nested [ in YAML is refused in milliseconds, and the instance keeps answering meanwhile', async () => {
      const list = timed(() => request(`${testRuns.url}/test-runs`, { headers: auth() }));
      const [deep, blocks, textDefinition, other] = await Promise.all([
        post(testRuns, '/test-runs', '['.repeat(100_000), 'application/yaml'),
        post(testRuns, '/test-runs', '- '.repeat(100_000) + 'x', 'application/yaml'),
        post(testRuns, '/test-runs', JSON.stringify({ definition: '['.repeat(100_000) })),
        list,
      ]);
      for (const { value } of [deep, blocks, textDefinition]) {
        assertJsonError(value, 400, 'bad_request');
        assert.match(value.body.error.message, /nested too deeply/);
      }
      assert.equal(other.value.status, 200, other.value.text);
      for (const { ms } of [deep, blocks, textDefinition, other]) assert.ok(ms < 2000, `${ms} ms`);
      assert.equal(sandbox.faults.received.length, 0, 'nothing reached Virtuoso');
      assert.equal((await db().collection(collections.testRuns).get()).size, 0, 'no run stored');
    });
  });

  describe('ids, page tokens and limits', () => {
    it('a 1,600-character id is a 404 at once, wherever an id goes', async () => {
      const long = 'x'.repeat(1600);
      for (const [served, path] of [[commands, `/commands/${long}`], [commands, `/sessions/${long}`], [testRuns, `/test-runs/${long}`], [testRuns, `/test-runs/${long}/report`]] as const) {
        const { value: res, ms } = await timed(() => request(`${served.url}${path}`, { headers: auth() }));
        assertJsonError(res, 404, 'not_found');
        assert.ok(ms < 1000, `${path.slice(0, 20)}…: ${ms} ms`);
        assert.ok(res.text.length < 400, 'the id is not echoed whole');
      }
      const del = await request(`${commands.url}/sessions/${long}`, { method: 'DELETE', headers: auth() });
      assertJsonError(del, 404, 'not_found');
    });

    it('a pageToken the list never gave out is a 400 (garbage, base64 of garbage, a foreign shape); so is a bad limit', async () => {
      const forged = Buffer.from('not-a-time|not-an-id').toString('base64url');
      for (const query of ['pageToken=garbage', `pageToken=${forged}`, 'pageToken=%00%01', 'pageToken=' + 'A'.repeat(5000), 'limit=abc', 'limit=0', 'limit=101']) {
        const res = await request(`${commands.url}/commands?${query}`, { headers: auth() });
        assertJsonError(res, 400, 'bad_request');
      }
      // A real token still pages.
      for (const n of [1, 2]) assert.equal((await post(commands, '/commands', JSON.stringify({ command: `list-projects --limit ${n}` }))).value.status, 200);
      const first = await request<Json>(`${commands.url}/commands?limit=1`, { headers: auth() });
      const next = await request<Json>(`${commands.url}/commands?limit=1&pageToken=${first.body.nextPageToken}`, { headers: auth() });
      assert.equal(next.status, 200, next.text);
      assert.notEqual(next.body.items[0].id, first.body.items[0].id);
    });
  });

  describe('bodies', () => {
    it('text/plain to POST /test-runs is 415, as the README says (not read as YAML)', async () => {
      const { value: res } = await post(testRuns, '/test-runs', 'name: X\ngoals: []\n', 'text/plain');
      assertJsonError(res, 415, 'unsupported_media_type');
      assert.ok(!(res.body.error.details.allowed as string[]).includes('text/plain'));
    });

    it('request-level variables take a definition’s limits: 20,000 entries are a 422', async () => {
      const variables = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`v${i}`, 'x']));
      const { value: res } = await post(testRuns, '/test-runs?dryRun=true', JSON.stringify({ definition: 'name: X', variables }));
      assertJsonError(res, 422, 'unprocessable_entity');
      const long = await post(testRuns, '/test-runs?dryRun=true', JSON.stringify({ definition: 'name: X', variables: { ['v'.repeat(101)]: 'x' } }));
      assertJsonError(long.value, 422, 'unprocessable_entity');
    });

    it('an empty body gets one answer, whether chunked or with Content-Length: 0', async () => {
      for (const [served, path] of [[commands, '/commands'], [testRuns, '/test-runs'], [commands, '/sessions']] as const) {
        const sized = await request(`${served.url}${path}`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'content-length': '0' } });
        const chunked = await rawExchange(served.url, [
          `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
        ]);
        assert.equal(chunked.status, sized.status, `${path}: chunked ${chunked.body} vs sized ${sized.text}`);
        assert.equal((JSON.parse(chunked.body) as Json).error.code, (JSON.parse(sized.text) as Json).error.code);
        assert.equal(sized.status, 400, sized.text);
      }
      // Without a Content-Type, an empty chunked body is no body either; a non-empty one is a 415.
      const empty = await rawExchange(commands.url, [`POST /commands HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`]);
      assert.equal(empty.status, 400, empty.body);
      const some = await rawExchange(commands.url, [`POST /commands HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`]);
      assert.equal(some.status, 415, some.body);
    });
  });

  describe('what Node’s HTTP layer refuses, answered as JSON', () => {
    it('a body that trickles (Content-Length 1000, 10 bytes sent) is answered 408 and closed when the function’s receive timeout passes', async () => {
      const res = await rawExchange(probe.url, ['POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n', '{"a":"1234']);
      assert.equal(res.status, 408, res.body);
      assert.equal((JSON.parse(res.body) as Json).error.code, 'request_timeout');
      assert.ok(res.ms >= 1400 && res.ms < 5000, `${res.ms} ms (receive timeout 1.5 s, checked every second)`);
      // What each function allows: headers 10 s; the whole request 10 s plus its body limit at 64 KB/s.
      assert.equal(HEADERS_TIMEOUT_MS, 10_000);
      assert.equal(receiveTimeoutOf({ maxBodyBytes: 256 * 1024 }), 14_000);
      assert.equal(receiveTimeoutOf({ maxBodyBytes: 1024 * 1024 }), 26_000);
    });

    it('16 KB of headers → 431, two Content-Lengths → 400, a malformed method → 400: JSON bodies, connection closed', async () => {
      const big = await rawExchange(commands.url, [`GET /commands HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`]);
      assert.equal(big.status, 431, big.body);
      assert.equal((JSON.parse(big.body) as Json).error.code, 'request_header_fields_too_large');
      const twice = await rawExchange(webhook.url, ['POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}']);
      assert.equal(twice.status, 400, twice.body);
      assert.equal((JSON.parse(twice.body) as Json).error.code, 'bad_request');
      const method = await rawExchange(webhook.url, ['GE(T / HTTP/1.1\r\nHost: x\r\n\r\n']);
      assert.equal(method.status, 400, method.body);
      assert.match(method.headers['content-type'] ?? '', /^application\/json/);
      for (const r of [big, twice, method]) assert.equal(r.headers.connection, 'close');
    });
  });
});
