import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../scripts/local-stack/processes';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { VirtuosoApiError, VirtuosoClient } from '../../shared/virtuoso/client';
import { verifyVirtuoso } from '../../shared/webhooks/signature';

const TOKEN = 'sandbox-token';
const SECRET = 'sandbox-webhook-secret';
const ORG = 2242;

interface Hook {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: { event: string; status: string; jobId: number; goalId: number; outcome?: string };
}

/** A local webhook receiver: records what the sandbox sends. */
async function receiver(): Promise<{ url: string; hooks: Hook[]; close(): Promise<void> }> {
  const hooks: Hook[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      hooks.push({ headers: req.headers, raw, body: JSON.parse(raw.toString()) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hooks,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const clue = (text: string) => ({ selectors: [{ type: 'GUESS', value: JSON.stringify({ clue: text }) }] });

interface Step { id: number; canonicalId: string; stepIndex: number; action: string; value: string; meta: Record<string, unknown>; target?: unknown }
interface Case { id: number; title: string; navigation: boolean; steps: Step[] }
interface JourneyWithCases { id: number; name: string; title: string; canonicalId: string; cases: Case[] }
interface CreatedStep { testStep: Step; checkpoint: { id: number; steps: Step[] } }

describe('Virtuoso sandbox (driven through the real VirtuosoClient over HTTP)', () => {
  let sandbox: Sandbox;
  let hooks: Awaited<ReturnType<typeof receiver>>;
  let api: VirtuosoClient;
  const client = (extra: Partial<ConstructorParameters<typeof VirtuosoClient>[0]> = {}) =>
    new VirtuosoClient({ baseUrl: sandbox.url, token: async () => TOKEN, baseBackoffMs: 5, attemptTimeoutMs: 2000, deadlineMs: 5000, ...extra });
  const fail = (p: Promise<unknown>) => p.then(() => assert.fail('expected an error'), (e: unknown) => {
    assert.ok(e instanceof VirtuosoApiError, String(e));
    return e;
  });

  /** A project, goal (Suite 1 + navigation checkpoint) and its snapshot. */
  async function goal(name: string, url = 'https://example.com/') {
    const project = await api.item<{ id: number }>('POST', '/projects', { body: { name, organizationId: ORG } });
    const g = await api.item<{ id: number; url: string }>('POST', '/goals', {
      body: { projectId: project.id, name: `${name} goal`, url, environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: {}, createFirstJourney: true },
    });
    const versions = await api.item<{ snapshots: { snapshotId: number }[] }>('GET', `/goals/${g.id}/versions`);
    const snapshotId = versions.snapshots[0].snapshotId;
    const journeys = await api.list<{ journey: { id: number; name: string; title: string }; lastChange: { date: string } }>('GET', '/testsuites/latest_status', { query: { snapshotId, goalId: g.id } });
    return { projectId: project.id, goalId: g.id, snapshotId, journeyId: journeys[0].value.journey.id, journeys };
  }
  const addStep = (checkpointId: number | string, parsedStep: unknown, stepIndex = 9999) =>
    api.item<CreatedStep>('POST', '/teststeps', { body: { checkpointId, stepIndex, parsedStep } });
  const checkpoint = (goalId: number, snapshotId: number, title: string) =>
    api.item<{ id: number; title: string }>('POST', '/testcases', { body: { goalId, snapshotId, title } });

  before(async () => {
    hooks = await receiver();
    sandbox = await startSandbox({ token: TOKEN, organizationId: ORG, executionMs: 450, webhookUrl: hooks.url, webhookSecret: SECRET });
    api = client();
  });
  after(async () => {
    await sandbox?.close();
    await hooks?.close();
  });

  it('requires the bearer token and answers unknown routes with JSON 404', async () => {
    const bad = (await fail(client({ token: async () => 'wrong' }).call('GET', '/goals/1'))) as VirtuosoApiError;
    assert.equal(bad.status, 401);
    assert.equal(bad.code, '401');
    const res = await fetch(`${sandbox.url}/nowhere`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 404);
    assert.deepEqual(((await res.json()) as { success: boolean }).success, false);
  });

  it('creates projects (201), refuses duplicate names with 1501, lists them as a map with total', async () => {
    const res = await fetch(`${sandbox.url}/projects`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Alpha', organizationId: ORG }),
    });
    assert.equal(res.status, 201);
    const alpha = ((await res.json()) as { item: { id: number; name: string } }).item;
    assert.equal(typeof alpha.id, 'number');
    await api.item('POST', '/projects', { body: { name: 'Beta', organizationId: ORG, description: 'b' } });

    const dup = (await fail(api.call('POST', '/projects', { body: { name: 'Alpha', organizationId: ORG } }))) as VirtuosoApiError;
    assert.equal(dup.status, 400);
    assert.equal(dup.code, '1501');
    assert.equal(dup.message, 'POST /projects: A project with the specified name already exists');

    const noOrg = (await fail(api.call('GET', '/projects'))) as VirtuosoApiError;
    assert.equal(noOrg.status, 400);
    assert.match(noOrg.message, /OrganizationId/);

    const list = await api.list<{ name: string }>('GET', '/projects', { query: { organizationId: ORG } });
    assert.deepEqual(list.filter((p) => ['Alpha', 'Beta'].includes(p.value.name)).map((p) => p.value.name), ['Alpha', 'Beta']);
    const page = (await api.call('GET', '/projects', { query: { organizationId: ORG, limit: 1, offset: 1 } })) as { map: Record<string, { name: string }>; total: number };
    assert.equal(Object.keys(page.map).length, 1);
    assert.ok(page.total >= 2);
  });

  it('creates a goal with its snapshot, journey "Suite 1" and the navigation checkpoint', async () => {
    const g = await goal('Goal project', 'https://shop.example.com/start');
    const goals = await api.list<{ name: string; url: string }>('GET', `/projects/${g.projectId}/goals`, { query: { archived: false } });
    assert.deepEqual(goals.map((x) => x.value.url), ['https://shop.example.com/start']);
    assert.equal(typeof g.snapshotId, 'number');
    assert.equal(g.journeys.length, 1);
    assert.equal(g.journeys[0].value.journey.name, 'Suite 1');
    assert.ok(g.journeys[0].value.lastChange.date);

    const journey = await api.item<JourneyWithCases>('GET', `/testsuites/${g.journeyId}`);
    assert.equal(journey.cases.length, 1);
    assert.equal(journey.cases[0].navigation, true);
    assert.deepEqual(journey.cases[0].steps.map((s) => [s.action, s.value, s.stepIndex]), [['NAVIGATE', 'https://shop.example.com/start', 0]]);

    const renamed = await api.item<{ name: string; title: string }>('PUT', `/testsuites/${g.journeyId}`, { body: { title: 'Checkout' } });
    assert.deepEqual([renamed.name, renamed.title], ['Suite 1', 'Checkout']);
    const second = await api.item<{ id: number; name: string; title: string }>('POST', '/testsuites', {
      query: { envelope: false }, body: { goalId: g.goalId, snapshotId: g.snapshotId, name: 'Second', title: 'Second', archived: false, draft: true },
    });
    assert.deepEqual([second.name, second.title], ['Suite 2', 'Second'], 'the system name stays "Suite N"');
  });

  it('creates checkpoints standalone and attaches them at 1-based positions', async () => {
    const g = await goal('Attach project');
    const a = await checkpoint(g.goalId, g.snapshotId, 'A');
    const b = await checkpoint(g.goalId, g.snapshotId, 'B');
    assert.equal((await api.item<{ title: string }>('GET', `/testcases/${a.id}`)).title, 'A');
    await api.item('POST', `/testsuites/${g.journeyId}/checkpoints/attach`, { body: { checkpointId: a.id, position: 2 } });
    const after = await api.item<JourneyWithCases>('POST', `/testsuites/${g.journeyId}/checkpoints/attach`, { body: { checkpointId: b.id, position: 2 } });
    assert.deepEqual(after.cases.map((c) => c.title), ['Navigation', 'B', 'A']);
    const missing = (await fail(api.call('POST', `/testsuites/${g.journeyId}/checkpoints/attach`, { body: { checkpointId: 12345, position: 2 } }))) as VirtuosoApiError;
    assert.deepEqual([missing.status, missing.code], [404, '2500']);
  });

  it('creates steps of several families at 0-based stepIndex (past the end or -1 appends), envelope or bare', async () => {
    const g = await goal('Steps project');
    const cp = await checkpoint(g.goalId, g.snapshotId, 'Steps');
    const quoted = 'button[data-label="Say \\"hi\\""]';
    const first = await addStep(cp.id, { action: 'CLICK', value: '', target: clue(quoted), meta: {} });
    assert.equal(typeof first.testStep.id, 'number');
    assert.equal(first.checkpoint.id, cp.id);
    await addStep(String(cp.id), { action: 'WRITE', value: 'me@example.com', target: clue('Email field'), meta: { append: false } }, -1);
    await addStep(cp.id, { action: 'COMMENT', value: 'first of all', meta: {} }, 0);
    const bare = await api.item<CreatedStep>('POST', '/teststeps', {
      query: { envelope: false },
      body: { checkpointId: cp.id, stepIndex: 999, parsedStep: { action: 'WAIT', value: '5000', element: { target: clue('Spinner') }, meta: { type: 'ELEMENT' } } },
    });
    assert.equal(typeof bare.testStep.id, 'number');
    const more = [
      { action: 'NAVIGATE', value: 'https://example.com/next', meta: { kind: 'NAVIGATE', type: 'URL', useNewTab: false } },
      { action: 'MOUSE', value: '', meta: { action: 'MOVE', x: 10, y: 20 } },
      { action: 'MOUSE', value: '', target: clue('Menu'), meta: { action: 'OVER' } },
      { action: 'KEY', value: 'ENTER', meta: {} },
      { action: 'PICK', value: '-1', target: clue('Country'), meta: { type: 'INDEX' } },
      { action: 'UPLOAD', value: 'https://files.example.com/a.pdf', target: clue('File input'), meta: {} },
      { action: 'SCROLL', value: '', meta: { type: 'OFFSET', x: 0, y: 1000 } },
      { action: 'WINDOW', value: '', meta: { type: 'RESIZE', dimension: { width: 1024, height: 768 } } },
      { action: 'SWITCH', value: '', meta: { type: 'PARENT_FRAME' } },
      { action: 'ASSERT_EQUALS', value: 'Total: 10', target: clue('Total'), meta: { kind: 'ASSERT' } },
      { action: 'ASSERT_VARIABLE', value: 'x', variable: 'price', meta: { kind: 'ASSERT_VARIABLE', type: 'EQUALS' } },
      { action: 'STORE', value: '', variable: 'link', target: clue('Link'), meta: { attribute: 'href' } },
      { action: 'ENVIRONMENT', value: 'v', meta: { type: 'ADD', name: 'session' } },
      { action: 'DISMISS', value: '', meta: { type: 'CONFIRM', action: 'OK' } },
      { action: 'EXECUTE', value: 'return 1', meta: { explicit: true, script: 'return 1' } },
    ];
    for (const s of more) await addStep(cp.id, s);

    const journey = await api.item<JourneyWithCases>('POST', `/testsuites/${g.journeyId}/checkpoints/attach`, { body: { checkpointId: cp.id, position: 2 } });
    const steps = journey.cases[1].steps;
    assert.deepEqual(steps.slice(0, 4).map((s) => s.action), ['COMMENT', 'CLICK', 'WRITE', 'WAIT']);
    assert.deepEqual(steps.map((s) => s.stepIndex), steps.map((_, i) => i));
    assert.equal(steps.length, 4 + more.length);
    const click = steps[1];
    assert.equal(JSON.parse((click.target as { selectors: { value: string }[] }).selectors[0].value).clue, quoted);
  });

  it('refuses unsupported parsedStep shapes with 2605, unknown checkpoints with 1403, and creates nothing', async () => {
    const g = await goal('Invalid project');
    const cp = await checkpoint(g.goalId, g.snapshotId, 'Invalid');
    const invalid: [string, unknown][] = [
      ['FILL', { action: 'FILL', value: 'x', target: clue('Name'), meta: {} }],
      ['TYPE', { action: 'TYPE', value: 'x', target: clue('Name'), meta: {} }],
      ['STORE meta.type VALUE', { action: 'STORE', value: '', variable: 'v', target: clue('Name'), meta: { type: 'VALUE' } }],
      ['SWITCH FRAME_BY_INDEX', { action: 'SWITCH', value: '0', meta: { type: 'FRAME_BY_INDEX' } }],
      ['SWITCH FRAME_NAME', { action: 'SWITCH', value: 'main', meta: { type: 'FRAME_NAME' } }],
      ['SWITCH DEFAULT_CONTENT', { action: 'SWITCH', value: '', meta: { type: 'DEFAULT_CONTENT' } }],
      ['NAVIGATE without url', { action: 'NAVIGATE', value: '', meta: { type: 'URL' } }],
      ['WINDOW CLOSE', { action: 'WINDOW', value: '', meta: { type: 'CLOSE' } }],
      ['CLICK without target', { action: 'CLICK', value: '', meta: {} }],
      // The CLI's string formatting: quotes inside the clue break the JSON.
      ['unescaped clue', { action: 'CLICK', value: '', target: { selectors: [{ type: 'GUESS', value: '{"clue":"a[title="x"]"}' }] }, meta: {} }],
      ['not an object', 'CLICK #go'],
    ];
    const before = sandbox.state.steps.size;
    for (const [what, parsedStep] of invalid) {
      const err = (await fail(addStep(cp.id, parsedStep))) as VirtuosoApiError;
      assert.deepEqual([err.status, err.code], [400, '2605'], what);
      assert.match(err.message, /Invalid test step command/, what);
    }
    const upload = (await fail(addStep(cp.id, { action: 'UPLOAD', value: '/home/me/a.pdf', target: clue('File'), meta: {} }))) as VirtuosoApiError;
    assert.equal(upload.status, 400);
    assert.match(upload.message, /Invalid file URL/);

    for (const id of [12345, 'cp_1753339083957415000']) {
      const err = (await fail(addStep(id, { action: 'COMMENT', value: 'x', meta: {} }))) as VirtuosoApiError;
      assert.deepEqual([err.status, err.code, err.message], [404, '1403', 'POST /teststeps: Project not found']);
    }
    assert.equal(sandbox.state.steps.size, before, 'no step was created');
  });

  it('returns canonicalId with a step and updates its properties only with the matching one (else 409)', async () => {
    const g = await goal('Update project');
    const journey = await api.item<JourneyWithCases>('GET', `/testsuites/${g.journeyId}`);
    const navId = journey.cases[0].steps[0].id;
    const step = await api.item<Step>('GET', `/teststeps/${navId}`);
    assert.equal(typeof step.canonicalId, 'string');
    assert.ok(step.canonicalId.length > 0);

    const updated = await api.item<Step>('PUT', `/teststeps/${navId}/properties`, {
      body: { ...step, value: 'https://example.org/new', meta: { kind: 'NAVIGATE', type: 'URL', useNewTab: true } },
    });
    assert.equal(updated.value, 'https://example.org/new');
    assert.equal((await api.item<Step>('GET', `/teststeps/${navId}`)).meta.useNewTab, true);

    const stale = (await fail(api.call('PUT', `/teststeps/${navId}/properties`, { body: { ...step, canonicalId: 'not-it', value: 'https://x.example' } }))) as VirtuosoApiError;
    assert.equal(stale.status, 409);
    const badShape = (await fail(api.call('PUT', `/teststeps/${navId}/properties`, { body: { ...step, value: '' } }))) as VirtuosoApiError;
    assert.equal(badShape.code, '2605');
  });

  it('keeps library checkpoints: add, get, rename, move and remove steps, attach to a journey', async () => {
    const g = await goal('Library project');
    const cp = await checkpoint(g.goalId, g.snapshotId, 'Login');
    const ids: number[] = [];
    for (const text of ['one', 'two', 'three']) ids.push((await addStep(cp.id, { action: 'COMMENT', value: text, meta: {} })).testStep.id);
    const lib = await api.item<{ id: number; name: string; steps: Step[] }>('POST', `/testcases/${cp.id}/add-to-library`);
    assert.equal(lib.name, 'Login');
    assert.equal(lib.steps.length, 3);
    await api.item('PUT', `/library/checkpoints/${lib.id}`, { body: { name: 'Log in' } });
    assert.equal(await api.call('POST', `/library/checkpoints/${lib.id}/steps/${ids[2]}/move`, { body: { position: 1 } }), undefined);
    await api.call('DELETE', `/library/checkpoints/${lib.id}/steps/${ids[1]}`);
    const got = await api.item<{ name: string; steps: Step[] }>('GET', `/library/checkpoints/${lib.id}`);
    assert.equal(got.name, 'Log in');
    assert.deepEqual(got.steps.map((s) => s.value), ['three', 'one']);
    const journey = await api.item<JourneyWithCases>('POST', `/testsuites/${g.journeyId}/checkpoints/attach`, { body: { libraryCheckpointId: lib.id, position: 2 } });
    assert.deepEqual(journey.cases.map((c) => c.title), ['Navigation', 'Log in']);
  });

  it('runs an execution LAUNCHED → STARTED → FINISHED with signed webhooks, and reports it', async () => {
    const g = await goal('Run project');
    const job = await api.item<{ id: number }>('POST', `/goals/${g.goalId}/snapshots/${g.snapshotId}/execute`, { body: { tags: [], suiteIds: [] } });
    assert.equal(typeof job.id, 'number', 'job ids are numbers');
    const mine = () => hooks.hooks.filter((h) => h.body.jobId === job.id);
    await until('three webhooks', () => (mine().length >= 3 ? true : undefined));
    assert.deepEqual(mine().map((h) => h.body.status), ['LAUNCHED', 'STARTED', 'FINISHED']);
    for (const h of mine()) {
      assert.match(String(h.headers['x-virtuoso-signature']), /^sha1=[0-9a-f]{40}$/);
      verifyVirtuoso(h.raw, h.headers['x-virtuoso-signature'] as string, [SECRET]); // throws on a mismatch
      assert.equal(h.body.event, 'EXECUTION');
      assert.equal(h.body.goalId, g.goalId);
    }
    assert.equal(mine()[2].body.outcome, 'PASS');

    const status = await api.list<{ status: string; outcome: string }>('GET', '/testsuites/latest_status', { query: { jobId: job.id, includeSequencesDetails: true, includeTrackingDetails: true } });
    assert.deepEqual(status.map((s) => [Number(s.id), s.value.status, s.value.outcome]), [[g.journeyId, 'FINISHED', 'PASS']]);
    const report = await api.list<{ outcome: string; cases: { outcome: string; steps: { outcome: string }[] }[] }>('GET', '/testsuites/execution', { query: { 'suiteId[]': [g.journeyId], jobId: job.id, includeJourneyDetails: true } });
    assert.equal(report[0].value.outcome, 'PASS');
    assert.equal(report[0].value.cases[0].steps[0].outcome, 'PASS');
  });

  it('fails a run whose step mentions FAIL and reports the failure per journey, checkpoint and step', async () => {
    const g = await goal('Failing project');
    const cp = await checkpoint(g.goalId, g.snapshotId, 'Breaks');
    const failing = await addStep(cp.id, { action: 'CLICK', value: '', target: clue('the FAIL button'), meta: {} });
    const after = await addStep(cp.id, { action: 'COMMENT', value: 'never reached', meta: {} });
    await api.item('POST', `/testsuites/${g.journeyId}/checkpoints/attach`, { body: { checkpointId: cp.id, position: 2 } });
    const journey = await api.item<JourneyWithCases>('GET', `/testsuites/${g.journeyId}`);
    const job = await api.item<{ id: number | string }>('POST', `/goals/${g.goalId}/snapshots/${g.snapshotId}/execute`, { body: { testSuiteCanonicalIds: [journey.canonicalId] } });

    const finished = await until('FINISHED', () => hooks.hooks.find((h) => h.body.jobId === job.id && h.body.status === 'FINISHED'));
    assert.equal(finished.body.outcome, 'FAIL');
    type Report = { outcome: string; cases: { id: number; outcome: string; steps: { id: number; stepExecutionId: number; outcome: string; error?: { message: string } }[] }[] };
    const [report] = await api.list<Report>('GET', '/testsuites/execution', { query: { 'suiteId[]': [g.journeyId], jobId: job.id } });
    assert.equal(report.value.outcome, 'FAIL');
    assert.deepEqual(report.value.cases.map((c) => c.outcome), ['PASS', 'FAIL']);
    const steps = report.value.cases[1].steps;
    assert.deepEqual(steps.map((s) => [s.id, s.outcome]), [[failing.testStep.id, 'FAIL'], [after.testStep.id, 'SKIP']]);
    assert.match(steps[0].error!.message, /FAIL button/);

    const detail = await api.item<{ outcome: string; error: { message: string } }>('GET', `/executions/${job.id}/suites/${g.journeyId}/cases/${cp.id}/steps/${failing.testStep.id}`);
    assert.equal(detail.outcome, 'FAIL');
    const analysis = await api.item<{ outcome: string; ai?: { summary: string } }>('GET', `/executions/analysis/${steps[0].stepExecutionId}`, { query: { includeAI: true } });
    assert.equal(analysis.outcome, 'FAIL');
    assert.ok(analysis.ai?.summary);
  });

  describe('faults', () => {
    afterEach(() => sandbox.faults.clear());

    it('429 with Retry-After: the client waits, retries the POST and the step is created exactly once', async () => {
      const g = await goal('Fault 429 project');
      const cp = await checkpoint(g.goalId, g.snapshotId, 'Rate limited');
      sandbox.faults.next(1, '429', { method: 'POST', path: /\/teststeps$/, retryAfterSeconds: 1 });
      const sentBefore = sandbox.faults.count('POST', /\/teststeps$/);
      const started = Date.now();
      const created = await addStep(cp.id, { action: 'COMMENT', value: 'once', meta: {} });
      assert.ok(Date.now() - started >= 950, 'waited for Retry-After');
      assert.equal(sandbox.faults.count('POST', /\/teststeps$/) - sentBefore, 2, 'refused once, then sent again');
      const stored = (await api.item<Case>('GET', `/testcases/${cp.id}`)).steps;
      assert.deepEqual(stored.map((s) => s.id), [created.testStep.id], 'created exactly once');
    });

    it('hang: the client times out; a 5xx set over the admin route is retried for GETs', async () => {
      const g = await goal('Fault hang project');
      sandbox.faults.next(5, 'hang', { path: `/goals/${g.goalId}$` });
      const started = Date.now();
      const err = (await fail(client({ attemptTimeoutMs: 150, deadlineMs: 500 }).call('GET', `/goals/${g.goalId}`))) as VirtuosoApiError;
      assert.equal(err.code, 'timeout');
      assert.ok(Date.now() - started < 1500);
      sandbox.faults.clear();

      const admin = sandbox.url.replace(/\/api$/, '/__sandbox/faults');
      const res = await fetch(admin, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rules: [{ kind: '5xx', status: 503, count: 2, method: 'GET', path: `/goals/${g.goalId}$` }] }) });
      assert.equal(res.status, 200);
      assert.equal((await api.item<{ id: number }>('GET', `/goals/${g.goalId}`)).id, g.goalId);
      assert.equal(sandbox.faults.received.filter((r) => r.path.endsWith(`/goals/${g.goalId}`) && r.answeredBy === '5xx').length, 2);
    });

    it('5xx-after: the step is created but the answer is lost; the client does not resend the POST', async () => {
      const g = await goal('Fault lost answer project');
      const cp = await checkpoint(g.goalId, g.snapshotId, 'Lost');
      sandbox.faults.next(1, '5xx-after', { method: 'POST', path: /\/teststeps$/, status: 502 });
      const sentBefore = sandbox.faults.count('POST', /\/teststeps$/);
      const err = (await fail(addStep(cp.id, { action: 'COMMENT', value: 'processed', meta: {} }))) as VirtuosoApiError;
      assert.deepEqual([err.status, err.retryable], [502, true]);
      assert.equal(sandbox.faults.count('POST', /\/teststeps$/) - sentBefore, 1);
      const stored = (await api.item<Case>('GET', `/testcases/${cp.id}`)).steps;
      assert.deepEqual(stored.map((s) => s.value), ['processed'], 'the caller must check before creating it again');
    });

    it('skip: the first N matching requests pass a rule by, whatever answers them', async () => {
      const g = await goal('Fault skip project');
      const cp = await checkpoint(g.goalId, g.snapshotId, 'Skipped');
      sandbox.faults.add({ kind: 'refuse', method: 'POST', path: /\/teststeps$/, skip: 1 });
      sandbox.faults.add({ kind: '5xx', method: 'POST', path: /\/teststeps$/, skip: 2, status: 500 });
      const first = await addStep(cp.id, { action: 'COMMENT', value: 'first', meta: {} });
      const second = (await fail(addStep(cp.id, { action: 'COMMENT', value: 'second', meta: {} }))) as VirtuosoApiError;
      const third = (await fail(addStep(cp.id, { action: 'COMMENT', value: 'third', meta: {} }))) as VirtuosoApiError;
      const fourth = await addStep(cp.id, { action: 'COMMENT', value: 'fourth', meta: {} });
      assert.equal(second.status, 400, 'the second is refused');
      assert.equal(third.status, 500, 'the third gets the 5xx, whose skip counted the refused one too');
      const stored = (await api.item<Case>('GET', `/testcases/${cp.id}`)).steps;
      assert.deepEqual(stored.map((s) => s.id), [first.testStep.id, fourth.testStep.id]);
    });

    it('latency applies to every API request', async () => {
      sandbox.faults.setLatency(300);
      const started = Date.now();
      await api.list('GET', '/projects', { query: { organizationId: ORG } });
      assert.ok(Date.now() - started >= 290, `took ${Date.now() - started} ms`);
    });
  });

  it('survives a webhook target that is down, and resets over the admin route', async () => {
    const down = await startSandbox({ executionMs: 60, webhookBackoffMs: 20, webhookUrl: `http://127.0.0.1:${await freePort()}/hook`, webhookSecret: SECRET });
    try {
      const c = new VirtuosoClient({ baseUrl: down.url, token: async () => 'any', baseBackoffMs: 5 });
      const project = await c.item<{ id: number }>('POST', '/projects', { body: { name: 'P', organizationId: 1 } });
      const g = await c.item<{ id: number }>('POST', '/goals', { body: { projectId: project.id, name: 'G', url: 'https://example.com', createFirstJourney: true } });
      const { snapshots } = await c.item<{ snapshots: { snapshotId: number }[] }>('GET', `/goals/${g.id}/versions`);
      const errors: unknown[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void errors.push(args);
      try {
        await c.item('POST', `/goals/${g.id}/snapshots/${snapshots[0].snapshotId}/execute`, { body: { goalId: g.id, snapshotId: snapshots[0].snapshotId } });
        await until('deliveries given up', () => (down.webhooks!.deliveries.length === 3 && down.webhooks!.deliveries.every((d) => d.outcome === 'failed') ? true : undefined), 8000);
      } finally {
        console.error = original;
      }
      assert.equal(errors.length, 3, 'each given-up delivery is logged');
      assert.equal((await c.item<{ id: number }>('GET', `/goals/${g.id}`)).id, g.id, 'still answering');

      const base = down.url.replace(/\/api$/, '');
      assert.equal((await fetch(`${base}/__sandbox/reset`, { method: 'POST' })).status, 200);
      const state = (await (await fetch(`${base}/__sandbox/state`)).json()) as { projects: unknown[]; received: unknown[] };
      assert.deepEqual([state.projects.length, state.received.length], [0, 0]);
    } finally {
      await down.close();
    }
  });
});
