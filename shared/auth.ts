/**
 * API keys and rate limits for the public APIs.
 *
 * Keys: `vak_<43 base64url chars>` (256 random bits), given to the user once and stored only as
 * their SHA-256 at `api_keys/{sha256}` (tenant, user, scopes, active). A request presents one as
 * `Authorization: Bearer <key>` or `X-API-Key: <key>` (never in the query string, OWASP API2).
 * The stored hash is compared with the computed one in constant time. Lookups are cached in
 * memory for KEY_CACHE_MS, so a revocation reaches warm instances within that time.
 *
 * Rate limits: a fixed one-minute window per key's user and endpoint in Redis
 * (`rate_limit:{userId}:{endpoint}`), the seed's 1000/min by default. Over the limit → 429 with
 * Retry-After and the IETF `RateLimit-*` headers. Redis down → the request is allowed (the cache
 * is optional) and a warning is logged.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { cacheKeys, cacheTtlSeconds, warn as warnCache, withRedis } from './cache';
import { AppError, forbidden, unauthenticated } from './errors';
import { collections, db, firestoreCall } from './firestore';

export interface Principal {
  keyHash: string;
  tenantId: string;
  userId: string;
  scopes: string[];
}

export interface ApiKeyRecord extends Principal {
  active: boolean;
  name?: string;
  createdAt: Date;
  revokedAt?: Date | null;
}

export const KEY_PREFIX = 'vak_';
const KEY_SHAPE = /^vak_[A-Za-z0-9_-]{43}$/;
const KEY_CACHE_MS = 30_000;

export const hashKey = (key: string): string => hash('sha256', key, 'hex');

/** A new key: the plaintext (shown once) and the record stored under its hash. */
export function newApiKey(owner: { tenantId: string; userId: string; scopes: string[]; name?: string }): { key: string; record: ApiKeyRecord } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, record: { keyHash: hashKey(key), ...owner, active: true, createdAt: new Date(), revokedAt: null } };
}

export async function storeApiKey(record: ApiKeyRecord): Promise<void> {
  await firestoreCall(db().collection(collections.apiKeys).doc(record.keyHash).create(record));
}

export async function revokeApiKey(keyHash: string): Promise<boolean> {
  const ref = db().collection(collections.apiKeys).doc(keyHash);
  const snap = await firestoreCall(ref.get());
  if (!snap.exists) return false;
  await firestoreCall(ref.update({ active: false, revokedAt: new Date() }));
  keyCache.delete(keyHash);
  return true;
}

/** The key a request presents, from `Authorization: Bearer` or `X-API-Key`. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  const x = headers['x-api-key'];
  return typeof x === 'string' && x.trim() ? x.trim() : undefined;
}

const keyCache = new Map<string, { record: ApiKeyRecord | undefined; expires: number }>();

async function lookup(keyHash: string): Promise<ApiKeyRecord | undefined> {
  const hit = keyCache.get(keyHash);
  if (hit && hit.expires > Date.now()) return hit.record;
  const snap = await firestoreCall(db().collection(collections.apiKeys).doc(keyHash).get());
  const record = snap.exists ? (snap.data() as ApiKeyRecord) : undefined;
  keyCache.set(keyHash, { record, expires: Date.now() + KEY_CACHE_MS });
  return record;
}

/** Authenticates a request: 401 without a valid active key, 403 when a required scope is missing. */
export async function authenticate(headers: IncomingHttpHeaders, requiredScope?: string): Promise<Principal> {
  const key = presentedKey(headers);
  if (!key) throw unauthenticated('An API key is required: Authorization: Bearer <key> or X-API-Key');
  // The shape check costs nothing and keeps junk away from Firestore; it reveals nothing secret.
  const computed = hashKey(key);
  const record = KEY_SHAPE.test(key) ? await lookup(computed) : undefined;
  const stored = Buffer.from(record?.keyHash ?? '0'.repeat(64), 'hex');
  const matches = timingSafeEqual(stored, Buffer.from(computed, 'hex')) && record !== undefined;
  if (!matches || !record?.active) throw unauthenticated('Invalid or revoked API key');
  if (requiredScope && !record.scopes.includes(requiredScope) && !record.scopes.includes('admin')) {
    throw forbidden(`This API key lacks the '${requiredScope}' scope`);
  }
  return { keyHash: record.keyHash, tenantId: record.tenantId, userId: record.userId, scopes: record.scopes };
}

export interface RateLimitResult {
  limit: number;
  remaining: number;
  resetSeconds: number;
  headers: Record<string, string>;
}

/** The seed's default: 1000 requests per minute per user and endpoint. */
export const DEFAULT_RATE_LIMIT = 1000;

/** Counts the request; throws 429 (with Retry-After and RateLimit-* headers) past `limit`. */
export async function rateLimit(userId: string, endpoint: string, limit = DEFAULT_RATE_LIMIT): Promise<RateLimitResult> {
  const key = cacheKeys.rateLimit(userId, endpoint);
  let count: number;
  let ttl: number;
  try {
    [count, ttl] = await withRedis(async (c) => {
      const replies = await c.multi().incr(key).expire(key, cacheTtlSeconds.rateLimit, 'NX').ttl(key).exec();
      return [Number(replies[0]), Number(replies[2])] as [number, number];
    });
  } catch (err) {
    warnCache('rate limiter unavailable; request allowed', err, { endpoint });
    return { limit, remaining: limit, resetSeconds: cacheTtlSeconds.rateLimit, headers: {} };
  }
  const resetSeconds = ttl > 0 ? ttl : cacheTtlSeconds.rateLimit;
  const remaining = Math.max(0, limit - count);
  const headers = {
    'RateLimit-Limit': String(limit),
    'RateLimit-Remaining': String(remaining),
    'RateLimit-Reset': String(resetSeconds),
    'RateLimit-Policy': `${limit};w=${cacheTtlSeconds.rateLimit}`,
  };
  if (count > limit) {
    throw new AppError('rate_limited', `Rate limit of ${limit} requests per minute exceeded for ${endpoint}`, {
      retryAfterSeconds: resetSeconds,
      headers,
    });
  }
  return { limit, remaining, resetSeconds, headers };
}

/** Forgets cached key lookups (tests; after revoking keys from another process). */
export function clearKeyCache(): void {
  keyCache.clear();
}
