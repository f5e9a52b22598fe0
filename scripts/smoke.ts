/**
 * `npm run smoke -- --base-url URL`: the delivery pipeline's smoke check of a deployed API, before
 * traffic is trusted to it (cloudbuild.yaml rolls the deployed functions back when it fails).
 * Three checks, through the same base URL the client uses (each function at `/<function>`: the
 * load balancer's domain, or `https://REGION-PROJECT.cloudfunctions.net`):
 *
 *   1. health, deep: `GET /health` answers 200 with status ok or degraded;
 *   2. a signed webhook: `POST /webhook` with `X-Virtuoso-Signature` (HMAC-SHA1 with the webhook
 *      secret) is accepted (202, or 200 for a duplicate);
 *   3. a dry-run test run: `POST /testRuns/test-runs?dryRun=true` with a small definition and the
 *      smoke API key answers its plan (nothing is created in Virtuoso).
 *
 * Options (or environment): --base-url (SMOKE_BASE_URL), --api-key (SMOKE_API_KEY), --webhook-secret
 * (VIRTUOSO_WEBHOOK_SECRET: the first of several is used), --skip health|webhook|test-run (repeatable;
 * e.g. webhook when Cloud Armor admits only Virtuoso's addresses), --timeout seconds per request (20).
 * Prints one line per check; exit 0 all passed, 1 a check failed (named, with what came back),
 * 2 bad usage. Secrets are never printed.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

export type CheckName = 'health' | 'webhook' | 'test-run';
export const CHECKS: readonly CheckName[] = ['health', 'webhook', 'test-run'];

export interface SmokeOptions {
  baseUrl: string;
  apiKey?: string;
  webhookSecret?: string;
  skip?: readonly CheckName[];
  timeoutMs?: number;
}

export interface CheckResult {
  check: CheckName;
  ok: boolean;
  /** What was seen: on failure, the status and the start of the body, or why there was no answer. */
  detail: string;
}

/** The definition the dry run plans: one goal, one checkpoint, two steps. */
const DEFINITION = `name: Smoke check
project: Smoke check
goals:
  - name: Home
    url: https://example.com/
    journeys:
      - name: Open
        checkpoints:
          - name: Opens
            steps:
              - click: Accept cookies
`;

async function call(url: string, init: RequestInit, timeoutMs: number): Promise<{ status: number; text: string; json?: Record<string, unknown> }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON: reported as text */
  }
  return { status: res.status, text, json };
}

const shown = (r: { status: number; text: string }) => `${r.status} ${r.text.replace(/\s+/g, ' ').slice(0, 300)}`;

async function healthCheck(o: SmokeOptions, timeoutMs: number): Promise<CheckResult> {
  const r = await call(`${o.baseUrl}/health`, {}, timeoutMs);
  const status = r.json?.status;
  if (r.status === 200 && (status === 'ok' || status === 'degraded')) {
    const checks = Object.entries((r.json?.checks ?? {}) as Record<string, { status: string }>).map(([k, v]) => `${k} ${v.status}`);
    return { check: 'health', ok: true, detail: `${status} (${checks.join(', ')}), version ${String(r.json?.version)}, region ${String(r.json?.region)}` };
  }
  return { check: 'health', ok: false, detail: `GET /health answered ${shown(r)}` };
}

async function webhookCheck(o: SmokeOptions, timeoutMs: number): Promise<CheckResult> {
  const secret = o.webhookSecret?.split(/[\s,]+/).find(Boolean);
  if (!secret) return { check: 'webhook', ok: false, detail: 'no webhook secret: pass --webhook-secret or set VIRTUOSO_WEBHOOK_SECRET (or --skip webhook)' };
  const body = JSON.stringify({ event: 'SMOKE_CHECK', smokeId: randomUUID(), at: new Date().toISOString() });
  const signature = `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;
  const r = await call(`${o.baseUrl}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signature }, body }, timeoutMs);
  if ((r.status === 202 || r.status === 200) && (r.json?.status === 'accepted' || r.json?.status === 'duplicate')) {
    return { check: 'webhook', ok: true, detail: `${String(r.json?.status)}, delivery ${String(r.json?.deliveryId)}` };
  }
  return { check: 'webhook', ok: false, detail: `POST /webhook (signed) answered ${shown(r)}` };
}

