/**
 * API keys and rate limits for the public APIs.
 *
 * Keys: `vak_<43 base64url chars>` (256 random bits), given to the user once and stored only as
 * their SHA-256 at `api_keys/{sha256}` (tenant, user, scopes, active). A request presents one as
 * `Authorization: Bearer <key>` or `X-API-Key: <key>` (never in the query string, OWASP API2).
 * The stored hash is compared with the computed one in constant time. Lookups are cached in
 * memory for KEY_CACHE_MS, so a revocation reaches warm instances within that time.
 *
 * Rate limits, two policies counted together in Redis: a fixed one-minute window per key's user
 * and endpoint (`rate_limit:{userId}:{endpoint}`, the seed's 1000/min by default) and a daily
 * quota per key (`quota:{keyHash}:{UTC day}`, 100,000/day by default; the counts are kept a month,
 * which is the usage a tenant's admin reads). A key may set its own of either (`limits`). Over
 * either → 429 with Retry-After naming the policy; every answer carries the IETF `RateLimit-*`
 * headers of the policy closest to its limit and `RateLimit-Policy` listing both. Redis down → the
 * request is allowed (the cache is optional) and a warning is logged.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { cacheKeys, cacheTtlSeconds, warn as warnCache, withRedis } from './cache';
import { getConfig } from './config';
import { AppError, dependencyError, forbidden, unauthenticated } from './errors';
import { collections, db, firestoreCall } from './firestore';

/** A key's own limits, in place of the deployment's defaults. */
export interface KeyLimits {
  perMinute?: number;
  perDay?: number;
}

export interface Principal {
  keyHash: string;
  tenantId: string;
  userId: string;
  scopes: string[];
  limits?: KeyLimits;
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
export function newApiKey(owner: { tenantId: string; userId: string; scopes: string[]; name?: string; limits?: KeyLimits }): { key: string; record: ApiKeyRecord } {
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
  return { keyHash: record.keyHash, tenantId: record.tenantId, userId: record.userId, scopes: record.scopes, ...(record.limits ? { limits: record.limits } : {}) };
}

export interface RateLimitResult {
  limit: number;
  remaining: number;
  resetSeconds: number;
  headers: Record<string, string>;
}

const DAY_SECONDS = 24 * 3600;

/** A UTC day as `yyyymmdd`, the daily quota's window. */
export const quotaDay = (at = new Date()) => at.toISOString().slice(0, 10).replace(/-/g, '');

interface PolicyState {
  name: 'minute' | 'day';
  limit: number;
  windowSeconds: number;
  count: number;
  resetSeconds: number;
}

/**
 * Counts the request against the per-minute limit (per user and endpoint) and the daily quota (per
 * key); throws 429 (with Retry-After and RateLimit-* headers) past either.
 */
export async function rateLimit(principal: Principal, endpoint: string): Promise<RateLimitResult> {
  const config = getConfig();
  const perMinute = principal.limits?.perMinute ?? config.rateLimitPerMinute;
  const perDay = principal.limits?.perDay ?? config.quotaPerDay;
  const minuteKey = cacheKeys.rateLimit(principal.userId, endpoint);
  const dayKey = cacheKeys.quota(principal.keyHash, quotaDay());
  let replies: unknown[];
  try {
    replies = await withRedis((c) =>
      c.multi().incr(minuteKey).expire(minuteKey, cacheTtlSeconds.rateLimit, 'NX').ttl(minuteKey).incr(dayKey).expire(dayKey, cacheTtlSeconds.quota, 'NX').exec(),
    );
  } catch (err) {
    warnCache('rate limiter unavailable; request allowed', err, { endpoint });
    return { limit: perMinute, remaining: perMinute, resetSeconds: cacheTtlSeconds.rateLimit, headers: {} };
  }
  const ttl = Number(replies[2]);
  const policies: PolicyState[] = [
    { name: 'minute', limit: perMinute, windowSeconds: cacheTtlSeconds.rateLimit, count: Number(replies[0]), resetSeconds: ttl > 0 ? ttl : cacheTtlSeconds.rateLimit },
    // The day ends at the next UTC midnight.
    { name: 'day', limit: perDay, windowSeconds: DAY_SECONDS, count: Number(replies[3]), resetSeconds: Math.max(1, DAY_SECONDS - Math.floor((Date.now() / 1000) % DAY_SECONDS)) },
  ];
  const remaining = (p: PolicyState) => Math.max(0, p.limit - p.count);
  // The policy that binds: one already exceeded, else the one with the fewest requests left.
  const bound = policies.find((p) => p.count > p.limit) ?? policies.reduce((a, b) => (remaining(b) < remaining(a) ? b : a));
  const headers = {
    'RateLimit-Limit': String(bound.limit),
    'RateLimit-Remaining': String(remaining(bound)),
    'RateLimit-Reset': String(bound.resetSeconds),
    'RateLimit-Policy': policies.map((p) => `${p.limit};w=${p.windowSeconds};name="${p.name}"`).join(', '),
  };
  if (bound.count > bound.limit) {
    const what =
      bound.name === 'minute'
        ? `Rate limit of ${bound.limit} requests per minute exceeded for ${endpoint}`
        : `Daily quota of ${bound.limit} requests exceeded for this API key (it resets at 00:00 UTC)`;
    throw new AppError('rate_limited', what, { retryAfterSeconds: bound.resetSeconds, headers, details: { policy: bound.name, limit: bound.limit, windowSeconds: bound.windowSeconds } });
  }
  return { limit: bound.limit, remaining: remaining(bound), resetSeconds: bound.resetSeconds, headers };
}

export interface KeyUsage {
  /** The first 12 hex digits of the key's SHA-256: enough to tell keys apart, useless to present. */
  keyId: string;
  userId: string;
  name?: string;
  scopes: string[];
  active: boolean;
  limits: Required<KeyLimits>;
  /** Requests per UTC day, newest first, today included (as far as Redis kept them). */
  days: { day: string; requests: number }[];
}

/** Every key of a tenant with its limits and its requests over the last `days` UTC days (GET /usage). */
export async function tenantUsage(tenantId: string, days: number): Promise<KeyUsage[]> {
  const config = getConfig();
  const snap = await firestoreCall(db().collection(collections.apiKeys).where('tenantId', '==', tenantId).get());
  const keys = snap.docs.map((d) => d.data() as ApiKeyRecord);
  const dayList = Array.from({ length: days }, (_, i) => quotaDay(new Date(Date.now() - i * DAY_SECONDS * 1000)));
  let counts: (string | null)[] = [];
  if (keys.length) {
    try {
      counts = await withRedis((c) => c.mGet(keys.flatMap((k) => dayList.map((day) => cacheKeys.quota(k.keyHash, day)))));
    } catch (err) {
      throw dependencyError('Redis', err);
    }
  }
  return keys
    .map((k, i) => ({
      keyId: k.keyHash.slice(0, 12),
      userId: k.userId,
      ...(k.name ? { name: k.name } : {}),
      scopes: k.scopes,
      active: k.active,
      limits: { perMinute: k.limits?.perMinute ?? config.rateLimitPerMinute, perDay: k.limits?.perDay ?? config.quotaPerDay },
      days: dayList.map((day, j) => ({ day, requests: Number(counts[i * dayList.length + j] ?? 0) })),
    }))
    .sort((a, b) => a.userId.localeCompare(b.userId) || a.keyId.localeCompare(b.keyId));
}

/** Forgets cached key lookups (tests; after revoking keys from another process). */
export function clearKeyCache(): void {
  keyCache.clear();
}
