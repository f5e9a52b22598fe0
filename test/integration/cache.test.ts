import assert from 'node:assert/strict';
import { cacheDelete, cacheGet, cacheKeys, cacheSet, cacheTtlSeconds, redisPing, withRedis } from '../../shared/cache';
import { stopRedis, useStack } from '../helpers/stack';

describe('cache (integration: a real redis-server)', () => {
  useStack();

  it('uses the seed key names and TTLs', () => {
    assert.equal(cacheKeys.session('s1'), 'session:s1');
    assert.equal(cacheKeys.apiResponse('list-projects', 'ab12'), 'api:response:list-projects:ab12');
    assert.equal(cacheKeys.commandResult('c1'), 'command:result:c1');
    assert.equal(cacheKeys.rateLimit('u1', 'commands'), 'rate_limit:u1:commands');
    // Ours beside the seed's: a key's requests per UTC day (its daily quota and its usage), kept 35 days.
    assert.equal(cacheKeys.quota('ab12', '20261207'), 'quota:ab12:20261207');
    assert.deepEqual(cacheTtlSeconds, { session: 3600, apiResponse: 300, commandResult: 1800, rateLimit: 60, quota: 35 * 24 * 3600 });
  });

  it('stores JSON values with their TTL, reads them back and deletes them', async () => {
    const key = cacheKeys.commandResult('c-42');
    await cacheSet(key, { ok: true, n: 42 }, cacheTtlSeconds.commandResult);
    assert.deepEqual(await cacheGet(key), { ok: true, n: 42 });
    const ttl = await withRedis((c) => c.ttl(key));
    assert.ok(ttl > 1790 && ttl <= 1800, `ttl ${ttl}`);
    await cacheDelete(key);
    assert.equal(await cacheGet(key), undefined);
  });

  it('goes on uncached, quickly, when Redis is down, and recovers when it is back', async () => {
    const restart = await stopRedis();
    try {
      const started = Date.now();
      assert.equal(await cacheGet('session:x'), undefined);
      await cacheSet('session:x', { a: 1 }, 60); // must not throw
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      await assert.rejects(redisPing());
    } finally {
      await restart();
    }
    // The client reconnects by itself (backoff capped at 2 s).
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await redisPing();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await cacheSet('session:x', { a: 2 }, 60);
    assert.deepEqual(await cacheGet('session:x'), { a: 2 });
  });
});
