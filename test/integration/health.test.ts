import assert from 'node:assert/strict';
import '../../functions/health';
import { pubsub } from '../../shared/events';
import { topics } from '../../shared/infra';
import { request, serve, type Served } from '../helpers/http';
import { stopRedis, useStack } from '../helpers/stack';

const CACHE_MS = Number(process.env.HEALTH_CACHE_MS);
const afterCache = () => new Promise((r) => setTimeout(r, CACHE_MS + 50));

describe('health (integration: Firestore, Pub/Sub, Redis)', () => {
  useStack();
  let fn: Served;
  before(async () => (fn = await serve('health')));
  after(() => fn.close());
  beforeEach(afterCache);

  it('answers the liveness probe without touching dependencies', async () => {
    const res = await request(`${fn.url}/?probe=live`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok', probe: 'live', version: 'test', region: 'test-region', runtime: 'nodejs24' });
  });

  it('reports every dependency ok with its latency, version and region', async () => {
    const res = await request(fn.url);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'ok');
    assert.equal(res.body.version, 'test');
    assert.equal(res.body.region, 'test-region');
    for (const name of ['firestore', 'redis', 'pubsub']) {
      const check = res.body.checks[name];
      assert.equal(check.status, 'ok', `${name}: ${JSON.stringify(check)}`);
      assert.equal(typeof check.latencyMs, 'number');
      assert.ok(check.latencyMs >= 0);
    }
    assert.equal(res.body.checks.firestore.required, true);
    assert.equal(res.body.checks.redis.required, false);
  });

  it('reuses a deep report for a few seconds so a flood of checks runs the checks once', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => request(fn.url)));
    assert.ok(results.every((r) => r.status === 200));
    const checkedAt = new Set(results.map((r) => r.body.checkedAt));
    assert.equal(checkedAt.size, 1, 'all twenty share one round of checks');
    const sentAt = Date.now();
    const again = await request(fn.url);
    // Within the cache period of that round it is served from it (a loaded machine may take longer
    // than the period to answer the twenty: then it is a new round, which the next lines cover).
    if (sentAt - Date.parse([...checkedAt][0]) < CACHE_MS - 50) assert.equal(again.body.cached, true);
    else assert.notEqual(again.body.checkedAt, [...checkedAt][0]);
    await afterCache();
    const fresh = await request(fn.url);
    assert.equal(fresh.body.cached, false);
    assert.notEqual(fresh.body.checkedAt, again.body.checkedAt);
  });

  it('is degraded, not down, when Redis is unreachable (the cache is optional)', async () => {
    const restart = await stopRedis();
    try {
      const res = await request(fn.url);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.status, 'degraded');
      assert.equal(res.body.checks.redis.status, 'error');
      assert.ok(res.body.checks.redis.error);
      assert.equal(res.body.checks.firestore.status, 'ok');
    } finally {
      await restart();
    }
    // The client reconnects with a backoff: on a loaded machine that can take a few cached periods.
    let recovered = await request(fn.url);
    for (const until = Date.now() + 20_000; recovered.body.checks.redis.status !== 'ok' && Date.now() < until; ) {
      await afterCache();
      recovered = await request(fn.url);
    }
    assert.equal(recovered.body.checks.redis.status, 'ok', JSON.stringify(recovered.body.checks.redis));
    assert.equal(recovered.body.status, 'ok');
  });

  it('answers 503 with Retry-After when a required dependency fails', async () => {
    await pubsub().topic(topics.webhookEvents).delete();
    const res = await request(fn.url);
    assert.equal(res.status, 503, res.text);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.equal(res.body.status, 'down');
    assert.equal(res.body.checks.pubsub.status, 'error');
    assert.match(res.body.checks.pubsub.error, /webhook-events/);
  });

  it('rejects unknown probes and other methods with JSON errors', async () => {
    const bad = await request(`${fn.url}/?probe=sideways`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'bad_request');
    const post = await request(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});