async function testRunCheck(o: SmokeOptions, timeoutMs: number): Promise<CheckResult> {
  if (!o.apiKey) return { check: 'test-run', ok: false, detail: 'no API key: pass --api-key or set SMOKE_API_KEY (or --skip test-run)' };
  const r = await call(
    `${o.baseUrl}/testRuns/test-runs?dryRun=true`,
    { method: 'POST', headers: { 'content-type': 'application/yaml', authorization: `Bearer ${o.apiKey}` }, body: DEFINITION },
    timeoutMs,
  );
  const operations = r.json?.operations;
  if (r.status === 200 && Array.isArray(operations) && operations.length > 0) {
    return { check: 'test-run', ok: true, detail: `dry run planned ${operations.length} operations` };
  }
  return { check: 'test-run', ok: false, detail: `POST /testRuns/test-runs?dryRun=true answered ${shown(r)}` };
}

/** fetch's own error says only "fetch failed": the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is in its cause. */
function whyNoAnswer(err: Error): string {
  const cause = err.cause as (Error & { code?: string; errors?: (Error & { code?: string })[] }) | undefined;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? err.message;
}

const RUN: Record<CheckName, (o: SmokeOptions, timeoutMs: number) => Promise<CheckResult>> = { health: healthCheck, webhook: webhookCheck, 'test-run': testRunCheck };

/** Runs the checks in order (each on its own: one failing does not hide the others). */
export async function smoke(o: SmokeOptions): Promise<CheckResult[]> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const results: CheckResult[] = [];
  for (const check of CHECKS.filter((c) => !o.skip?.includes(c))) {
    try {
      results.push(await RUN[check]({ ...o, baseUrl: o.baseUrl.replace(/\/+$/, '') }, timeoutMs));
    } catch (err) {
      const e = err as Error;
      results.push({ check, ok: false, detail: `no answer from ${o.baseUrl}: ${e.name === 'TimeoutError' ? `nothing within ${timeoutMs} ms` : whyNoAnswer(e)}` });
    }
  }
  return results;
}

class Usage extends Error {}

function options(argv: string[], env: NodeJS.ProcessEnv): SmokeOptions {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        'base-url': { type: 'string' },
        'api-key': { type: 'string' },
        'webhook-secret': { type: 'string' },
        skip: { type: 'string', multiple: true },
        timeout: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new Usage((err as Error).message);
  }
  const baseUrl = v['base-url'] ?? env.SMOKE_BASE_URL;
  if (!baseUrl || !/^https?:\/\/[^/]+/.test(baseUrl)) throw new Usage(`--base-url (or SMOKE_BASE_URL) must be an http(s) URL${baseUrl ? `, not '${baseUrl}'` : ''}`);
  const skip = (v.skip ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = skip.filter((s) => !CHECKS.includes(s as CheckName));
  if (unknown.length) throw new Usage(`--skip takes ${CHECKS.join(', ')}; not ${unknown.join(', ')}`);
  const timeout = v.timeout === undefined ? 20 : Number(v.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Usage('--timeout is a number of seconds');
  return {
    baseUrl,
    apiKey: v['api-key'] ?? env.SMOKE_API_KEY,
    webhookSecret: v['webhook-secret'] ?? env.VIRTUOSO_WEBHOOK_SECRET,
    skip: skip as CheckName[],
    timeoutMs: timeout * 1000,
  };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let o: SmokeOptions;
  try {
    o = options(argv, env);
  } catch (err) {
    if (!(err instanceof Usage)) throw err;
    process.stderr.write(`smoke: ${err.message}\nusage: npm run smoke -- --base-url URL [--api-key K] [--webhook-secret S] [--skip health|webhook|test-run] [--timeout SECONDS]\n`);
    return 2;
  }
  process.stdout.write(`smoke check of ${o.baseUrl}\n`);
  const results = await smoke(o);
  for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.check}: ${r.detail}\n`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    process.stderr.write(`smoke: ${failed.length} of ${results.length} checks failed: ${failed.map((r) => r.check).join(', ')}\n`);
    return 1;
  }
  process.stdout.write(`smoke: all ${results.length} checks passed\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code), (err: Error) => {
    process.stderr.write(`smoke: ${err.message}\n`);
    process.exitCode = 1;
  });
}
