/**
 * The commands function end to end: the Functions Framework server, API keys in the Firestore
 * emulator, rate limits in Redis, history and sessions in Firestore, events on Pub/Sub, and the
 * Virtuoso sandbox over HTTP as Virtuoso.
 */
import assert from 'node:assert/strict';
import '../../functions/commands';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, rateLimit, storeApiKey } from '../../shared/auth';
import { cacheGet, cacheKeys } from '../../shared/cache';
import { getCommand, newCommandRecord, saveCommand } from '../../shared/commands/history';
import { collections, db } from '../../shared/firestore';
import { request, serve, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('commands (integration: framework, emulators, Redis, Virtuoso sandbox)', () => {
  useStack();
  let fn: Served;
  let sandbox: Sandbox;
  let key: string;
  let otherTenantKey: string;

  before(async () => {
    fn = await serve('commands');
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: 300 });
  });
  after(async () => {
    await fn.close();
    await sandbox.close();
  });
  beforeEach(async () => {
    clearKeyCache();
    const a = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] });
    const b = newApiKey({ tenantId: 'globex', userId: 'bob', scopes: ['commands'] });
    await Promise.all([storeApiKey(a.record), storeApiKey(b.record)]);
    key = a.key;
    otherTenantKey = b.key;
  });

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, as = key) =>
    request<Json>(`${fn.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${as}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const run = async (command: string, extra: object = {}, headers: Record<string, string> = {}) => {
    const res = await call('POST', '/commands', { command, ...extra }, headers);
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  it('records any output Virtuoso gives, even shapes Firestore cannot hold as fields', async () => {
    const principal = { keyHash: '', tenantId: 'acme', userId: 'alice', scopes: ['commands'] };
    const record = newCommandRecord(principal, 'get-execution-analysis', { command: 'get-execution-analysis 1' }, 'succeeded');
    // Arrays of arrays and reserved-looking keys: both refused by Firestore as document fields.
    record.output = { rows: [[1, 'a'], [2, ['b', 'c']]], __meta__: { ok: true }, empty: null };
    await saveCommand(record);
    const back = await getCommand(principal, record.id);
    assert.deepEqual(back.output, record.output);
    const viaApi = await call('GET', `/commands/${record.id}`);
    assert.equal(viaApi.status, 200, viaApi.text);
    assert.deepEqual(viaApi.body.output, record.output);
  });

  it('checks every command against its JSON Schema, in both forms, before any request', async () => {
    const before = sandbox.faults.received.length;
    const cases: [object, RegExp][] = [
      [{ command: 'create-goal 12 Checkout --colour red' }, /"path":"\/args\/colour","flag":"--colour","message":"unknown flag --colour; create-goal takes --url"/],
      [{ command: 'create-goal', args: { projectId: 12, name: 'Checkout', colour: 'red' } }, /unknown flag --colour/],
      [{ command: 'create-goal abc Checkout' }, /"flag":"<projectId>","message":"<projectId> must be a numeric id \(e\.g\. 12345 or project_12345\), not 'abc'"/],
      [{ command: 'create-goal', args: { projectId: 'abc', name: 'Checkout' } }, /<projectId> must be a numeric id/],
      [{ command: 'create-goal 12 Checkout --url ftp://x' }, /--url must be an http\(s\) URL, not 'ftp:\/\/x'/],
      [{ command: 'list-projects', args: { limit: 'many' } }, /--limit must be a whole number, not 'many'/],
      [{ command: 'monitor-execution', args: { executionId: 5, follow: 'yes' } }, /--follow must be a flag without a value/],
    ];
    for (const [body, message] of cases) {
      const res = await call('POST', '/commands', body);
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
      assert.ok(Array.isArray(res.body.error.details), 'details are a list of {path, flag, message}');
      assert.match(JSON.stringify(res.body.error.details), message, JSON.stringify(body));
    }
    assert.equal(sandbox.faults.received.length, before, 'nothing reached Virtuoso');
    // The structured form with numbers and the CLI form are one and the same command.
    const project = (await run('create-project "Schema shop"')).output;
    const viaJson = (await run('create-goal', { args: { projectId: Number(project.project_id), name: 'Json', url: 'https://a.example.com' } })).output;
    const viaCli = (await run(`create-goal ${project.project_id} Cli --url https://a.example.com`)).output;
    assert.equal(viaJson.status, 'success');
    assert.equal(viaCli.status, 'success');
  });

  it('monitor-execution: the state now, or followed until FINISHED with --follow', async () => {
    const project = (await run('create-project "Monitor shop"')).output;
    const goal = (await run(`create-goal ${project.project_id} G --url https://a.example.com`)).output;
    const execution = (await run(`execute-goal ${goal.goal_id}`)).output;
    const now = (await run(`monitor-execution ${execution.execution_id}`)).output;
    assert.equal(now.finished, false);
    assert.ok(['LAUNCHED', 'STARTED'].includes(now.status), now.status);
    assert.equal(now.outcome, null);
    const followed = (await run(`monitor-execution ${execution.execution_id} --follow --interval 1 --timeout 20`)).output;
    assert.equal(followed.finished, true);
    assert.equal(followed.status, 'FINISHED');
    assert.equal(followed.outcome, 'PASS');
    assert.ok(followed.polls >= 1);
    // execution-status is not served from the cache: it changed, so it shows the change.
    const status = (await run(`execution-status ${execution.execution_id}`)).output;
    assert.ok(status.journeys.every((j: Json) => j.status === 'FINISHED'));
    // A --timeout longer than one answer may wait is followed that long at most, and the answer says so.
    const tooLong = await call('POST', '/commands', { command: `monitor-execution ${execution.execution_id} --follow --timeout 500` });
    assert.equal(tooLong.status, 200, tooLong.text);
    assert.match(tooLong.body.notes[0], /--timeout 500 is longer than one answer may wait: followed for at most 100 s/);
  });

  it('builds project → goal → journey → checkpoint → steps with CLI strings, and records each command', async () => {
    const project = (await run('create-project "Web shop"')).output;
    const goal = (await run(`create-goal ${project.project_id} Checkout --url https://shop.example.com`)).output;
    const journey = (await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} "Guest checkout"`)).output;
    const checkpoint = (await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} "Pay"`)).output;
    assert.equal(checkpoint.status, 'success');

    const click = await run(`step-interact click ${checkpoint.checkpoint_id} "Pay \\"now\\"" 1`);
    assert.equal(click.status, 'succeeded');
    assert.equal(click.command, 'step-interact.click');
    assert.deepEqual(Object.keys(click.output).sort(), ['checkpointId', 'id', 'meta', 'position', 'selector', 'type']);
    assert.equal(click.output.selector, 'Pay "now"');
    const write = await run('step-interact.write', { checkpointId: Number(checkpoint.checkpoint_id), args: { selector: 'Email', text: 'a@b.c' } });
    assert.equal(write.output.type, 'WRITE');

    const steps = (await run(`list-checkpoint-steps ${checkpoint.checkpoint_id}`)).output;
    assert.deepEqual(steps.map((s: Json) => s.action), ['CLICK', 'WRITE']);
    assert.equal(sandbox.faults.count('POST', '/teststeps'), 2);

    const history = await call('GET', '/commands?limit=3');
    assert.equal(history.status, 200);
    assert.equal(history.body.items.length, 3);
    assert.equal(history.body.items[0].command, 'list-checkpoint-steps');
    assert.ok(history.body.nextPageToken);
    const next = await call('GET', `/commands?limit=3&pageToken=${history.body.nextPageToken}`);
    assert.equal(next.body.items[0].command, 'create-checkpoint');

    const events = await pull('command-events-archive');
    assert.ok(events.length >= 7);
    assert.ok(events.every((e) => e.json.eventType === 'command.executed'));
    assert.deepEqual(await cacheGet(cacheKeys.commandResult(click.id)), click);
    // Each created step's owner is recorded with the command (what a queued retry checks).
    for (const step of [click, write]) {
      const owner = (await db().collection(collections.createdSteps).doc(String(step.output.id)).get()).data();
      assert.equal(owner?.owner, step.id);
      assert.equal(owner?.tenantId, 'acme');
    }
  });

  it('sessions: steps without a checkpoint use it, and concurrent steps get distinct positions', async () => {
    const project = (await run('create-project Sess')).output;
    const goal = (await run(`create-goal ${project.project_id} G`)).output;
    const journey = (await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} J`)).output;
    const cp = (await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C`)).output;
    const session = await call('POST', '/sessions', { checkpointId: `cp_${cp.checkpoint_id}`, name: 'mine' });
    assert.equal(session.status, 201, session.text);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => run(`step-misc comment "note ${i}"`, { sessionId: session.body.id })));
    const positions = results.map((r) => r.output.position).sort((a, b) => a - b);
    assert.deepEqual(positions, Array.from({ length: 12 }, (_, i) => i + 1));
    assert.ok(results.every((r) => r.output.checkpointId === cp.checkpoint_id));
    assert.equal((await call('GET', `/sessions/${session.body.id}`)).body.nextPosition, 13);
    assert.equal((await call('GET', '/sessions')).body.items.length, 1);
    assert.equal((await call('GET', `/sessions/${session.body.id}`, undefined, {}, otherTenantKey)).status, 404);
    assert.equal((await call('DELETE', `/sessions/${session.body.id}`)).status, 204);
    assert.equal((await call('GET', `/sessions/${session.body.id}`)).status, 404);
  });

  it('Idempotency-Key: a repeat returns the original command and runs nothing twice; a different body is 409', async () => {
    const projectsBefore = sandbox.faults.count('POST', '/projects$');
    const first = await run('create-project Once', {}, { 'idempotency-key': 'k-1' });
    const again = await call('POST', '/commands', { command: 'create-project Once' }, { 'idempotency-key': 'k-1' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, first.id);
    assert.deepEqual(again.body.output, first.output);
    assert.equal(sandbox.faults.count('POST', '/projects$') - projectsBefore, 1, 'Virtuoso saw one create');
    const different = await call('POST', '/commands', { command: 'create-project Twice' }, { 'idempotency-key': 'k-1' });
    assert.equal(different.status, 409);
    // Another tenant's key space is its own.
    const other = await call('POST', '/commands', { command: 'create-project Other' }, { 'idempotency-key': 'k-1' }, otherTenantKey);
    assert.equal(other.status, 200, other.text);
  });

  it('authentication, tenancy, rate limits and validation errors are JSON with the right status', async () => {
    assert.equal((await request(`${fn.url}/commands`, { method: 'GET' })).status, 401);
    assert.equal((await call('GET', '/commands', undefined, {}, 'vak_' + 'x'.repeat(43))).status, 401);
    const noScope = newApiKey({ tenantId: 'acme', userId: 'carol', scopes: ['test-runs'] });
    await storeApiKey(noScope.record);
    assert.equal((await call('GET', '/commands', undefined, {}, noScope.key)).status, 403);

    const mine = await run('create-project Mine');
    assert.equal((await call('GET', `/commands/${mine.id}`)).status, 200);
    assert.equal((await call('GET', `/commands/${mine.id}`, undefined, {}, otherTenantKey)).status, 404);

    const bad = await call('POST', '/commands', { command: 'step-interact click', extra: 1 });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'unprocessable_entity');
    assert.equal((await call('POST', '/commands', { command: 'teleport now' })).status, 400);
    assert.equal((await call('POST', '/commands', { command: 'step-interact click "x"' })).status, 422, 'no checkpoint and no session');
    const unknownCheckpoint = await call('POST', '/commands', { command: 'step-interact click 987654 "x"' });
    assert.equal(unknownCheckpoint.status, 404, unknownCheckpoint.text);
    assert.ok(unknownCheckpoint.body.error.details.commandId);
    const failed = await call('GET', `/commands/${unknownCheckpoint.body.error.details.commandId}`);
    assert.equal(failed.body.status, 'failed');
    assert.equal((await call('GET', '/nowhere')).status, 404);
    assert.equal((await call('POST', '/commands', '{not json' as unknown as object)).status, 422);
  });

  it('maps Virtuoso trouble: duplicate names 409, an outage 503 with Retry-After', async () => {
    await run('create-project Dup');
    const dup = await call('POST', '/commands', { command: 'create-project Dup' });
    assert.equal(dup.status, 409, dup.text);
    sandbox.faults.next(10, '5xx', { method: 'POST', path: '/projects' });
    const down = await call('POST', '/commands', { command: 'create-project Later' });
    assert.equal(down.status, 503, down.text);
    assert.ok(Number(down.headers.get('retry-after')) >= 1);
    sandbox.faults.clear();
  });

  it('rate-limits per user and endpoint with 429 and RateLimit headers', async () => {
    // The per-minute window is the user's (alice) and the endpoint's, whichever key counts.
    const alice = { keyHash: 'another-key-of-alice', tenantId: 'acme', userId: 'alice', scopes: [] };
    for (let i = 0; i < 1000; i++) await rateLimit(alice, 'commands').catch(() => undefined);
    const res = await call('GET', '/commands');
    assert.equal(res.status, 429, res.text);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.equal(res.headers.get('ratelimit-remaining'), '0');
    // Sessions are another endpoint, with their own window.
    assert.equal((await call('GET', '/sessions')).status, 200);
  });

  it('batch: runs an ordered list, records each command, stops on the first error unless told otherwise', async () => {
    const project = (await run('create-project Batch')).output;
    const goal = (await run(`create-goal ${project.project_id} G`)).output;
    const journey = (await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} J`)).output;
    const cp = (await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C`)).output.checkpoint_id;
    const batch = await call('POST', '/commands/batch', {
      commands: [
        { command: `step-navigate to ${cp} https://shop.example.com` },
        { command: 'step-interact.click', checkpointId: cp, args: { selector: 'Buy' } },
        { command: 'step-interact click 987654 "nowhere"' },
        { command: `step-misc comment ${cp} never` },
      ],
    });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.body.command, 'batch');
    assert.equal(batch.body.output.status, 'partial');
    assert.deepEqual(batch.body.output.results.map((r: Json) => r.status), ['succeeded', 'succeeded', 'failed', 'skipped']);
    assert.equal(batch.body.output.results[2].error.status, 404);
    const steps = (await run(`list-checkpoint-steps ${cp}`)).output;
    assert.deepEqual(steps.map((st: Json) => st.action), ['NAVIGATE', 'CLICK']);
    assert.equal((await call('GET', `/commands/${batch.body.output.results[0].id}`)).body.status, 'succeeded');
    for (const r of batch.body.output.results.slice(0, 2)) {
      assert.equal((await db().collection(collections.createdSteps).doc(String(r.output.id)).get()).get('owner'), r.id);
    }

    const goOn = await call('POST', '/commands/batch', {
      stopOnError: false,
      commands: [{ command: 'step-interact click 987654 "nowhere"' }, { command: `step-misc comment ${cp} after` }],
    });
    assert.deepEqual(goOn.body.output.results.map((r: Json) => r.status), ['failed', 'succeeded']);

    const bad = await call('POST', '/commands/batch', { commands: [] });
    assert.equal(bad.status, 422);
  });

  it('answers in the CLI output formats: yaml, human, ai (json by default)', async () => {
    const project = (await run('create-project Formats')).output;
    const goal = (await run(`create-goal ${project.project_id} G`)).output;
    const journey = (await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} J`)).output;
    const cp = (await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C`)).output.checkpoint_id;

    const yamlRes = await request(`${fn.url}/commands?output=yaml`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: `step-interact click ${cp} "Buy"` }),
    });
    assert.equal(yamlRes.status, 200);
    assert.match(yamlRes.headers.get('content-type') ?? '', /^application\/yaml/);
    const { parse } = await import('yaml');
    const parsed = parse(yamlRes.text);
    assert.equal(parsed.command, 'step-interact.click');
    assert.equal(parsed.output.selector, 'Buy');

    const human = await request(`${fn.url}/commands/${parsed.id}?output=human`, { headers: { authorization: `Bearer ${key}` } });
    assert.match(human.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(human.text, new RegExp(`^Created CLICK step \\d+ at position last in checkpoint ${cp} \\(selector: Buy\\)`));

    const ai = await request<Json>(`${fn.url}/commands/${parsed.id}?output=ai`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(ai.body.result, 'success');
    assert.deepEqual(ai.body.context, { checkpoint_id: cp, position: 'last' });
    assert.equal(ai.body.step_details.type, 'CLICK');
    assert.deepEqual(ai.body.next_steps, [`list-checkpoint-steps ${cp}`]);

    const projectAi = await request<Json>(`${fn.url}/commands?output=ai`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'create-project NextSteps' }),
    });
    assert.match(projectAi.body.next_steps[0], /^create-goal \d+ /);
    assert.equal((await call('GET', `/commands/${parsed.id}?output=xml`)).status, 400);
  });
});
