/**
 * The Redis cache (Memorystore). Optional by design: when Redis is not configured, down or slow,
 * reads miss, writes are skipped, a warning is logged (at most one per WARN_INTERVAL_MS) and the
 * request goes on uncached. Every command has a deadline (REDIS_TIMEOUT_MS), the client never
 * queues commands while disconnected, and a circuit breaker skips Redis for a second or a few
 * after three failures in a row (then probes it with one command), so a dead or frozen Redis
 * costs requests almost nothing, not a deadline per command.
 *
 * In production the connection is Memorystore's in-transit encryption (REDIS_TLS=on): TLS checked
 * against the instance's own CA and AUTH, both from Secret Manager; locally plain TCP.
 */
import type { PeerCertificate } from 'node:tls';
import type { createClient, RedisClientOptions } from 'redis';
import { CircuitBreaker } from './breaker';
import { getConfig, redisUrlOf } from './config';
import { withDeadline } from './deadline';
import { secrets } from './infra';
import { log } from './log';
import { getSecret } from './secrets';

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

/**
 * Memorystore's server certificates name the instance's IP address in their subject's common name,
 * with no subject alternative name, and Node checks an IP address against the latter only. The chain
 * is still checked against the instance's own CA; this accepts the name Node accepts, or a common
 * name equal to the address connected to.
 */
export function serverIdentity(host: string, cert: PeerCertificate): Error | undefined {
  // node:tls is required here, when a TLS connection is checked: loading it costs every cold start a few ms.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const err = (require('node:tls') as typeof import('node:tls')).checkServerIdentity(host, cert);
  if (!err || (!cert.subjectaltname && cert.subject?.CN === host)) return undefined;
  return err;
}

/**
 * Retried with backoff: a refused or lost connection. Not retried: a refused AUTH string or a
 * certificate that does not verify, which only a change of configuration mends; the connection
 * attempt fails with that reason (and the next cache call makes a new one).
 */
function reconnectStrategy(retries: number, cause: Error): number | Error {
  const code = String((cause as { code?: unknown }).code ?? '');
  if (/^(WRONGPASS|NOAUTH|ERR AUTH)/.test(cause.message) || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) return cause;
  return Math.min(100 * 2 ** retries, 2000);
}

/** How to reach Redis: the URL, and with REDIS_TLS=on, TLS against the Memorystore CA and its AUTH string. */
export async function connectionOptions(): Promise<RedisClientOptions> {
  const config = getConfig();
  const url = redisUrlOf(config);
  if (!url) throw new Error('Redis is not configured');
  const socket = { connectTimeout: Math.max(config.redisTimeoutMs, 1000), reconnectStrategy };
  // Plain TCP, or TLS with the system's CAs for a `rediss://` URL.
  if (config.redisTls !== 'on') return { url, disableOfflineQueue: true, socket };
  // Values copied from gcloud end with a newline; neither a password nor a PEM bundle needs it.
  const [auth, ca] = await Promise.all([getSecret(secrets.memorystoreAuth), getSecret(secrets.memorystoreCa)]);
  return {
    url: url.replace(/^redis:/, 'rediss:'),
    ...(auth?.trim() ? { password: auth.trim() } : {}),
    disableOfflineQueue: true,
    socket: { ...socket, tls: true, ...(ca?.trim() ? { ca: ca.trim() } : {}), checkServerIdentity: serverIdentity },
  };
}

async function connect(): Promise<RedisClient> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const redis = require('redis') as typeof import('redis');
  const c = redis.createClient(await connectionOptions());
  c.on('error', (err: Error) => warn('redis connection error', err));
  try {
    await c.connect();
  } catch (err) {
    void c.destroy?.();
    throw err;
  }
  return c as RedisClient;
}

async function connected(): Promise<RedisClient> {
  if (client?.isReady) return client;
  if (!connecting) {
    if (!redisUrlOf(getConfig())) throw new Error('Redis is not configured');
    connecting = connect().then(
      (c) => (client = c),
      (err) => {
        connecting = undefined;
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
