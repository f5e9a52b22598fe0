/**
 * Outcomes parked until they can be recorded. When a command's effect happened in Virtuoso but
 * its record could not be written (Firestore unavailable), the request answers 503 and the outcome
 * is parked under what identifies the retry: the Idempotency-Key, else the request itself (the
 * same tenant, user and body within PARK_TTL_SECONDS), or a queued command's id. The retry ends
 * with that outcome, recorded then, instead of running the command again (a second object, or a
 * 409 "already exists"). A parked outcome is used once: the retry that records it removes it, so
 * the same command sent again later runs again.
 *
 * Parked in Redis and in this instance's memory (Redis may be down too). The one gap left: with
 * Redis unavailable, a retry that reaches another instance runs the command again.
 */
import { hash } from 'node:crypto';
import { cacheDelete, cacheGet, cacheSet } from '../cache';

export const PARK_TTL_SECONDS = 3600;
const MAX_IN_MEMORY = 1000;

const memory = new Map<string, { value: unknown; expires: number }>();

/** The key a retry finds a parked outcome under (its parts hashed: tenant, user, key or body). */
export const parkingKey = (...parts: string[]): string => `command:parked:${hash('sha256', parts.join('\n'), 'hex')}`;

export async function park(key: string, value: unknown): Promise<void> {
  if (memory.size >= MAX_IN_MEMORY) memory.delete(memory.keys().next().value!);
  memory.set(key, { value, expires: Date.now() + PARK_TTL_SECONDS * 1000 });
  await cacheSet(key, value, PARK_TTL_SECONDS);
}

export async function parked<T>(key: string): Promise<T | undefined> {
  const local = memory.get(key);
  if (local && local.expires > Date.now()) return local.value as T;
  if (local) memory.delete(key);
  return cacheGet<T>(key);
}

/** Removes a parked outcome once it is recorded. */
export async function unpark(key: string): Promise<void> {
  memory.delete(key);
  await cacheDelete(key);
}
