/**
 * The delivery pipeline's smoke check (scripts/smoke.ts), run as the pipeline runs it (a process,
 * `--base-url` one URL with each function at `/<function>`), against the public functions on the
 * local stack behind a stand-in of the load balancer's URL map: it passes on a healthy stack and
 * fails, non-zero and naming the check and what came back, when a check fails.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import '../../functions/health';
import '../../functions/test-runs';
import '../../functions/webhook';
import { edgeNames, urlMap } from '../../scripts/deploy-plan-edge';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { serve, type Served } from '../helpers/http';
import { runProcess, type RunResult } from '../helpers/processes';
import { useStack } from '../helpers/stack';
import { startUrlMap, type UrlMapServer } from '../helpers/url-map';

const ROOT = join(__dirname, '..', '..');

function smoke(args: string[], env: Record<string, string>): Promise<RunResult> {
  return runProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/smoke.ts'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
}

describe('npm run smoke (integration: the public functions on the local stack, behind the URL map)', function () {
  this.timeout(90_000);
  useStack();
  const fns: Record<string, Served> = {};
  let lb: UrlMapServer;
  let key: string;
  // The test stack's webhook secrets (test/setup.ts): the second of a rotation pair.
  const webhookSecret = process.env.VIRTUOSO_WEBHOOK_SECRET!;

  before(async () => {
    for (const name of ['health', 'webhook', 'testRuns']) fns[name] = await serve(name);
    // The emulator's first answers can be slow on a loaded machine: the deep check is asked until it
    // is ready (not a timing assertion; the tests below need a healthy stack).
    for (let i = 0; i < 20 && (await fetch(fns.health.url)).status !== 200; i++) await new Promise((r) => setTimeout(r, 500));
    lb = await startUrlMap(urlMap('demo-project', 'api.example.com'), Object.fromEntries(Object.entries(fns).map(([n, f]) => [edgeNames.backend(n), f.url])));
  });
  after(async () => {
    await lb.close();
    await Promise.all(Object.values(fns).map((f) => f.close()));
  });
  beforeEach(async () => {
    clearKeyCache();
    const k = newApiKey({ tenantId: 'ci-smoke', userId: 'smoke', scopes: ['test-runs'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  it('passes on a healthy stack: deep health, a signed webhook, a dry-run test run', async () => {
    const r = await smoke(['--base-url', lb.url], { SMOKE_API_KEY: key, VIRTUOSO_WEBHOOK_SECRET: webhookSecret });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok {3}health: (ok|degraded) \(firestore ok/m);
    assert.match(r.stdout, /^ok {3}webhook: accepted, delivery /m);
    assert.match(r.stdout, /^ok {3}test-run: dry run planned \d+ operations/m);
    assert.match(r.stdout, /all 3 checks passed/);
    assert.ok(!(r.stdout + r.stderr).includes(key), 'the API key is never printed');
  });

  it('fails, naming the check and the answer, when the webhook signature is refused', async () => {
    const r = await smoke(['--base-url', lb.url, '--webhook-secret', 'not-the-secret'], { SMOKE_API_KEY: key });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAIL webhook: POST \/webhook \(signed\) answered 401 /m);
    assert.match(r.stdout, /^ok {3}health/m, 'the other checks still ran');
    assert.match(r.stdout, /^ok {3}test-run/m);
    assert.match(r.stderr, /1 of 3 checks failed: webhook/);
    assert.ok(!r.stdout.includes('not-the-secret'));
  });

  it('fails when the API key is refused, or nothing answers at the base URL', async () => {
    const badKey = await smoke(['--base-url', lb.url, '--skip', 'webhook'], { SMOKE_API_KEY: 'vak_not_a_key' });
    assert.equal(badKey.code, 1, badKey.stdout);
    assert.match(badKey.stdout, /^FAIL test-run: POST \/testRuns\/test-runs\?dryRun=true answered 401 /m);
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const nobody = await smoke(['--base-url', `http://127.0.0.1:${closed}`, '--skip', 'webhook,test-run'], {});
    assert.equal(nobody.code, 1, nobody.stdout);
    assert.match(nobody.stdout, new RegExp(`^FAIL health: no answer from http://127\\.0\\.0\\.1:${closed}: ECONNREFUSED`, 'm'));
  });

  it('refuses bad usage with status 2', async () => {
    const r = await smoke(['--skip', 'everything'], { SMOKE_BASE_URL: lb.url });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--skip takes health, webhook, test-run; not everything/);
    assert.equal((await smoke([], {})).code, 2);
  });
});
