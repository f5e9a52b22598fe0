import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import '../../functions/webhook';
import { newApiKey, storeApiKey } from '../../shared/auth';
import { getConfig } from '../../shared/config';
import { claimDelivery, dedupeKey, markFailed } from '../../shared/webhooks/deliveries';
import { summarize } from '../../shared/webhooks/payload';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { request, serve, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';

const ARCHIVE = 'webhook-events-archive';
const SECRET = 'new-virtuoso-secret';

/** The webhook inbox over HTTP: the `webhook` function's /deliveries routes (shared/webhooks/inbox.ts). */
describe('webhook inbox (integration: the webhook function over HTTP, Firestore and Pub/Sub emulators)', () => {
  useStack();
  let fn: Served;
  let admin: string;
  let user: string;
  before(async () => (fn = await serve('webhook')));
  after(() => fn.close());
  beforeEach(async () => {
    const a = newApiKey({ tenantId: 'ops', userId: 'operator', scopes: ['admin'] });
    const u = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands', 'test-runs'] });
    await Promise.all([storeApiKey(a.record), storeApiKey(u.record)]);
    admin = a.key;
    user = u.key;
  });

  const deliver = async (jobId: number, event = 'EXECUTION') => {
    const body = JSON.stringify({ event, status: 'FINISHED', jobId, projectId: 7, goalId: 8 });
    const res = await request(fn.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, SECRET) }, body });
    assert.equal(res.status, 202, res.text);
    return res.body.deliveryId as string;
  };
  const get = (path: string, key = admin) => request(`${fn.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    request(`${fn.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('answers only API keys with the admin scope: 401 without a key, 403 with another scope', async () => {
    const none = await request(`${fn.url}/deliveries`);
    assert.equal(none.status, 401, none.text);
    assert.equal(none.body.error.code, 'unauthenticated');
    const other = await get('/deliveries', user);
    assert.equal(other.status, 403, other.text);
    assert.match(other.body.error.message, /'admin' scope/);
    assert.equal((await get('/deliveries')).status, 200);
    // Intake stays where it was: signatures, not keys.
    assert.equal((await request(fn.url)).status, 405);
  });

  it('lists newest first with status, event and time-window filters, and pages with a token', async () => {
    const a = await deliver(1);
    const b = await deliver(2, 'TEST');
    const windowStart = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const c = await deliver(3);
    // A delivery whose publish failed.
    const body = Buffer.from(JSON.stringify({ event: 'EXECUTION', status: 'FAILED', jobId: 4 }));
    const verified = { scheme: 'virtuoso' as const };
    const failedKey = dedupeKey(verified, body);
    const claim = await claimDelivery({ key: failedKey, verified, summary: summarize(JSON.parse(body.toString())), contentType: 'application/json', rawBody: body });
    assert.equal(claim.outcome, 'claimed');
    if (claim.outcome === 'claimed') await markFailed(failedKey, claim.version, 'Pub/Sub is temporarily unavailable');

    const all = await get('/deliveries');
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.body.items.map((d: { deliveryId: string }) => d.deliveryId), [failedKey, c, b, a]);
    assert.equal(all.body.nextPageToken, undefined);
    const [failed] = all.body.items;
    assert.deepEqual([failed.status, failed.lastError, failed.summary.event, failed.summary.status, failed.summary.executionId], ['failed', 'Pub/Sub is temporarily unavailable', 'EXECUTION', 'FAILED', '4']);
    assert.equal(failed.body, undefined, 'a listing carries no bodies');

    const ids = async (q: string) => ((await get(`/deliveries?${q}`)).body.items as { deliveryId: string }[]).map((d) => d.deliveryId);
    assert.deepEqual(await ids('status=failed'), [failedKey]);
    assert.deepEqual(await ids('status=published&event=EXECUTION'), [c, a]);
    assert.deepEqual(await ids('event=TEST'), [b]);
    assert.deepEqual(await ids(`since=${encodeURIComponent(windowStart)}&status=published`), [c]);
    assert.deepEqual(await ids(`until=${encodeURIComponent(windowStart)}`), [b, a]);

    // Pages of two: every delivery once, in order.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await get(`/deliveries?limit=2${token ? `&pageToken=${token}` : ''}`);
      assert.equal(page.status, 200, page.text);
      seen.push(...page.body.items.map((d: { deliveryId: string }) => d.deliveryId));
      token = page.body.nextPageToken;
    } while (token);
    assert.deepEqual(seen, [failedKey, c, b, a]);
  });

  it('refuses a malformed filter, limit or page token with 400', async () => {
    for (const q of ['status=done', 'since=yesterday', 'until=2026-13-45T00:00:00Z', 'limit=0', 'limit=201', 'limit=x', 'pageToken=garbage', `since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z`]) {
      const res = await get(`/deliveries?${q}`);
      assert.equal(res.status, 400, `${q}: ${res.text}`);
      assert.equal(res.body.error.code, 'bad_request');
    }
  });

  it('shows one delivery with its attempts and body; an unknown or malformed id is 404', async () => {
    const id = await deliver(11);
    const res = await get(`/deliveries/${id}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.deliveryId, id);
    assert.deepEqual(res.body.history.map((h: { outcome: string }) => h.outcome), ['claimed', 'published']);
    assert.equal(res.body.history[1].messageId, res.body.messageId);
    assert.deepEqual(JSON.parse(res.body.body), { event: 'EXECUTION', status: 'FINISHED', jobId: 11, projectId: 7, goalId: 8 });
    const keptMs = Date.parse(res.body.expiresAt) - Date.parse(res.body.publishedAt);
    assert.equal(keptMs, Math.max(getConfig().webhookDedupeHours, getConfig().webhookRetentionHours) * 3600_000);
    for (const bad of ['0'.repeat(64), 'not-an-id', 'x'.repeat(2000)]) {
      const missing = await get(`/deliveries/${bad}`);
      assert.equal(missing.status, 404, missing.text);
      assert.match(missing.body.error.message, /kept \d+ hours/);
    }
  });

  it('replays one delivery as a new event, once per Idempotency-Key', async () => {
    const id = await deliver(21);
    await pull(ARCHIVE);
    const first = await post(`/deliveries/${id}/replay`, undefined, { 'idempotency-key': 'replay-21' });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual([first.body.replay, first.body.repeated, first.body.eventId], [1, false, `${id}.replay-1`]);
    const again = await post(`/deliveries/${id}/replay`, undefined, { 'idempotency-key': 'replay-21' });
    assert.deepEqual([again.body.replay, again.body.repeated, again.body.messageId], [1, true, first.body.messageId]);
    const messages = await pull(ARCHIVE);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].attributes.replay, '1');
    assert.equal(messages[0].json.eventId, `${id}.replay-1`);
    const shown = await get(`/deliveries/${id}`);
    assert.deepEqual(shown.body.history.map((h: { outcome: string }) => h.outcome), ['claimed', 'published', 'replayed']);
    assert.equal(shown.body.replays, 1);
    // Another key is another replay.
    const second = await post(`/deliveries/${id}/replay`, undefined, { 'idempotency-key': 'replay-21-b' });
    assert.deepEqual([second.body.replay, second.body.repeated], [2, false]);
  });

  it('bulk replay: a dry run previews, a replay needs an Idempotency-Key, and each delivery is replayed once per request', async () => {
    const ids = [await deliver(31), await deliver(32), await deliver(33, 'TEST')];
    await pull(ARCHIVE);
    const filter = { event: 'EXECUTION', status: 'published' };

    const preview = await post('/deliveries/replay', { ...filter, dryRun: true });
    assert.equal(preview.status, 200, preview.text);
    assert.deepEqual([preview.body.dryRun, preview.body.matched, preview.body.truncated], [true, 2, false]);
    assert.deepEqual(preview.body.deliveries.map((d: { deliveryId: string }) => d.deliveryId), [ids[1], ids[0]]);
    assert.equal((await pull(ARCHIVE)).length, 0, 'a dry run publishes nothing');

    const unkeyed = await post('/deliveries/replay', filter);
    assert.equal(unkeyed.status, 400, unkeyed.text);
    assert.match(unkeyed.body.error.message, /Idempotency-Key/);

    // The same request twice at once, then once more: two replays in all, one per delivery.
    const key = { 'idempotency-key': 'bulk-1' };
    const [r1, r2] = await Promise.all([post('/deliveries/replay', filter, key), post('/deliveries/replay', filter, key)]);
    const r3 = await post('/deliveries/replay', filter, key);
    for (const r of [r1, r2, r3]) assert.equal(r.status, 200, r.text);
    assert.deepEqual(r3.body.replayed.map((x: { repeated: boolean }) => x.repeated), [true, true]);
    const messages = await pull(ARCHIVE);
    assert.deepEqual(messages.map((m) => m.json.eventId).sort(), [`${ids[0]}.replay-1`, `${ids[1]}.replay-1`].sort());

    const limited = await post('/deliveries/replay', { ...filter, limit: 1, dryRun: true });
    assert.deepEqual([limited.body.matched, limited.body.truncated], [1, true]);
    const bad = await post('/deliveries/replay', { event: 'EXECUTION', bogus: 1 }, key);
    assert.equal(bad.status, 422, bad.text);
  });

  it('npm run deliveries is a client of it: JSON on stdout, the refusal on stderr with exit code 1', async () => {
    const id = await deliver(41);
    // Asynchronously: the function answers from this very process.
    const script = (args: string[], key: string) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          ['--import', 'tsx', join(__dirname, '..', '..', 'scripts', 'webhook-deliveries.ts'), ...args],
          { env: { ...process.env, WEBHOOK_URL: fn.url, API_KEY: key }, encoding: 'utf8', timeout: 30_000 },
          (_err, stdout, stderr) => resolve({ status: child.exitCode, stdout, stderr }),
        );
      });
    const listed = await script(['list', '--status', 'published'], admin);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).items.map((d: { deliveryId: string }) => d.deliveryId), [id]);
    const shown = await script(['show', id], admin);
    assert.equal(JSON.parse(shown.stdout).deliveryId, id);
    const refused = await script(['list'], user);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^403: This API key lacks the 'admin' scope/);
    const usage = await script([], admin);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /usage: npm run deliveries/);
  });

  it('answers 405 for a method a route does not take, 404 for paths it does not have', async () => {
    assert.equal((await get('/deliveries/replay')).status, 405);
    assert.equal((await post('/deliveries')).status, 405);
    assert.equal((await get(`/deliveries/${'a'.repeat(64)}/replay/more`)).status, 404);
  });
});
