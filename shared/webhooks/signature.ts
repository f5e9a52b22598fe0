/**
 * Webhook signature schemes, verified over the raw bytes in constant time against every current
 * secret (several during a rotation, so rotating needs no downtime).
 *
 * - Virtuoso: `X-Virtuoso-Signature: sha1=<hex HMAC-SHA1 of the raw body>` (VIRTUOSO_API.md §1.7).
 * - Standard Webhooks v1: `webhook-id`, `webhook-timestamp` (Unix seconds, ±tolerance) and
 *   `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, space-separated
 *   list; secrets are `whsec_<base64>` (the prefix is optional).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { unauthenticated } from '../errors';

export type SignatureScheme = 'virtuoso' | 'standard';

export interface VerifiedDelivery {
  scheme: SignatureScheme;
  /** Standard Webhooks' message id: the sender's idempotency key. */
  webhookId?: string;
  timestamp?: number;
}

export const VIRTUOSO_HEADER = 'x-virtuoso-signature';

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function signVirtuoso(rawBody: Buffer | string, secret: string): string {
  return `sha1=${createHmac('sha1', secret).update(rawBody).digest('hex')}`;
}

export function verifyVirtuoso(rawBody: Buffer, header: string | undefined, secrets: readonly string[]): VerifiedDelivery {
  const m = header && /^sha1=([0-9a-f]{40})$/i.exec(header.trim());
  if (!m) throw unauthenticated('X-Virtuoso-Signature must be sha1=<40 hex digits>');
  const given = Buffer.from(m[1], 'hex'); // hex digits in either case
  // Every secret is tried, so the time taken does not depend on which one matched.
  let ok = false;
  for (const secret of secrets) {
    ok = safeEqual(createHmac('sha1', secret).update(rawBody).digest(), given) || ok;
  }
  if (!ok) throw unauthenticated('Webhook signature does not match');
  return { scheme: 'virtuoso' };
}

/** Shorter keys than this (a truncated or mistyped secret) are refused rather than trusted. */
const MIN_KEY_BYTES = 16;

function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** The configured Standard Webhooks secrets that decode to a usable key. */
export function usableStandardSecrets(secrets: readonly string[]): string[] {
  return secrets.filter((s) => standardKey(s).length >= MIN_KEY_BYTES);
}

export function signStandard(id: string, timestamp: number, rawBody: Buffer | string, secret: string): string {
  const mac = createHmac('sha256', standardKey(secret)).update(`${id}.${timestamp}.`).update(rawBody).digest('base64');
  return `v1,${mac}`;
}

export function verifyStandard(
  rawBody: Buffer,
  headers: IncomingHttpHeaders,
  secrets: readonly string[],
  toleranceSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): VerifiedDelivery {
  const id = single(headers['webhook-id']);
  const ts = single(headers['webhook-timestamp']);
  const sig = single(headers['webhook-signature']);
  if (!id || !ts || !sig) throw unauthenticated('webhook-id, webhook-timestamp and webhook-signature are all required');
  if (!/^\d{1,12}$/.test(ts)) throw unauthenticated('webhook-timestamp must be Unix seconds');
  const timestamp = Number(ts);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) {
    throw unauthenticated(`webhook-timestamp is more than ${toleranceSeconds} s away from now`);
  }
  // An empty or truncated candidate never matches: safeEqual compares lengths first.
  const candidates = sig
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  let ok = false;
  for (const secret of usableStandardSecrets(secrets)) {
    // The header's text is what the sender signed: `001700000000` is not `1700000000`.
    const expected = createHmac('sha256', standardKey(secret)).update(`${id}.${ts}.`).update(rawBody).digest();
    for (const c of candidates) ok = safeEqual(expected, c) || ok;
  }
  if (!ok) throw unauthenticated('Webhook signature does not match');
  return { scheme: 'standard', webhookId: id, timestamp };
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Which scheme a request claims: Standard Webhooks when its signature header is present. */
export function schemeOf(headers: IncomingHttpHeaders): SignatureScheme | undefined {
  if (headers['webhook-signature'] !== undefined) return 'standard';
  if (headers[VIRTUOSO_HEADER] !== undefined) return 'virtuoso';
  return undefined;
}
