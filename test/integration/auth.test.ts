import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { authenticate, clearKeyCache, hashKey, newApiKey, rateLimit, revokeApiKey, storeApiKey, tenantUsage } from '../../shared/auth';
import { db } from '../../shared/firestore';
import { stopRedis, useStack } from '../helpers/stack';

const fails = (status: number, code: string) => (e: unknown) => e instanceof AppError && e.status === status && e.code === code;

describe('API keys and rate limits (integration: Firestore emulator, Redis)', () => {
  useStack();
  beforeEach(clearKeyCache);

  it('stores only the SHA-256 of a key, and authenticates it from Bearer or X-API-Key', async () => {
    const { key, record } = newApiKey({ tenantId: 't1', userId: 'u1', scopes: ['commands'] });
    assert.match(key, /^vak_[A-Za-z0-9_-]{43}$/);
    await storeApiKey(record);
    const stored = (await db().collection('api_keys').doc(hashKey(key)).get()).data()!;
    assert.equal(JSON.stringify(stored).includes(key), false, 'the plaintext key is never stored');
    assert.equal(stored.keyHash, hashKey(key));

    const viaBearer = await authenticate({ authorization: `Bearer ${key}` }, 'commands');
    assert.deepEqual(viaBearer, { keyHash: hashKey(key), tenantId: 't1', userId: 'u1', scopes: ['commands'] });
    assert.deepEqual(await authenticate({ 'x-api-key': key }), viaBearer);
  });

  it('401 without a key, with an unknown or malformed one, and after revocation; 403 without the scope', async () => {
    const { key, record } = newApiKey({ tenantId: 't1', userId: 'u1', scopes: ['commands'] });
    await storeApiKey(record);
    await assert.rejects(authenticate({}), fails(401, 'unauthenticated'));
    await assert.rejects(authenticate({ authorization: `Bearer ${newApiKey({ tenantId: 't', userId: 'u', scopes: [] }).key}` }), fails(401, 'unauthenticated'));
    await assert.rejects(authenticate({ authorization: 'Bearer not-a-key' }), fails(401, 'unauthenticated'));
    await assert.rejects(authenticate({ authorization: `Basic ${key}` }), fails(401, 'unauthenticated'));
    await assert.rejects(authenticate({ authorization: `Bearer ${key}` }, 'test-runs'), fails(403, 'forbidden'));
    assert.equal(await revokeApiKey(hashKey(key)), true);
    await assert.rejects(authenticate({ authorization: `Bearer ${key}` }), fails(401, 'unauthenticated'));
  });

  const principal = (userId: string, limits: { perMinute?: number; perDay?: number }, keyHash = `key-of-${userId}`) => ({ keyHash, tenantId: 't', userId, scopes: [], limits });

  it('limits each user and endpoint per minute with 429, Retry-After and RateLimit-* headers', async () => {
    const u1 = principal('u1', { perMinute: 3 });
    for (let i = 1; i <= 3; i++) {
      const r = await rateLimit(u1, 'commands');
      assert.equal(r.remaining, 3 - i);
      assert.equal(r.headers['RateLimit-Limit'], '3');
      assert.equal(r.headers['RateLimit-Policy'], '3;w=60;name="minute", 100000;w=86400;name="day"');
    }
    await assert.rejects(rateLimit(u1, 'commands'), (e: AppError) => {
      assert.equal(e.status, 429);
      assert.ok(e.retryAfterSeconds! > 0 && e.retryAfterSeconds! <= 60);
      assert.equal(e.headers?.['RateLimit-Remaining'], '0');
      assert.deepEqual(e.details, { policy: 'minute', limit: 3, windowSeconds: 60 });
      return true;
    });
    // Other users and other endpoints have their own windows.
    assert.equal((await rateLimit(principal('u2', { perMinute: 3 }), 'commands')).remaining, 2);
    assert.equal((await rateLimit(u1, 'sessions')).remaining, 2);
  });

  it('counts a daily quota per key across endpoints: 429 naming the day policy, reset at UTC midnight', async () => {
    const q = principal('q1', { perMinute: 100, perDay: 3 });
    const first = await rateLimit(q, 'commands');
    // The day binds once it has fewer requests left than the minute.
    assert.deepEqual([first.limit, first.remaining], [3, 2]);
    assert.equal(first.headers['RateLimit-Policy'], '100;w=60;name="minute", 3;w=86400;name="day"');
    await rateLimit(q, 'sessions');
    await rateLimit(q, 'test-runs');
    const secondsToMidnight = 86400 - Math.floor((Date.now() / 1000) % 86400);
    await assert.rejects(rateLimit(q, 'commands'), (e: AppError) => {
      assert.equal(e.status, 429);
      assert.match(e.message, /^Daily quota of 3 requests exceeded for this API key/);
      assert.deepEqual(e.details, { policy: 'day', limit: 3, windowSeconds: 86400 });
      assert.ok(Math.abs(e.retryAfterSeconds! - secondsToMidnight) <= 2, String(e.retryAfterSeconds));
      return true;
    });
    // Another key of the same user has its own day.
    assert.equal((await rateLimit(principal('q1', { perMinute: 100, perDay: 3 }, 'other-key'), 'commands')).remaining, 2);
  });

  it("reads a tenant's usage per key and UTC day, its limits, and no other tenant's keys", async () => {
    const a = newApiKey({ tenantId: 'usage-t', userId: 'ann', scopes: ['commands'], name: 'ci', limits: { perDay: 50 } });
    const b = newApiKey({ tenantId: 'usage-t', userId: 'bob', scopes: ['admin'] });
    const other = newApiKey({ tenantId: 'usage-other', userId: 'eve', scopes: ['commands'] });
    await Promise.all([a, b, other].map((k) => storeApiKey(k.record)));
    const asPrincipal = (k: typeof a) => ({ keyHash: k.record.keyHash, tenantId: k.record.tenantId, userId: k.record.userId, scopes: k.record.scopes, ...(k.record.limits ? { limits: k.record.limits } : {}) });
    for (let i = 0; i < 3; i++) await rateLimit(asPrincipal(a), 'commands');
    await rateLimit(asPrincipal(other), 'commands');
    const usage = await tenantUsage('usage-t', 2);
    assert.deepEqual(usage.map((u) => u.userId), ['ann', 'bob']);
    const [ann, bob] = usage;
    assert.equal(ann.keyId, a.record.keyHash.slice(0, 12));
    assert.deepEqual(ann.limits, { perMinute: 1000, perDay: 50 });
    assert.equal(ann.name, 'ci');
    assert.deepEqual(ann.days.map((d) => d.requests), [3, 0]);
    assert.equal(ann.days[0].day, new Date().toISOString().slice(0, 10).replace(/-/g, ''));
    assert.deepEqual(bob.days.map((d) => d.requests), [0, 0]);
  });

  it('lets requests through when Redis is down (the limiter is best effort)', async () => {
    const restart = await stopRedis();
    try {
      const p = principal('u1', { perMinute: 1 });
      const r = await rateLimit(p, 'commands');
      assert.equal(r.remaining, 1);
      await rateLimit(p, 'commands');
    } finally {
      await restart();
    }
  });
});
