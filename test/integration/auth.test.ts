import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { authenticate, clearKeyCache, hashKey, newApiKey, rateLimit, revokeApiKey, storeApiKey } from '../../shared/auth';
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

  it('limits each user and endpoint per minute with 429, Retry-After and RateLimit-* headers', async () => {
    for (let i = 1; i <= 3; i++) {
      const r = await rateLimit('u1', 'commands', 3);
      assert.equal(r.remaining, 3 - i);
      assert.equal(r.headers['RateLimit-Limit'], '3');
    }
    await assert.rejects(rateLimit('u1', 'commands', 3), (e: AppError) => {
      assert.equal(e.status, 429);
      assert.ok(e.retryAfterSeconds! > 0 && e.retryAfterSeconds! <= 60);
      assert.equal(e.headers?.['RateLimit-Remaining'], '0');
      return true;
    });
    // Other users and other endpoints have their own windows.
    assert.equal((await rateLimit('u2', 'commands', 3)).remaining, 2);
    assert.equal((await rateLimit('u1', 'sessions', 3)).remaining, 2);
  });

  it('lets requests through when Redis is down (the limiter is best effort)', async () => {
    const restart = await stopRedis();
    try {
      const r = await rateLimit('u1', 'commands', 1);
      assert.equal(r.remaining, 1);
      await rateLimit('u1', 'commands', 1);
    } finally {
      await restart();
    }
  });
});
