/**
 * Dependency checks for the health function. Each check runs under DEPENDENCY_TIMEOUT_MS and
 * reports its latency. Required dependencies decide between `ok` and `down`; optional ones (the
 * cache) can only make the report `degraded`.
 */
import { hostname } from 'node:os';
import { cacheConfigured, redisPing } from '../../shared/cache';
import type { Config } from '../../shared/config';
import { withDeadline } from '../../shared/deadline';
import { topicExists } from '../../shared/events';
import { collections, db } from '../../shared/firestore';
import { topics } from '../../shared/infra';

export type CheckStatus = 'ok' | 'error' | 'skipped';
export interface CheckResult {
  status: CheckStatus;
  required: boolean;
  latencyMs: number;
  error?: string;
}
export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  version: string;
  region: string;
  checkedAt: string;
  checks: Record<string, CheckResult>;
}

interface Check {
  name: string;
  required: boolean;
  enabled: () => boolean;
  /** Runs the check; `timeoutMs` is its whole budget (a first call also connects). */
  run: (timeoutMs: number) => Promise<void>;
}

const instanceId = `${hostname()}-${process.pid}`;

const CHECKS: Check[] = [
  {
    // A write and a read back: proves the database accepts writes, not just that it answers.
    name: 'firestore',
    required: true,
    enabled: () => true,
    run: async () => {
      const doc = db().collection(collections.health).doc(instanceId);
      const nonce = Math.random().toString(36).slice(2);
      await doc.set({ nonce, at: new Date() });
      const snap = await doc.get();
      if (snap.get('nonce') !== nonce) throw new Error('read did not return the value just written');
    },
  },
  { name: 'redis', required: false, enabled: cacheConfigured, run: (timeoutMs) => redisPing(timeoutMs) },
  {
    name: 'pubsub',
    required: true,
    enabled: () => true,
    run: async () => {
      if (!(await topicExists(topics.webhookEvents))) throw new Error(`topic ${topics.webhookEvents} does not exist`);
    },
  },
];

async function timed(check: Check, timeoutMs: number): Promise<CheckResult> {
  if (!check.enabled()) return { status: 'skipped', required: check.required, latencyMs: 0 };
  const started = performance.now();
  try {
    await withDeadline(check.run(timeoutMs), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
    return { status: 'ok', required: check.required, latencyMs: elapsed(started) };
  } catch (err) {
    return { status: 'error', required: check.required, latencyMs: elapsed(started), error: (err as Error).message };
  }
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;

export async function runChecks(config: Config): Promise<HealthReport> {
  const results = await Promise.all(CHECKS.map((c) => timed(c, config.dependencyTimeoutMs)));
  const checks = Object.fromEntries(CHECKS.map((c, i) => [c.name, results[i]]));
  const failed = results.filter((r) => r.status === 'error');
  const status = failed.some((r) => r.required) ? 'down' : failed.length ? 'degraded' : 'ok';
  return { status, version: config.version, region: config.region, checkedAt: new Date().toISOString(), checks };
}

/**
 * Deep reports are reused for HEALTH_CACHE_MS, and concurrent requests share one run, so a flood
 * of health checks costs the backends one round of checks per interval.
 */
export function cachedChecks(config: Config): () => Promise<HealthReport & { cached: boolean }> {
  let current: { at: number; report: Promise<HealthReport> } | undefined;
  return async () => {
    const now = Date.now();
    if (current && now - current.at < config.healthCacheMs) {
      return { ...(await current.report), cached: true };
    }
    const entry = { at: now, report: runChecks(config) };
    current = entry;
    return { ...(await entry.report), cached: false };
  };
}
