import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import '../../functions/webhook';
import { signStandard, signVirtuoso } from '../../shared/webhooks/signature';
import { claimDelivery, getDelivery, listDeliveries, markPublished, replayDelivery } from '../../shared/webhooks/deliveries';
import { db } from '../../shared/firestore';
import { pubsub } from '../../shared/events';
import { topics } from '../../shared/infra';
import { request, serve, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';
import { provisionPubsub } from '../../scripts/local-stack/provision';
import { TEST_ENV } from '../setup';

const ARCHIVE = 'webhook-events-archive';
const NEW_SECRET = 'new-virtuoso-secret';
const OLD_SECRET = 'old-virtuoso-secret';
const STANDARD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const finished = (jobId: number, extra: object = {}) =>
  JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId, projectId: 4711, goalId: 99, ...extra });

describe('webhook (integration: Functions Framework + Firestore + Pub/Sub emulators)', () => {
  useStack();
  let fn: Served;
  before(async () => (fn = await serve('webhook')));
  after(() => fn.close());

  const postVirtuoso = (body: string, secret = NEW_SECRET, headers: Record<string, string> = {}) =>
    request(fn.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, secret), ...headers },
      body,
    });

  const postStandard = (body: string, id: string, ts = Math.floor(Date.now() / 1000), headers: Record<string, string> = {}) =>
    request(fn.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': signStandard(id, ts, body, STANDARD_SECRET),
        ...headers,
      },
      body,
    });

  it('accepts a signed Virtuoso JSON webhook, publishes it on webhook-events and answers 202 after the publish', async () => {
    const body = finished(123);
    const res = await postVirtuoso(body);
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.status, 'accepted');
    assert.match(res.body.messageId, /\S+/);
    const key = createHash('sha256').update('body:').update(body).digest('hex');
    assert.equal(res.body.deliveryId, key);

    const messages = await pull(ARCHIVE);
    assert.equal(messages.length, 1);
    const [m] = messages;
    assert.equal(m.messageId, res.body.messageId);
    assert.equal(m.attributes.eventType, 'webhook.received');
    assert.equal(m.attributes.source, 'virtuoso');
    assert.equal(m.attributes.status, 'FINISHED');
    assert.equal(m.attributes.executionId, '123');
    assert.equal(m.json.eventId, key);
    assert.equal(m.json.eventType, 'webhook.received');
    assert.deepEqual(m.json.metadata, { source: 'webhook', version: '1' });
    assert.equal(m.json.data.executionId, '123');
    assert.equal(m.json.data.projectId, '4711');
    assert.deepEqual(m.json.data.payload, JSON.parse(body));

    const record = await getDelivery(key);
    assert.equal(record?.status, 'published');
    assert.equal(record?.messageId, res.body.messageId);
    assert.equal(record?.scheme, 'virtuoso');
    assert.equal(record?.rawBody.toString(), body);
    assert.equal(m.json.data.receivedAt, record?.receivedAt.toISOString());
    assert.ok(record!.expiresAt.getTime() - record!.receivedAt.getTime() >= 72 * 3600_000);
  });

  it('accepts the previous secret during a rotation', async () => {
    const res = await postVirtuoso(finished(1), OLD_SECRET);
    assert.equal(res.status, 202, res.text);
  });

  it('accepts form-encoded deliveries with the JSON in the payload field', async () => {
    const json = finished(77, { note: 'a & b = c' });
    const body = new URLSearchParams({ payload: json }).toString();
    const res = await request(fn.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-virtuoso-signature': signVirtuoso(body, NEW_SECRET) },
      body,
    });
    assert.equal(res.status, 202, res.text);
    const [m] = await pull(ARCHIVE);
    assert.deepEqual(m.json.data.payload, JSON.parse(json));
  });

  it('acknowledges a duplicate delivery with 200 and does not publish it again', async () => {
    const body = finished(5);
    const first = await postVirtuoso(body);
    assert.equal(first.status, 202);
    const second = await postVirtuoso(body);
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.status, 'duplicate');
    assert.equal(second.body.messageId, first.body.messageId);
    assert.equal((await pull(ARCHIVE)).length, 1);
    assert.equal((await getDelivery(first.body.deliveryId))?.duplicates, 1);
  });

  it('publishes concurrent copies of one delivery exactly once', async () => {
    const body = finished(6);
    const results = await Promise.all(Array.from({ length: 8 }, () => postVirtuoso(body)));
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 202).length, 1, JSON.stringify(statuses));
    assert.ok(statuses.every((s) => s === 202 || s === 200 || s === 503), JSON.stringify(statuses));
    for (const r of results.filter((x) => x.status === 503)) assert.ok(r.headers.get('retry-after'));
    assert.equal((await pull(ARCHIVE)).length, 1);
  });

  it('dedupes Standard Webhooks deliveries on webhook-id, even when re-signed later', async () => {
    const body = JSON.stringify({ type: 'execution.finished', data: { jobId: 9 } });
    const a = await postStandard(body, 'msg_1', Math.floor(Date.now() / 1000) - 10);
    assert.equal(a.status, 202, a.text);
    const b = await postStandard(body, 'msg_1');
    assert.equal(b.status, 200);
    const c = await postStandard(body, 'msg_2');
    assert.equal(c.status, 202);
    const messages = await pull(ARCHIVE);
    assert.equal(messages.length, 2);
    assert.equal(messages[0].attributes.source, 'standard-webhooks');
  });

  describe('rejections (JSON errors, nothing published)', () => {
    afterEach(async () => assert.equal((await pull(ARCHIVE)).length, 0, 'nothing may be published'));

    const expectError = (res: { status: number; headers: Headers; body: { error?: { code: string; message: string } }; text: string }, status: number, code: string) => {
      assert.equal(res.status, status, res.text);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(res.body.error?.code, code);
      assert.ok(res.body.error?.message);
      assert.doesNotMatch(res.text, /at .*\.(ts|js):\d+|<html|<!DOCTYPE/i);
    };

    it('401 without a signature', async () => {
      const res = await request(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: finished(1) });
      expectError(res, 401, 'unauthenticated');
    });

    it('401 with a wrong signature, a malformed one, or the bare hex without sha1=', async () => {
      const body = finished(1);
      expectError(await postVirtuoso(body, 'not-the-secret'), 401, 'unauthenticated');
      expectError(await postVirtuoso(body, NEW_SECRET, { 'x-virtuoso-signature': 'sha1=abc' }), 401, 'unauthenticated');
      const bare = signVirtuoso(body, NEW_SECRET).slice('sha1='.length);
      expectError(await postVirtuoso(body, NEW_SECRET, { 'x-virtuoso-signature': bare }), 401, 'unauthenticated');
    });

    it('401 when the body was changed after signing', async () => {
      const body = finished(1);
      const res = await request(fn.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, NEW_SECRET) },
        body: body.replace('FINISHED', 'FAILED'),
      });
      expectError(res, 401, 'unauthenticated');
    });

    it('401 for Standard Webhooks timestamps outside ±5 minutes, bad timestamps and missing headers', async () => {
      const body = '{"a":1}';
      const now = Math.floor(Date.now() / 1000);
      expectError(await postStandard(body, 'm1', now - 301), 401, 'unauthenticated');
      expectError(await postStandard(body, 'm1', now + 301), 401, 'unauthenticated');
      expectError(await postStandard(body, 'm1', now, { 'webhook-timestamp': 'yesterday' }), 401, 'unauthenticated');
      expectError(await postStandard(body, 'm1', now, { 'webhook-signature': 'v1,' }), 401, 'unauthenticated');
      const res = await request(fn.url, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-signature': 'v1,abc' }, body });
      expectError(res, 401, 'unauthenticated');
    });

    it('415 for an unknown content type', async () => {
      const body = '<xml/>';
      const res = await request(fn.url, {
        method: 'POST',
        headers: { 'content-type': 'application/xml', 'x-virtuoso-signature': signVirtuoso(body, NEW_SECRET) },
        body,
      });
      expectError(res, 415, 'unsupported_media_type');
    });

    it('415 for a compressed body (it could inflate past the limit) and for a body without Content-Type', async () => {
      const body = finished(1);
      const { gzipSync } = await import('node:zlib');
      const gz = await request(fn.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-virtuoso-signature': signVirtuoso(body, NEW_SECRET) },
        body: gzipSync(body),
      });
      expectError(gz, 415, 'unsupported_media_type');
      const bare = await request(fn.url, { method: 'POST', headers: { 'x-virtuoso-signature': signVirtuoso(body, NEW_SECRET) }, body: Buffer.from(body) });
      expectError(bare, 415, 'unsupported_media_type');
    });

    it("answers the framework's own routes (favicon.ico, robots.txt) with JSON too", async () => {
      expectError(await request(`${fn.url}/favicon.ico`), 404, 'not_found');
      expectError(await request(`${fn.url}/robots.txt`, { method: 'POST' }), 404, 'not_found');
    });

    it("415 as JSON when the framework's body parser refuses the charset, before the function runs", async () => {
      const body = finished(1);
      const res = await request(fn.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=klingon', 'x-virtuoso-signature': signVirtuoso(body, NEW_SECRET) },
        body,
      });
      expectError(res, 415, 'unsupported_media_type');
      assert.ok(res.headers.get('x-request-id'));
    });

    it('413 for a body over 256 KB, announced or chunked', async () => {
      const big = JSON.stringify({ blob: 'x'.repeat(256 * 1024) });
      expectError(await postVirtuoso(big), 413, 'payload_too_large');
      const chunked = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(big));
          c.close();
        },
      });
      const res = await request(fn.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(big, NEW_SECRET) },
        body: chunked,
        duplex: 'half',
      } as RequestInit);
      expectError(res, 413, 'payload_too_large');
    });

    it('400 for a signed body that is not JSON (JSON or form)', async () => {
      expectError(await postVirtuoso('{"status": FIN'), 400, 'invalid_json');
      const form = new URLSearchParams({ payload: '{not json' }).toString();
      const res = await request(fn.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-virtuoso-signature': signVirtuoso(form, NEW_SECRET) },
        body: form,
      });
      expectError(res, 400, 'invalid_json');
    });

    it('422 for JSON that is not an object', async () => {
      expectError(await postVirtuoso('[1,2,3]'), 422, 'unprocessable_entity');
      expectError(await postVirtuoso('"FINISHED"'), 422, 'unprocessable_entity');
      expectError(await postVirtuoso('42'), 422, 'unprocessable_entity');
    });

    it('405 with Allow for other methods', async () => {
      const res = await request(fn.url, { method: 'GET' });
      expectError(res, 405, 'method_not_allowed');
      assert.equal(res.headers.get('allow'), 'POST');
    });
  });

  it('answers 503 with Retry-After when the publish fails, and lets the retry through', async () => {
    const body = finished(404);
    await pubsub().topic(topics.webhookEvents).delete();
    const failed = await postVirtuoso(body);
    assert.equal(failed.status, 503, failed.text);
    assert.equal(failed.body.error.code, 'unavailable');
    assert.ok(Number(failed.headers.get('retry-after')) > 0);
    const record = await getDelivery(createHash('sha256').update('body:').update(body).digest('hex'));
    assert.equal(record?.status, 'failed', 'a failed publish must not mark the delivery as seen');

    // The topic comes back; its subscriptions were detached with it and are made anew.
    await pubsub().subscription(ARCHIVE).delete();
    await provisionPubsub(pubsub(), TEST_ENV.GOOGLE_CLOUD_PROJECT);
    const retried = await postVirtuoso(body);
    assert.equal(retried.status, 202, retried.text);
    const messages = await pull(ARCHIVE);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].json.data.executionId, '404');
    assert.equal((await getDelivery(retried.body.deliveryId))?.attempts, 2);
  });

  describe('claims and leases', () => {
    const keyOf = (body: string) => createHash('sha256').update('body:').update(body).digest('hex');

    it('takes over a claim whose lease lapsed (a crashed instance) and publishes once', async () => {
      const body = finished(901);
      const key = keyOf(body);
      const past = new Date(Date.now() - 1000);
      await db().collection('webhook_deliveries').doc(key).set({
        key, scheme: 'virtuoso', status: 'publishing', receivedAt: past, expiresAt: new Date(Date.now() + 3600_000),
        leaseUntil: past, attempts: 1, duplicates: 0, replays: 0, summary: {}, contentType: 'application/json', rawBody: Buffer.from(body),
      });
      const res = await postVirtuoso(body);
      assert.equal(res.status, 202, res.text);
      const record = await getDelivery(key);
      assert.equal(record?.status, 'published');
      assert.equal(record?.attempts, 2);
      assert.equal((await pull(ARCHIVE)).length, 1);
    });

    it('answers 503 with Retry-After while another instance holds a live claim', async () => {
      const body = finished(902);
      const key = keyOf(body);
      await db().collection('webhook_deliveries').doc(key).set({
        key, scheme: 'virtuoso', status: 'publishing', receivedAt: new Date(), expiresAt: new Date(Date.now() + 3600_000),
        leaseUntil: new Date(Date.now() + 20_000), attempts: 1, duplicates: 0, replays: 0, summary: {}, contentType: 'application/json', rawBody: Buffer.from(body),
      });
      const res = await postVirtuoso(body);
      assert.equal(res.status, 503, res.text);
      const retryAfter = Number(res.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 20, String(retryAfter));
      assert.equal((await pull(ARCHIVE)).length, 0);
    });

    it('publishes again once the dedupe window has passed, with a fresh record', async () => {
      const body = finished(903);
      const first = await postVirtuoso(body);
      assert.equal(first.status, 202);
      await db().collection('webhook_deliveries').doc(first.body.deliveryId).update({ dedupeUntil: new Date(Date.now() - 1000), replays: 3 });
      const again = await postVirtuoso(body);
      assert.equal(again.status, 202, again.text);
      assert.notEqual(again.body.messageId, first.body.messageId);
      const record = await getDelivery(first.body.deliveryId);
      assert.equal(record?.messageId, again.body.messageId);
      assert.equal(record?.replays, 0);
      assert.ok(record!.expiresAt.getTime() > Date.now() + 71 * 3600_000);
      assert.ok(record!.dedupeUntil!.getTime() > Date.now() + 71 * 3600_000);
      assert.deepEqual(record!.history.map((h) => h.outcome), ['claimed', 'published'], 'the fresh record starts its own history');
      assert.equal((await pull(ARCHIVE)).length, 2);
    });

    it('never lets an instance whose claim was taken over overwrite the new owner', async () => {
      const body = finished(904);
      const key = keyOf(body);
      const claim = await claimDelivery({ key, verified: { scheme: 'virtuoso' }, summary: {}, contentType: 'application/json', rawBody: Buffer.from(body) });
      assert.equal(claim.outcome, 'claimed');
      // Another instance takes the claim over (after the lease) and publishes.
      await db().collection('webhook_deliveries').doc(key).update({ status: 'published', messageId: 'theirs' });
      const ours = claim.outcome === 'claimed' ? await markPublished(key, claim.version, 'ours', key) : true;
      assert.equal(ours, false);
      assert.equal((await getDelivery(key))?.messageId, 'theirs');
    });
  });

  it('lists deliveries newest first and replays one as a new event', async () => {
    const a = await postVirtuoso(finished(1));
    const b = await postVirtuoso(finished(2));
    await pull(ARCHIVE);
    const listed = await listDeliveries({}, 10);
    assert.deepEqual(listed.map((d) => d.key), [b.body.deliveryId, a.body.deliveryId]);
    assert.deepEqual((await listDeliveries({ status: 'published' })).length, 2);

    const replayed = await replayDelivery(a.body.deliveryId);
    const [m] = await pull(ARCHIVE);
    assert.equal(m.messageId, replayed.messageId);
    assert.equal(m.attributes.replay, '1');
    assert.equal(m.json.eventId, `${a.body.deliveryId}.replay-1`);
    assert.equal(m.json.data.executionId, '1');
    assert.equal((await getDelivery(a.body.deliveryId))?.replays, 1);
  });
});
