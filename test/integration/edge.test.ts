/**
 * The edge (issue 16 §1), on real HTTP against the public functions and the local stack:
 * - no authenticated answer may be kept by a shared cache (Cloud CDN in USE_ORIGIN_HEADERS mode
 *   caches what the origin marks public): every one carries `Cache-Control: no-store` (or private),
 *   success and refusal alike; health's liveness is the one answer marked public;
 * - the URL map the deploy plan imports, played by a stand-in that routes as its rules say, puts
 *   every function at `/<function>` on one host, and the api-cli client works with that one base
 *   URL (a command line, and a test run's dry run).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../../functions/commands';
import '../../functions/health';
import '../../functions/test-runs';
import '../../functions/webhook';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { edgeNames, urlMap } from '../../scripts/deploy-plan-edge';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { edge } from '../../shared/infra';
import { request, serve, type JsonResponse, type Served } from '../helpers/http';
import { runProcess, type RunResult } from '../helpers/processes';
import { useStack } from '../helpers/stack';
import { route, startUrlMap, type UrlMapServer } from '../helpers/url-map';
import { ports, TEST_ENV } from '../setup';

const ROOT = join(__dirname, '..', '..');
const EXAMPLE = join(ROOT, 'shared/schemas/examples/checkout.yaml');
const BIN = join(ROOT, 'shared/client/bin/api-cli.cjs');

/** The api-cli bin as a process, with exactly this environment (and PATH), no config file. */
function runCli(args: string[], env: Record<string, string>): Promise<RunResult> {
  return runProcess(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: ROOT, ...env } });
}

/** What a shared cache may keep: `public`, or a shared max-age, without no-store/private. */
function cacheable(res: JsonResponse): boolean {
  const cc = (res.headers.get('cache-control') ?? '').toLowerCase();
  if (/\b(no-store|private)\b/.test(cc)) return false;
  return /\bpublic\b|\bs-maxage=|\bmax-age=[1-9]/.test(cc) || res.headers.has('expires');
}

