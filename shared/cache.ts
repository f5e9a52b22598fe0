/**
 * The Redis cache (Memorystore). Optional by design: when Redis is not configured, down or slow,
 * reads miss, writes are skipped, a warning is logged (at most one per WARN_INTERVAL_MS) and the
 * request goes on uncached. Every command has a deadline (REDIS_TIMEOUT_MS), the client never
 * queues commands while disconnected, and a circuit breaker skips Redis for a second or a few
 * after three failures in a row (then probes it with one command), so a dead or frozen Redis
 * costs requests almost nothing, not a deadline per command.
 */
import type { createClient } from 'redis';
import { CircuitBreaker } from './breaker';
import { getConfig, redisUrlOf } from './config';
import { withDeadline } from './deadline';
import { log } from './log';

/** Key names and TTLs from the seed. */
export const cacheKeys = {
  session: (id: string) => `session:${id}`,
  apiResponse: (endpoint: string, paramsHash: string) => `api:response:${endpoint}:${paramsHash}`,
  commandResult: (commandId: string) => `command:result:${commandId}`,
  rateLimit: (userId: string, endpoint: string) => `rate_limit:${userId}:${endpoint}`,
  /** A key's requests on a UTC day (`20261207`): its daily quota, and its usage for its tenant's admin. */
  quota: (keyHash: string, day: string) => `quota:${keyHash}:${day}`,
} as const;

export const cacheTtlSeconds = {
  session: 3600,
  apiResponse: 300,
  commandResult: 1800,
  rateLimit: 60,
  /** Daily counts are kept a month (GET /usage reads them). */
  quota: 35 * 24 * 3600,
} as const;

type RedisClient = ReturnType<typeof createClient>;
let client: RedisClient | undefined;
let connecting: Promise<RedisClient> | undefined;

export function cacheConfigured(): boolean {
  return redisUrlOf(getConfig()) !== undefined;
}

async function connected(): Promise<RedisClient> {
  if (client?.isReady) return client;
  if (!connecting) {
    const url = redisUrlOf(getConfig());
    if (!url) throw new Error('Redis is not configured');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const redis = require('redis') as typeof import('redis');
    const timeout = getConfig().redisTimeoutMs;
    const c = redis.createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: Math.max(timeout, 1000), reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    });
    c.on('error', (err: Error) => warn('redis connection error', err));
    connecting = c.connect().then(
      () => (client = c as RedisClient),
      (err) => {
        connecting = undefined;
        void c.destroy?.();
        throw err;
      },
    );
  }
  const c = await connecting;
  if (!c.isReady) throw new Error('Redis is not connected');
  return c;
}

class RedisTimeoutError extends Error {}
const breaker = new CircuitBreaker('Redis', { failuresToOpen: 3, openMs: 1000, maxOpenMs: 8000 });

/**
 * Runs one Redis operation under the configured deadline, unless the breaker is open (then it
 * fails at once). Throws on failure: for callers that must know.
 */
export async function withRedis<T>(op: (c: RedisClient) => Promise<T>, timeout = getConfig().redisTimeoutMs): Promise<T> {
  return breaker.run(() => withDeadline(connected().then(op), timeout, () => new RedisTimeoutError(`Redis did not answer within ${timeout} ms`)));
}

/** The breaker's state: `closed` (Redis used), `open` (skipped), `half-open` (being probed). */
export const cacheCircuit = (): string => breaker.state;

export async function cacheGet<T>(key: string): Promise<T | undefined> {
  if (!cacheConfigured()) return undefined;
  try {
    const raw = await withRedis((c) => c.get(key));
    return raw == null ? undefined : (JSON.parse(String(raw)) as T);
  } catch (err) {
    warn('cache read failed; continuing uncached', err, { key });
    return undefined;
  }
}

export async function cacheSet(key: string, value: unknown, ttlSeconds: number): Promise<void> {
  if (!cacheConfigured()) return;
  try {
    await withRedis((c) => c.set(key, JSON.stringify(value), { EX: ttlSeconds }));
  } catch (err) {
    warn('cache write failed; continuing uncached', err, { key });
  }
}

export async function cacheDelete(key: string): Promise<void> {
  if (!cacheConfigured()) return;
  try {
    await withRedis((c) => c.del(key));
  } catch (err) {
    warn('cache delete failed; continuing uncached', err, { key });
  }
}

/** PING, for the health check (past the breaker: it reports Redis itself). Throws when Redis does not answer within `timeoutMs`. */
export async function redisPing(timeoutMs = getConfig().redisTimeoutMs): Promise<void> {
  const reply = await withDeadline(connected().then((c) => c.ping()), timeoutMs, () => new RedisTimeoutError(`Redis did not answer within ${timeoutMs} ms`));
  if (reply !== 'PONG') throw new Error(`unexpected PING reply ${String(reply)}`);
}

/** Closes the connection (tests, graceful shutdown). */
export async function closeCache(): Promise<void> {
  const c = client;
  client = undefined;
  connecting = undefined;
  breaker.reset();
  if (c) await c.close().catch(() => c.destroy());
}

const WARN_INTERVAL_MS = 5000;
let lastWarn = 0;
let suppressed = 0;
/** A warning about the cache, at most one per WARN_INTERVAL_MS (the others are counted). */
export function warn(message: string, err: unknown, fields: Record<string, unknown> = {}): void {
  const now = Date.now();
  if (now - lastWarn < WARN_INTERVAL_MS) {
    suppressed++;
    return;
  }
  log.warn(message, { ...fields, error: (err as Error)?.message ?? String(err), suppressedSinceLast: suppressed });
  lastWarn = now;
  suppressed = 0;
}