describe('the edge: cache headers and one base URL (integration: functions on real HTTP, emulators, sandbox)', function () {
  this.timeout(60_000);
  useStack();
  const fns: Record<(typeof edge.routes)[number], Served> = {} as never;
  let sandbox: Sandbox;
  let key: string;

  before(async () => {
    for (const name of edge.routes) fns[name] = await serve(name);
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: 300 });
  });
  after(async () => {
    await Promise.all(Object.values(fns).map((f) => f.close()));
    await sandbox.close();
  });
  beforeEach(async () => {
    clearKeyCache();
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands', 'test-runs', 'admin'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const auth = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...extra });

  it('marks no authenticated answer cacheable: every one says no-store, success and refusal alike', async () => {
    const yaml = readFileSync(EXAMPLE, 'utf8');
    const answers: [string, JsonResponse][] = [
      ['commands: a command', await request(`${fns.commands.url}/commands`, { method: 'POST', headers: auth({ 'content-type': 'application/json' }), body: JSON.stringify({ command: 'list-projects' }) })],
      ['commands: history', await request(`${fns.commands.url}/commands`, { headers: auth() })],
      ['commands: usage', await request(`${fns.commands.url}/usage`, { headers: auth() })],
      ['commands: no key (401)', await request(`${fns.commands.url}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"command":"list-projects"}' })],
      ['commands: unknown route (404)', await request(`${fns.commands.url}/nope`, { headers: auth() })],
      ['testRuns: dry run', await request(`${fns.testRuns.url}/test-runs?dryRun=true`, { method: 'POST', headers: auth({ 'content-type': 'application/yaml' }), body: yaml })],
      ['testRuns: list', await request(`${fns.testRuns.url}/test-runs`, { headers: auth() })],
      ['testRuns: another tenant’s run (404)', await request(`${fns.testRuns.url}/test-runs/run_nope`, { headers: auth() })],
      ['testRuns: the callback secret', await request(`${fns.testRuns.url}/callback-secret`, { headers: auth() })],
      ['webhook: the inbox', await request(`${fns.webhook.url}/deliveries`, { headers: auth() })],
      ['webhook: the inbox without a key (401)', await request(`${fns.webhook.url}/deliveries`)],
      ['webhook: an unsigned delivery (401)', await request(fns.webhook.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"event":"x"}' })],
      ['health: deep check', await request(fns.health.url)],
    ];
    const statuses = answers.map(([what, res]) => `${what}: ${res.status}`);
    // The answers are what they claim to be (so the headers checked are those of real successes and refusals).
    for (const [what, res] of answers) {
      if (what.includes('(401)')) assert.equal(res.status, 401, `${what}: ${res.text}`);
      else if (what.includes('(404)')) assert.equal(res.status, 404, `${what}: ${res.text}`);
      else assert.ok(res.status >= 200 && res.status < 300, `${what}: ${res.status} ${res.text}`);
    }
    for (const [what, res] of answers) {
      assert.match(res.headers.get('cache-control') ?? '', /\bno-store\b/, `${what} (${statuses.join('; ')})`);
      assert.equal(cacheable(res), false, what);
    }
  });

  it("marks health's liveness answer, and only it, public for a few seconds; health answers 404 off its root", async () => {
    const live = await request(`${fns.health.url}/?probe=live`);
    assert.equal(live.status, 200);
    assert.equal(cacheable(live), true);
    assert.match(live.headers.get('cache-control') ?? '', /^public, max-age=\d{1,2}$/);
    const off = await request(`${fns.health.url}/wp-login.php`);
    assert.equal(off.status, 404, off.text);
    assert.equal(off.body.error.code, 'not_found');
    assert.equal(cacheable(off), false);
  });

  describe('behind the URL map the deploy plan imports', () => {
    const map = urlMap('demo-project', 'api.example.com');
    let lb: UrlMapServer;
    before(async () => {
      lb = await startUrlMap(map, Object.fromEntries(edge.routes.map((fn) => [edgeNames.backend(fn), fns[fn].url])));
    });
    after(() => lb.close());

    it('puts each function at /<function>, its prefix stripped as cloudfunctions.net does, everything else on health', () => {
      assert.deepEqual(route(map, '/health'), { backend: edgeNames.backend('health'), path: '/' });
      assert.deepEqual(route(map, '/health?probe=live'), { backend: edgeNames.backend('health'), path: '/?probe=live' });
      assert.deepEqual(route(map, '/commands/commands'), { backend: edgeNames.backend('commands'), path: '/commands' });
      assert.deepEqual(route(map, '/testRuns/test-runs/run_1/report?format=junit'), { backend: edgeNames.backend('testRuns'), path: '/test-runs/run_1/report?format=junit' });
      assert.deepEqual(route(map, '/webhook'), { backend: edgeNames.backend('webhook'), path: '/' });
      assert.deepEqual(route(map, '/webhook/deliveries'), { backend: edgeNames.backend('webhook'), path: '/deliveries' });
      assert.equal(route(map, '/commandsX/commands').backend, edgeNames.backend('health'), 'a prefix is a whole segment');
      assert.equal(route(map, '/').backend, edgeNames.backend('health'));
    });

    it('answers /health, and 404 for what no function serves', async () => {
      const live = await request(`${lb.url}/health?probe=live`);
      assert.equal(live.status, 200, live.text);
      assert.equal(live.body.probe, 'live');
      assert.equal((await request(`${lb.url}/admin.php`)).status, 404);
    });

    it('serves the api-cli client from one base URL: a command line and a test run', async () => {
      const env = { API_CLI_BASE_URL: lb.url, API_CLI_KEY: key };
      const projects = await runCli(['list-projects', '-o', 'json'], env);
      assert.equal(projects.code, 0, projects.stderr);
      assert.ok(JSON.parse(projects.stdout), projects.stdout);
      const dry = await runCli(['run-test', EXAMPLE, '--dry-run', '-o', 'json'], env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.ok(JSON.parse(dry.stdout).plan ?? JSON.parse(dry.stdout).operations, dry.stdout);
    });
  });
});
