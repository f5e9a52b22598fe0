/** The test-run report: report.json's RunReport (shared/testruns/report.ts) and junit.xml (shared/testruns/junit.ts). */
import assert from 'node:assert/strict';
import { Executions } from '../../scripts/virtuoso-sandbox/executions';
import { SandboxState } from '../../scripts/virtuoso-sandbox/model';
import { junitXml, xmlSafe } from '../../shared/testruns/junit';
import { buildReport, mapOutcome, type BuiltGoal, type BuiltJourney, type CheckpointReport, type Outcome as ReportOutcome, type ReportInput, type RunReport, type StepReport } from '../../shared/testruns/report';

// --- a tiny, strict XML 1.0 parser: well-formedness check plus a tree to assert on ----------------

interface XNode {
  name: string;
  attrs: Record<string, string>;
  children: XNode[];
  /** Character data directly inside this element, references decoded. */
  text: string;
}

function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}
function isNameStart(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || ch === '_' || ch === ':' || c >= 0xc0;
}
function isNameChar(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return isNameStart(ch) || (c >= 48 && c <= 57) || ch === '-' || ch === '.';
}
function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

function parseXml(xml: string): XNode {
  for (let i = 0; i < xml.length; i++) {
    const cp = xml.codePointAt(i)!;
    if (cp > 0xffff) i++;
    else if (cp >= 0xd800 && cp <= 0xdfff) throw new Error(`unpaired surrogate at ${i}`);
    if (!isXmlChar(cp)) throw new Error(`character U+${cp.toString(16)} not allowed in XML 1.0 at ${i}`);
  }
  let pos = 0;
  const fail = (msg: string): never => {
    throw new Error(`${msg} at ${pos}: ${JSON.stringify(xml.slice(pos, pos + 30))}`);
  };
  const startsWith = (s: string) => xml.startsWith(s, pos);
  const expect = (s: string) => {
    if (!startsWith(s)) fail(`expected ${JSON.stringify(s)}`);
    pos += s.length;
  };
  const skipSpace = () => {
    while (isSpace(xml[pos])) pos++;
  };
  const name = (): string => {
    const start = pos;
    if (pos >= xml.length || !isNameStart(xml[pos])) fail('expected a name');
    while (pos < xml.length && isNameChar(xml[pos])) pos++;
    return xml.slice(start, pos);
  };
  const reference = (): string => {
    expect('&');
    const end = xml.indexOf(';', pos);
    if (end < 0) fail('unterminated reference');
    const ref = xml.slice(pos, end);
    pos = end + 1;
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (ref in named) return named[ref];
    let cp = NaN;
    if (ref.startsWith('#x')) cp = /^[0-9a-fA-F]+$/.test(ref.slice(2)) ? parseInt(ref.slice(2), 16) : NaN;
    else if (ref.startsWith('#')) cp = /^[0-9]+$/.test(ref.slice(1)) ? parseInt(ref.slice(1), 10) : NaN;
    if (Number.isNaN(cp) || !isXmlChar(cp)) fail(`bad reference &${ref};`);
    return String.fromCodePoint(cp);
  };
  const misc = () => {
    for (;;) {
      skipSpace();
      if (startsWith('<!--')) {
        const end = xml.indexOf('-->', pos + 4);
        if (end < 0) fail('unterminated comment');
        if (xml.slice(pos + 4, end).includes('--')) fail('"--" inside a comment');
        pos = end + 3;
      } else if (startsWith('<?') && !startsWith('<?xml ')) {
        const end = xml.indexOf('?>', pos);
        if (end < 0) fail('unterminated processing instruction');
        pos = end + 2;
      } else return;
    }
  };
  const element = (): XNode => {
    expect('<');
    const node: XNode = { name: name(), attrs: {}, children: [], text: '' };
    for (;;) {
      const hadSpace = isSpace(xml[pos]);
      skipSpace();
      if (startsWith('/>')) {
        pos += 2;
        return node;
      }
      if (startsWith('>')) {
        pos++;
        break;
      }
      if (!hadSpace) fail('expected whitespace before an attribute');
      const attr = name();
      if (attr in node.attrs) fail(`duplicate attribute ${attr}`);
      skipSpace();
      expect('=');
      skipSpace();
      const quote = xml[pos];
      if (quote !== '"' && quote !== "'") fail('expected a quoted attribute value');
      pos++;
      let value = '';
      while (xml[pos] !== quote) {
        if (pos >= xml.length) fail('unterminated attribute value');
        if (xml[pos] === '<') fail('"<" in an attribute value');
        if (xml[pos] === '&') value += reference();
        else {
          value += isSpace(xml[pos]) ? ' ' : xml[pos]; // attribute-value normalisation: literal whitespace → space
          pos++;
        }
      }
      pos++;
      node.attrs[attr] = value;
    }
    // content
    for (;;) {
      if (pos >= xml.length) fail(`unclosed <${node.name}>`);
      if (startsWith('</')) {
        pos += 2;
        const closing = name();
        if (closing !== node.name) fail(`</${closing}> closes <${node.name}>`);
        skipSpace();
        expect('>');
        return node;
      }
      if (startsWith('<!--')) misc();
      else if (startsWith('<![CDATA[')) {
        const end = xml.indexOf(']]>', pos);
        if (end < 0) fail('unterminated CDATA');
        node.text += xml.slice(pos + 9, end);
        pos = end + 3;
      } else if (startsWith('<?')) misc();
      else if (startsWith('<')) node.children.push(element());
      else if (startsWith('&')) node.text += reference();
      else {
        if (startsWith(']]>')) fail('"]]>" in character data');
        node.text += xml[pos++];
      }
    }
  };

  if (startsWith('<?xml ')) {
    const end = xml.indexOf('?>');
    if (end < 0) fail('unterminated XML declaration');
    pos = end + 2;
  }
  misc();
  const root = element();
  misc();
  if (pos !== xml.length) fail('content after the root element');
  return root;
}

/** Descendants (depth first) named `name`. */
function all(node: XNode, name: string): XNode[] {
  const out: XNode[] = [];
  const walk = (n: XNode) => {
    for (const c of n.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(node);
  return out;
}
function child(node: XNode, name: string): XNode | undefined {
  return node.children.find((c) => c.name === name);
}
function properties(suite: XNode): Record<string, string> {
  return Object.fromEntries(all(suite, 'property').map((p) => [p.attrs.name, p.attrs.value]));
}

/** Every count attribute agrees with the elements actually there. */
function assertCountsConsistent(root: XNode, report: RunReport): void {
  assert.equal(root.name, 'testsuites');
  const suites = root.children.filter((c) => c.name === 'testsuite');
  const sum = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  suites.forEach((suite, i) => {
    const cases = suite.children.filter((c) => c.name === 'testcase');
    const n = {
      tests: cases.length,
      failures: cases.filter((c) => child(c, 'failure')).length,
      errors: cases.filter((c) => child(c, 'error')).length,
      skipped: cases.filter((c) => child(c, 'skipped')).length,
    };
    for (const k of ['tests', 'failures', 'errors', 'skipped'] as const) {
      assert.equal(suite.attrs[k], String(n[k]), `testsuite ${i} ${k}`);
      sum[k] += n[k];
    }
    assert.equal(suite.attrs.id, String(i));
    for (const c of cases) assert.ok(['failure', 'error', 'skipped'].filter((t) => child(c, t)).length <= 1, 'at most one outcome element');
  });
  for (const k of ['tests', 'failures', 'errors', 'skipped'] as const) assert.equal(root.attrs[k], String(sum[k]), `testsuites ${k}`);
  assert.equal(sum.tests, report.counts.checkpoints);
  assert.equal(sum.failures, report.counts.failed);
  assert.equal(sum.errors, report.counts.unknown);
  assert.equal(sum.skipped, report.counts.skipped);
  assert.equal(report.counts.checkpoints, report.counts.passed + report.counts.failed + report.counts.skipped + report.counts.unknown);
}

// --- fixtures: execution reports in the sandbox's shape (scripts/virtuoso-sandbox/executions.ts) --------

const APP = 'https://app.virtuoso.qa';
const START = '2025-03-01T10:00:00.000Z';
const END = '2025-03-01T10:00:42.500Z';

type Outcome = 'PASS' | 'FAIL' | 'SKIP' | null | string;
const xstep = (id: number | string, action: string, value: string, outcome: Outcome, error?: string) => ({
  id, stepExecutionId: 90000 + Number(id), canonicalId: `canon-${id}`, action, value, outcome, ...(error ? { error: { message: error } } : {}),
});
const xcase = (id: number | string, title: string, outcome: Outcome, steps: unknown[]) => ({ id, title, outcome, steps });
const xjourney = (id: number | string, title: string, outcome: Outcome, cases: unknown[]) => ({
  id, jobId: 8001, name: 'Suite 1', title, canonicalId: `journey-canon-${id}`, status: 'FINISHED', outcome, startDate: START, endDate: END, cases,
});
const nav = (outcome: Outcome = 'PASS') => xcase(5001, 'Navigation', outcome, [xstep(6001, 'NAVIGATE', 'https://shop.example.com', outcome)]);

/** Goal "Checkout": journey 4001 "Login" (checkpoints "Open login", "Submit"), journey 4002 "Logout" ("Log out"). */
function definition(): BuiltGoal[] {
  return [
    {
      name: 'Checkout', goalId: '2001', snapshotId: '3001', jobId: '8001',
      journeys: [
        {
          name: 'Login', journeyId: '4001',
          checkpoints: [
            { name: 'Open login', checkpointId: '5002', steps: [{ stepId: '6002', label: 'click: Login button' }, { stepId: '6003', label: 'write: Email = a@b.c' }] },
            { name: 'Submit', checkpointId: '5003', steps: [{ stepId: '6004', label: 'click: Submit' }, { stepId: '6005', label: 'assert: Welcome' }] },
          ],
        },
        { name: 'Logout', journeyId: '4002', checkpoints: [{ name: 'Log out', checkpointId: '5004', steps: [{ stepId: '6006', label: 'click: Log out' }] }] },
      ],
    },
  ];
}

function input(executions: ReportInput['executions'], goals: BuiltGoal[] = definition()): ReportInput {
  return {
    run: { id: 'run_123', name: 'Nightly checkout', createdAt: '2025-03-01T09:59:00.000Z', startedAt: '2025-03-01T09:59:30.000Z', finishedAt: '2025-03-01T10:01:00.000Z', appUrl: `${APP}/` },
    projectId: '1001',
    goals,
    executions,
  };
}

function passingExecution(): Record<string, unknown> {
  return {
    4001: xjourney(4001, 'Login', 'PASS', [
      nav(),
      xcase(5002, 'Open login', 'PASS', [xstep(6002, 'CLICK', '', 'PASS'), xstep(6003, 'WRITE', 'a@b.c', 'PASS')]),
      xcase(5003, 'Submit', 'PASS', [xstep(6004, 'CLICK', '', 'PASS'), xstep(6005, 'ASSERT_EXISTS', '', 'PASS')]),
    ]),
    4002: xjourney(4002, 'Logout', 'PASS', [nav(), xcase(5004, 'Log out', 'PASS', [xstep(6006, 'CLICK', '', 'PASS')])]),
  };
}

/** Journey 4001 fails at "click: Submit"; the step after it and the journey's later checkpoints are skipped. */
function failingExecution(): Record<string, unknown> {
  return {
    4001: xjourney(4001, 'Login', 'FAIL', [
      nav(),
      xcase(5002, 'Open login', 'PASS', [xstep(6002, 'CLICK', '', 'PASS'), xstep(6003, 'WRITE', 'a@b.c', 'PASS')]),
      xcase(5003, 'Submit', 'FAIL', [
        xstep(6004, 'CLICK', '', 'FAIL', 'Could not find an element matching "Submit"'),
        xstep(6005, 'ASSERT_EXISTS', '', 'SKIP'),
      ]),
      xcase(5005, 'Extra checks', 'SKIP', [xstep(6007, 'ASSERT_EXISTS', 'Footer', 'SKIP')]),
    ]),
    4002: xjourney(4002, 'Logout', 'PASS', [nav(), xcase(5004, 'Log out', 'PASS', [xstep(6006, 'CLICK', '', 'PASS')])]),
  };
}

function failingDefinition(): BuiltGoal[] {
  const goals = definition();
  goals[0].journeys[0].checkpoints.push({ name: 'Extra checks', checkpointId: '5005', steps: [{ stepId: '6007', label: 'assert: Footer' }] });
  return goals;
}

const journeyOf = (r: RunReport, name: string) => r.goals.flatMap((g) => g.journeys).find((j) => j.name === name)!;
const checkpointOf = (r: RunReport, journey: string, name: string) => journeyOf(r, journey).checkpoints.find((c) => c.name === name)!;
const suiteOf = (root: XNode, name: string) => root.children.find((s) => s.name === 'testsuite' && s.attrs.name === name)!;
const caseOf = (suite: XNode, name: string) => suite.children.find((c) => c.name === 'testcase' && c.attrs.name === name)!;

describe('test-run report', () => {
  describe('buildReport', () => {
    it('reports a passing run with names from the definition, Virtuoso ids, links and counts', () => {
      const report = buildReport(input({ 8001: passingExecution() }));
      assert.equal(report.outcome, 'passed');
      assert.deepEqual(report.run, {
        id: 'run_123', name: 'Nightly checkout', createdAt: '2025-03-01T09:59:00.000Z', startedAt: '2025-03-01T09:59:30.000Z', finishedAt: '2025-03-01T10:01:00.000Z',
      });
      assert.equal(report.durationMs, 90_000);
      assert.equal(report.projectLink, 'https://app.virtuoso.qa/#/project/1001');
      // 2 journeys; Login: Navigation + 2 built, Logout: Navigation + 1 built.
      assert.deepEqual(report.counts, { journeys: 2, checkpoints: 5, steps: 7, passed: 5, failed: 0, skipped: 0, unknown: 0 });
      assert.deepEqual(report.stepCounts, { passed: 7, failed: 0, skipped: 0, unknown: 0 });

      const goal = report.goals[0];
      assert.deepEqual([goal.name, goal.goalId, goal.snapshotId, goal.jobId, goal.outcome, goal.link], ['Checkout', '2001', '3001', '8001', 'passed', 'https://app.virtuoso.qa/#/goal/2001']);
      const login = goal.journeys[0];
      assert.deepEqual(
        [login.name, login.journeyId, login.canonicalId, login.virtuosoName, login.virtuosoTitle, login.builtByRun, login.outcome, login.link, login.durationMs],
        ['Login', '4001', 'journey-canon-4001', 'Suite 1', 'Login', true, 'passed', 'https://app.virtuoso.qa/#/journey/4001', 42_500],
      );
      assert.deepEqual(login.checkpoints.map((c) => [c.name, c.checkpointId, c.builtByRun, c.outcome]), [
        ['Navigation', '5001', false, 'passed'],
        ['Open login', '5002', true, 'passed'],
        ['Submit', '5003', true, 'passed'],
      ]);
      const open = login.checkpoints[1];
      assert.equal(open.link, 'https://app.virtuoso.qa/#/checkpoint/5002');
      assert.deepEqual(open.steps, [
        { position: 1, label: 'click: Login button', stepId: '6002', builtByRun: true, outcome: 'passed', canonicalId: 'canon-6002', stepExecutionId: '96002', action: 'CLICK', value: '', virtuosoOutcome: 'PASS' },
        { position: 2, label: 'write: Email = a@b.c', stepId: '6003', builtByRun: true, outcome: 'passed', canonicalId: 'canon-6003', stepExecutionId: '96003', action: 'WRITE', value: 'a@b.c', virtuosoOutcome: 'PASS' },
      ]);
      // The NAVIGATE step Virtuoso put in the navigation checkpoint is named `ACTION value`.
      assert.deepEqual(
        [login.checkpoints[0].steps[0].label, login.checkpoints[0].steps[0].builtByRun],
        ['NAVIGATE https://shop.example.com', false],
      );
      // report.json is plain JSON.
      assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
    });

    it('fails a checkpoint on a failing step, naming the step label and its error', () => {
      const report = buildReport(input({ 8001: failingExecution() }, failingDefinition()));
      assert.equal(report.outcome, 'failed');
      const submit = checkpointOf(report, 'Login', 'Submit');
      assert.equal(submit.outcome, 'failed');
      assert.deepEqual(submit.failure, {
        stepLabel: 'click: Submit', stepId: '6004', stepPosition: 1, action: 'CLICK', message: 'Could not find an element matching "Submit"',
      });
      assert.deepEqual(submit.steps.map((s) => [s.label, s.outcome]), [['click: Submit', 'failed'], ['assert: Welcome', 'skipped']]);
      assert.equal(journeyOf(report, 'Login').outcome, 'failed');
      assert.equal(journeyOf(report, 'Logout').outcome, 'passed');
      assert.equal(report.goals[0].outcome, 'failed');
      assert.deepEqual(report.counts, { journeys: 2, checkpoints: 6, steps: 8, passed: 4, failed: 1, skipped: 1, unknown: 0 });
      assert.deepEqual(report.stepCounts, { passed: 5, failed: 1, skipped: 2, unknown: 0 });

      const root = parseXml(junitXml(report));
      assertCountsConsistent(root, report);
      const testcase = caseOf(suiteOf(root, 'Checkout / Login'), 'Submit');
      const failure = child(testcase, 'failure')!;
      assert.equal(failure.attrs.message, 'click: Submit: Could not find an element matching "Submit"');
      assert.equal(failure.attrs.type, 'CLICK');
      assert.match(failure.text, /Failing step: 1\. click: Submit/);
      assert.match(failure.text, /Error: Could not find an element matching "Submit"/);
      assert.match(failure.text, /Checkpoint: https:\/\/app\.virtuoso\.qa\/#\/checkpoint\/5003/);
      assert.equal(testcase.attrs.classname, 'Checkout / Login');
      assert.equal(root.attrs.failures, '1');
    });

    it('fails a checkpoint when a non-skipped step failed even if Virtuoso passed it, and when Virtuoso failed it without a failing step', () => {
      const exec = passingExecution();
      const login = exec[4001] as ReturnType<typeof xjourney>;
      login.cases[1] = xcase(5002, 'Open login', 'PASS', [xstep(6002, 'CLICK', '', 'FAIL', 'optional step broke'), xstep(6003, 'WRITE', 'a@b.c', 'PASS')]);
      login.cases[2] = { ...xcase(5003, 'Submit', 'FAIL', [xstep(6004, 'CLICK', '', 'PASS'), xstep(6005, 'ASSERT_EXISTS', '', 'PASS')]), error: { message: 'Timed out' } };
      const report = buildReport(input({ 8001: exec }));
      const open = checkpointOf(report, 'Login', 'Open login');
      assert.equal(open.outcome, 'failed');
      assert.equal(open.failure?.message, 'optional step broke');
      const submit = checkpointOf(report, 'Login', 'Submit');
      assert.equal(submit.outcome, 'failed');
      assert.deepEqual(submit.failure, { message: 'Timed out' });
      const failure = child(caseOf(suiteOf(parseXml(junitXml(report)), 'Checkout / Login'), 'Submit'), 'failure')!;
      assert.deepEqual(failure.attrs, { message: 'Timed out', type: 'FAIL' });
    });

    it('reports the checkpoints skipped after a failure as skipped', () => {
      const report = buildReport(input({ 8001: failingExecution() }, failingDefinition()));
      const extra = checkpointOf(report, 'Login', 'Extra checks');
      assert.equal(extra.outcome, 'skipped');
      assert.equal(extra.failure, undefined);
      assert.deepEqual(extra.steps.map((s) => s.outcome), ['skipped']);

      const root = parseXml(junitXml(report));
      const suite = suiteOf(root, 'Checkout / Login');
      assert.deepEqual(
        suite.children.filter((c) => c.name === 'testcase').map((c) => [c.attrs.name, c.children.map((x) => x.name).join(',')]),
        [
          ['Navigation', 'system-out'],
          ['Open login', 'system-out'],
          ['Submit', 'failure,system-out'],
          ['Extra checks', 'skipped,system-out'],
        ],
      );
      assert.deepEqual([suite.attrs.tests, suite.attrs.failures, suite.attrs.errors, suite.attrs.skipped], ['4', '1', '0', '1']);
      assert.match(child(caseOf(suite, 'Extra checks'), 'system-out')!.text, /\[SKIP\] 1\. assert: Footer \[step 6007\]/);
      assertCountsConsistent(root, report);
    });

    it('keeps the shared navigation checkpoint in a second journey as not built by the run, and fails the run on it', () => {
      const exec = passingExecution();
      (exec[4002] as ReturnType<typeof xjourney>).cases[0] = nav('FAIL');
      const navFail = (exec[4002] as ReturnType<typeof xjourney>).cases[0] as ReturnType<typeof xcase>;
      navFail.steps[0] = xstep(6001, 'NAVIGATE', 'https://shop.example.com', 'FAIL', 'net::ERR_NAME_NOT_RESOLVED');
      const report = buildReport(input({ 8001: exec }));
      const logout = journeyOf(report, 'Logout');
      assert.deepEqual(logout.checkpoints.map((c) => [c.name, c.checkpointId, c.builtByRun, c.outcome]), [
        ['Navigation', '5001', false, 'failed'],
        ['Log out', '5004', true, 'passed'],
      ]);
      assert.deepEqual(logout.checkpoints[0].failure, {
        stepLabel: 'NAVIGATE https://shop.example.com', stepId: '6001', stepPosition: 1, action: 'NAVIGATE', message: 'net::ERR_NAME_NOT_RESOLVED',
      });
      // The same checkpoint in the first journey passed there.
      assert.equal(checkpointOf(report, 'Login', 'Navigation').outcome, 'passed');
      assert.equal(report.outcome, 'failed');
      const failure = child(caseOf(suiteOf(parseXml(junitXml(report)), 'Checkout / Logout'), 'Navigation'), 'failure')!;
      assert.equal(failure.attrs.message, 'NAVIGATE https://shop.example.com: net::ERR_NAME_NOT_RESOLVED');
      assert.equal(failure.attrs.type, 'NAVIGATE');
    });

    it('reports the checkpoints of a journey missing from the execution as unknown with an error', () => {
      const exec = passingExecution();
      delete exec[4002];
      const report = buildReport(input({ 8001: exec }));
      const logout = journeyOf(report, 'Logout');
      assert.equal(logout.outcome, 'unknown');
      assert.equal(logout.error, 'Journey 4002 is not in the execution report of job 8001');
      assert.deepEqual(logout.checkpoints.map((c) => [c.name, c.outcome, c.error]), [['Log out', 'unknown', 'Journey 4002 is not in the execution report of job 8001']]);
      assert.deepEqual(logout.checkpoints[0].steps.map((s) => [s.label, s.outcome]), [['click: Log out', 'unknown']]);
      assert.equal(report.goals[0].outcome, 'unknown');
      assert.equal(report.outcome, 'failed');
      assert.equal(report.counts.unknown, 1);

      const root = parseXml(junitXml(report));
      assertCountsConsistent(root, report);
      const suite = suiteOf(root, 'Checkout / Logout');
      const error = child(caseOf(suite, 'Log out'), 'error')!;
      assert.deepEqual(error.attrs, { message: 'Journey 4002 is not in the execution report of job 8001', type: 'UNKNOWN' });
      assert.equal(child(suite, 'system-err')!.text, 'Journey 4002 is not in the execution report of job 8001');
      assert.equal(root.attrs.errors, '1');
    });

    it('reports unknown when the goal never ran, its job has no report, or a built checkpoint or step is not in it', () => {
      const goals = definition();
      goals.push({ name: 'Search', goalId: '2002', journeys: [{ name: 'Find', journeyId: '4010', checkpoints: [{ name: 'Query', checkpointId: '5010', steps: [] }] }] });
      goals.push({ name: 'Cart', goalId: '2003', jobId: '8003', journeys: [{ name: 'Add', journeyId: '4020', checkpoints: [{ name: 'Add item', steps: [] }] }] });
      const exec = passingExecution();
      // Virtuoso lists "Submit" as passed without its assertion step, and does not list "Log out" at all.
      (exec[4001] as ReturnType<typeof xjourney>).cases[2] = xcase(5003, 'Submit', 'PASS', [xstep(6004, 'CLICK', '', 'PASS')]);
      (exec[4002] as ReturnType<typeof xjourney>).cases.pop();
      const report = buildReport(input({ 8001: exec }, goals));

      assert.equal(report.goals[1].error, 'The goal was not executed (no job id)');
      assert.equal(report.goals[1].journeys[0].checkpoints[0].error, 'The goal was not executed (no job id)');
      assert.equal(report.goals[2].error, 'No execution report for job 8003');
      assert.equal(report.goals[2].journeys[0].checkpoints[0].outcome, 'unknown');
      const submit = checkpointOf(report, 'Login', 'Submit');
      assert.equal(submit.outcome, 'unknown');
      assert.equal(submit.error, 'Virtuoso reported the checkpoint as passed but not these steps: assert: Welcome');
      assert.deepEqual(submit.steps.map((s) => [s.label, s.outcome, s.error]), [
        ['click: Submit', 'passed', undefined],
        ['assert: Welcome', 'unknown', 'Step 6005 is not in the execution report'],
      ]);
      assert.equal(checkpointOf(report, 'Logout', 'Log out').error, 'Checkpoint 5004 is not in the execution report');
      assert.deepEqual(report.counts, { journeys: 4, checkpoints: 7, steps: 7, passed: 3, failed: 0, skipped: 0, unknown: 4 });
      assert.equal(report.outcome, 'failed');
      assertCountsConsistent(parseXml(junitXml(report)), report);
    });

    it('matches numeric and string ids alike, whatever the map is keyed by, and reads outcomes in any case', () => {
      const exec: Record<string, unknown> = {
        // Keyed by something other than the journey id: found by its id field, a numeric string with spaces.
        first: { ...xjourney(' 4001 ', 'Login', 'pass', [
          xcase('5001', 'Navigation', 'Pass', [xstep('6001', 'NAVIGATE', 'https://shop.example.com', 'pass')]),
          { checkpointId: 5002, title: 'Open login', outcome: 'passed', steps: [{ stepId: 6002, id: 99, action: 'CLICK', outcome: 'Pass' }, { stepId: '6003', action: 'WRITE', outcome: 'PASS' }] },
          xcase(5003, 'Submit', 'skipped', [xstep(6004, 'CLICK', '', 'Skip'), xstep(6005, 'ASSERT_EXISTS', '', 'SKIPPED')]),
        ]) },
        4002: { ...xjourney(4002, 'Logout', 'PASS', [xcase(5004, 'Log out', 'PASS', [xstep(6006, 'CLICK', '', 'PASS')])]), id: undefined },
        junk: 'not an object',
        nothing: null,
      };
      const report = buildReport(input({ 8001: exec }));
      assert.deepEqual(report.goals[0].journeys.map((j) => [j.name, j.journeyId, j.outcome, j.builtByRun]), [
        ['Login', '4001', 'passed', true],
        ['Logout', '4002', 'passed', true],
      ]);
      assert.deepEqual(checkpointOf(report, 'Login', 'Open login').steps.map((s) => [s.stepId, s.outcome]), [['6002', 'passed'], ['6003', 'passed']]);
      assert.equal(checkpointOf(report, 'Login', 'Submit').outcome, 'skipped');
      assert.equal(report.outcome, 'passed');

      // The same execution with every id a number and every key a number-string gives the same report.
      const numeric = buildReport(input({ 8001: passingExecution() }));
      const stringy = buildReport(input({ 8001: JSON.parse(JSON.stringify(passingExecution(), (_k, v) => (typeof v === 'number' ? String(v) : v))) }));
      assert.deepEqual(stringy, numeric);
    });

    it('maps outcomes: PASS, FAIL, SKIP/SKIPPED (any case); anything else is unknown and fails the run', () => {
      assert.deepEqual(['PASS', 'pass', 'FAIL', ' fail ', 'SKIP', 'Skipped'].map(mapOutcome), ['passed', 'passed', 'failed', 'failed', 'skipped', 'skipped']);
      assert.deepEqual(['ERROR', 'RUNNING', '', null, undefined, 1].map(mapOutcome), ['unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown']);

      const exec = passingExecution();
      const logout = exec[4002] as ReturnType<typeof xjourney>;
      logout.status = 'STARTED';
      logout.outcome = null;
      logout.cases = [nav(null), xcase(5004, 'Log out', 'ERROR', [xstep(6006, 'CLICK', '', 'ERROR')])];
      const report = buildReport(input({ 8001: exec }));
      assert.deepEqual(journeyOf(report, 'Logout').checkpoints.map((c) => [c.name, c.outcome, c.error]), [
        ['Navigation', 'unknown', 'Virtuoso reported no outcome for the checkpoint'],
        ['Log out', 'unknown', 'Unrecognised checkpoint outcome "ERROR"'],
      ]);
      assert.equal(checkpointOf(report, 'Logout', 'Log out').steps[0].error, 'Unrecognised step outcome "ERROR"');
      assert.equal(report.outcome, 'failed');

      // Without a checkpoint outcome its steps decide.
      const derived = passingExecution();
      delete ((derived[4002] as ReturnType<typeof xjourney>).cases[1] as { outcome?: unknown }).outcome;
      assert.equal(checkpointOf(buildReport(input({ 8001: derived })), 'Logout', 'Log out').outcome, 'passed');
    });

    it('a checkpoint without an outcome is passed only when every step passed or was skipped (never a false green)', () => {
      const outcomeFromSteps = (...outcomes: (string | null)[]) => {
        const exec = passingExecution();
        const logout = exec[4002] as ReturnType<typeof xjourney>;
        logout.cases = [nav(), xcase(5004, 'Log out', 'PASS', outcomes.map((o, i) => xstep(6006 + i, 'CLICK', '', o)))];
        delete (logout.cases[1] as { outcome?: unknown }).outcome;
        const steps = outcomes.map((_, i) => ({ stepId: String(6006 + i), label: `step ${i}` }));
        const goals = definition();
        goals[0].journeys[1].checkpoints[0].steps = steps;
        const cp = checkpointOf(buildReport(input({ 8001: exec }, goals)), 'Logout', 'Log out');
        return [cp.outcome, cp.error];
      };
      assert.deepEqual(outcomeFromSteps('PASS', null), ['unknown', 'Virtuoso reported no outcome for the checkpoint']);
      assert.deepEqual(outcomeFromSteps(null, 'PASS'), ['unknown', 'Virtuoso reported no outcome for the checkpoint']);
      assert.deepEqual(outcomeFromSteps('PASS', 'SKIP'), ['passed', undefined]);
      assert.deepEqual(outcomeFromSteps('SKIP', 'SKIP'), ['skipped', undefined]);
      assert.deepEqual(outcomeFromSteps(), ['unknown', 'Virtuoso reported no outcome for the checkpoint']);
    });

    it('includes journeys of the job the run did not build, and tolerates an un-unwrapped {success, map} envelope', () => {
      const exec = passingExecution();
      exec[4000] = xjourney(4000, 'Old journey', 'PASS', [nav()]);
      const report = buildReport(input({ 8001: { success: true, map: exec } }));
      assert.deepEqual(report.goals[0].journeys.map((j) => [j.name, j.journeyId, j.builtByRun]), [
        ['Login', '4001', true],
        ['Logout', '4002', true],
        ['Old journey', '4000', false],
      ]);
      assert.equal(report.outcome, 'passed');
    });

    it('works on the execution report the Virtuoso sandbox produces', async () => {
      const state = new SandboxState();
      const executions = new Executions(state, 0);
      try {
        const project = state.createProject('P', 2242, '');
        const goal = state.createGoal({ projectId: project.id, name: 'G', url: 'https://shop.example.com', environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: {} }, true);
        const snapshot = state.snapshots.get(goal.snapshotIds[0])!;
        const [j1] = [...state.journeys.values()];
        const navCp = state.checkpoints.get(j1.caseIds[0])!;
        const cp1 = state.createCheckpoint(goal, snapshot, 'Open');
        state.attach(j1, cp1, undefined);
        const clueTarget = (clue: string) => ({ selectors: [{ type: 'GUESS', value: JSON.stringify({ clue }) }] });
        const base = { meta: {}, optional: false, ignoreOutcome: false, skip: false };
        const s1 = state.addStep(cp1, 999, { ...base, action: 'CLICK', value: '', target: clueTarget('Login') });
        const s2 = state.addStep(cp1, 999, { ...base, action: 'CLICK', value: '', target: clueTarget('FAIL button') });
        const cp2 = state.createCheckpoint(goal, snapshot, 'After');
        state.attach(j1, cp2, undefined);
        const s3 = state.addStep(cp2, 999, { ...base, action: 'COMMENT', value: 'later' });
        const j2 = state.createJourney(goal, snapshot, 'Second');
        state.attach(j2, navCp, 1);
        const cp3 = state.createCheckpoint(goal, snapshot, 'Other');
        state.attach(j2, cp3, undefined);
        const s4 = state.addStep(cp3, 999, { ...base, action: 'COMMENT', value: 'ok' });

        const job = executions.launch(goal, snapshot, [j1, j2]);
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(job.status, 'FINISHED');
        const map = executions.report(job, []);

        const report = buildReport({
          run: { id: 'r', name: 'sandbox', createdAt: '2025-01-01T00:00:00.000Z', finishedAt: '2025-01-01T00:01:00.000Z', appUrl: APP },
          projectId: String(project.id),
          goals: [{
            name: 'G', goalId: String(goal.id), snapshotId: String(snapshot.snapshotId), jobId: String(job.id),
            journeys: [
              { name: 'First', journeyId: String(j1.id), checkpoints: [
                { name: 'Open', checkpointId: String(cp1.id), steps: [{ stepId: String(s1.id), label: 'click: Login' }, { stepId: String(s2.id), label: 'click: FAIL button' }] },
                { name: 'After', checkpointId: String(cp2.id), steps: [{ stepId: String(s3.id), label: 'comment: later' }] },
              ] },
              { name: 'Second', journeyId: String(j2.id), checkpoints: [{ name: 'Other', checkpointId: String(cp3.id), steps: [{ stepId: String(s4.id), label: 'comment: ok' }] }] },
            ],
          }],
          executions: { [String(job.id)]: map },
        });
        assert.deepEqual(report.goals[0].journeys.map((j) => [j.name, j.outcome, j.checkpoints.map((c) => `${c.name}:${c.outcome}:${c.builtByRun}`)]), [
          ['First', 'failed', ['Navigation:passed:false', 'Open:failed:true', 'After:skipped:true']],
          ['Second', 'passed', ['Navigation:passed:false', 'Other:passed:true']],
        ]);
        assert.deepEqual(checkpointOf(report, 'First', 'Open').failure, {
          stepLabel: 'click: FAIL button', stepId: String(s2.id), stepPosition: 2, action: 'CLICK', message: 'Could not find an element matching "FAIL button"',
        });
        assert.equal(report.outcome, 'failed');
        assertCountsConsistent(parseXml(junitXml(report)), report);
      } finally {
        executions.close();
      }
    });
  });

  describe('buildReport: the edges of the execution report', () => {
    /** The report of one goal (job 8001) built as `journeys`, with `map` as the job's execution. */
    const oneGoal = (journeys: BuiltJourney[], map: unknown) =>
      buildReport(input({ 8001: map as Record<string, unknown> }, [{ name: 'G', goalId: '2001', snapshotId: '3001', jobId: '8001', journeys }]));
    /** The checkpoints of a journey (4001) the run did not build, as reported. */
    const unbuiltCheckpoints = (cases: unknown[]) => oneGoal([], { 4001: { id: 4001, outcome: 'PASS', cases } }).goals[0].journeys[0].checkpoints;
    /** The steps of a checkpoint (5001) the run did not build, as reported. */
    const unbuiltSteps = (steps: unknown[]) => unbuiltCheckpoints([{ id: 5001, outcome: 'PASS', steps }])[0].steps;
    const link = (kind: string, id: string) => `${APP}/#/${kind}/${id}`;

    it('reads ids and values defensively: bigints and padded strings are ids, blank strings and non-finite numbers are not; a step is named by its action and value', () => {
      const passed = { builtByRun: false, outcome: 'passed', virtuosoOutcome: 'PASS' } as const;
      assert.deepEqual(
        unbuiltSteps([
          { stepId: 6002n, action: 'CLICK', value: '', outcome: 'PASS' },
          { stepId: '  ', id: ' 7 ', action: 'WRITE', value: 42, outcome: 'PASS' },
          { id: Infinity, value: 'text only', outcome: 'PASS' },
          { id: 9, value: NaN, outcome: 'PASS' },
          { outcome: 'PASS' },
        ]),
        [
          { position: 1, label: 'CLICK', stepId: '6002', action: 'CLICK', value: '', ...passed },
          { position: 2, label: 'WRITE 42', stepId: '7', action: 'WRITE', value: '42', ...passed },
          { position: 3, label: 'text only', value: 'text only', ...passed },
          { position: 4, label: 'Step 9', stepId: '9', ...passed },
          { position: 5, label: 'Step', ...passed },
        ],
      );
      const [named, numbered, bare] = unbuiltCheckpoints([
        { id: 5001, title: '  ', name: 'Named', outcome: 'PASS', steps: [] },
        { id: 5002, outcome: 'PASS', steps: [] },
        { outcome: 'PASS', steps: [] },
      ]);
      assert.deepEqual([named.name, named.checkpointId, named.link], ['Named', '5001', link('checkpoint', '5001')]);
      assert.deepEqual([numbered.name, numbered.checkpointId, numbered.link], ['Checkpoint 5002', '5002', link('checkpoint', '5002')]);
      assert.deepEqual(bare, { name: 'Checkpoint', builtByRun: false, outcome: 'passed', virtuosoOutcome: 'PASS', steps: [] });
    });

    it('reads times as ISO strings or epoch milliseconds; a duration needs both ends, the end not before the start', () => {
      const durations = unbuiltCheckpoints([
        { startDate: 1_700_000_000_000, endDate: 1_700_000_001_500 },
        { startTime: '2025-03-01T10:00:00Z', endTime: '2025-03-01T10:00:00Z' },
        { startedAt: START, finishedAt: END },
        { startDate: END, endDate: START },
        { startDate: START },
        { endDate: END },
        { startDate: 0, endDate: 1000 },
        { startDate: 5, endDate: Infinity },
        { startDate: '  ', endDate: END },
        { startDate: 'soon', endDate: END },
        { startDate: new Date(5000), endDate: 10_000 },
      ].map((times, i) => ({ id: 5001 + i, outcome: 'PASS', steps: [], ...times }))).map((c) => ('durationMs' in c ? c.durationMs : 'none'));
      assert.deepEqual(durations, [1500, 0, 42_500, 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'none']);
    });

    it('reads a step outcome from outcome, result or an outcome-like status, and its error from any of the fields Virtuoso may use', () => {
      const steps = unbuiltSteps([
        { id: 1, result: 'PASS' },
        { id: 2, status: 'Skipped' },
        { id: 3, status: 'FINISHED' },
        { id: 4, outcome: 'WEIRD', status: 'PASS' },
        { id: 5 },
        { id: 6, outcome: 'FAIL', error: 'plain string' },
        { id: 7, outcome: 'FAIL', error: {}, errorMessage: 'from errorMessage' },
        { id: 8, outcome: 'FAIL', error: '  ', failureReason: 'from failureReason' },
        { id: 9, outcome: 'FAIL', message: 'from message' },
        { id: 10, outcome: 'FAIL', error: { reason: '  padded  ' } },
        { id: 11, outcome: 'FAIL', error: { code: 'E1' } },
      ]);
      assert.deepEqual(steps.map((s) => [s.outcome, s.virtuosoOutcome, s.error]), [
        ['passed', 'PASS', undefined],
        ['skipped', 'Skipped', undefined],
        ['unknown', undefined, 'Virtuoso reported no outcome for the step'],
        ['unknown', 'WEIRD', 'Unrecognised step outcome "WEIRD"'],
        ['unknown', undefined, 'Virtuoso reported no outcome for the step'],
        ['failed', 'FAIL', 'plain string'],
        ['failed', 'FAIL', 'from errorMessage'],
        ['failed', 'FAIL', 'from failureReason'],
        ['failed', 'FAIL', 'from message'],
        ['failed', 'FAIL', 'padded'],
        ['failed', 'FAIL', 'E1'],
      ]);
      assert.deepEqual(steps[4], { position: 5, label: 'Step 5', stepId: '5', builtByRun: false, outcome: 'unknown', error: 'Virtuoso reported no outcome for the step' });
    });

    it('decides a checkpoint: a status is no outcome, skipped, failed without a failing step, a failing step without details, steps under testSteps', () => {
      const base = (id: number) => ({ name: `Checkpoint ${id}`, checkpointId: String(id), link: link('checkpoint', String(id)), builtByRun: false });
      const passedStep = (id: number) => ({ position: 1, label: `Step ${id}`, stepId: String(id), builtByRun: false, outcome: 'passed', virtuosoOutcome: 'PASS' });
      assert.deepEqual(
        unbuiltCheckpoints([
          { id: 1, status: 'RUNNING', steps: [] },
          { id: 2, outcome: 'SKIP', steps: [] },
          { id: 3, outcome: 'FAIL', steps: [] },
          { id: 4, outcome: 'PASS', steps: [{ outcome: 'FAIL' }] },
          { id: 5, outcome: 'PASS', testSteps: [{ id: 61, outcome: 'PASS' }] },
          { id: 6, outcome: 'PASS', steps: 'none', testSteps: [{ id: 62, outcome: 'PASS' }] },
          { id: 7, outcome: 'PASS', steps: [null, 'junk', { id: 63, outcome: 'PASS' }] },
        ]),
        [
          { ...base(1), outcome: 'unknown', error: 'Virtuoso reported no outcome for the checkpoint (status RUNNING)', steps: [] },
          { ...base(2), outcome: 'skipped', virtuosoOutcome: 'SKIP', steps: [] },
          { ...base(3), outcome: 'failed', virtuosoOutcome: 'FAIL', failure: { message: 'Virtuoso reported the checkpoint as failed without a failing step' }, steps: [] },
          {
            ...base(4), outcome: 'failed', virtuosoOutcome: 'PASS',
            failure: { stepLabel: 'Step', stepPosition: 1, message: 'The step failed (Virtuoso gave no error message)' },
            steps: [{ position: 1, label: 'Step', builtByRun: false, outcome: 'failed', virtuosoOutcome: 'FAIL' }],
          },
          { ...base(5), outcome: 'passed', virtuosoOutcome: 'PASS', steps: [passedStep(61)] },
          { ...base(6), outcome: 'passed', virtuosoOutcome: 'PASS', steps: [passedStep(62)] },
          { ...base(7), outcome: 'passed', virtuosoOutcome: 'PASS', steps: [passedStep(63)] },
        ],
      );
    });

    it('reports what the run built and the execution does not list: a checkpoint or step never created, steps missing from a passed checkpoint', () => {
      const report = oneGoal(
        [{
          name: 'Login', journeyId: '4001',
          checkpoints: [
            { name: 'No id', steps: [{ label: 'click: A' }] },
            { name: 'Listed', checkpointId: '5002', steps: [{ label: 'no id' }, { stepId: '61', label: 'a' }, { stepId: '62', label: 'b' }, { stepId: '63', label: 'c' }] },
            { name: 'No step list', checkpointId: '5003', steps: [{ stepId: '64', label: 'd' }] },
          ],
        }],
        { 4001: { id: 4001, outcome: 'PASS', cases: [{ id: 5002, outcome: 'PASS', steps: [{ id: 61, outcome: 'PASS' }] }, { id: 5003, outcome: 'PASS' }] } },
      );
      const [noId, listed, noStepList] = report.goals[0].journeys[0].checkpoints;
      assert.deepEqual(noId, {
        name: 'No id', builtByRun: true, outcome: 'unknown', error: 'The checkpoint was not created (no checkpoint id)',
        steps: [{ position: 1, label: 'click: A', builtByRun: true, outcome: 'unknown' }],
      });
      assert.equal(listed.outcome, 'unknown');
      assert.equal(listed.error, 'Virtuoso reported the checkpoint as passed but not these steps: no id; b; c');
      assert.deepEqual(listed.steps.map((s) => [s.position, s.label, s.outcome, s.error]), [
        [1, 'no id', 'unknown', 'The step was not created (no step id)'],
        [2, 'a', 'passed', undefined],
        [3, 'b', 'unknown', 'Step 62 is not in the execution report'],
        [4, 'c', 'unknown', 'Step 63 is not in the execution report'],
      ]);
      // Without a step list Virtuoso's pass stands (it did not list the steps at all, not leave one out).
      assert.deepEqual([noStepList.outcome, noStepList.steps.map((s) => [s.stepId, s.outcome])], ['passed', [['64', 'unknown']]]);
    });

    it('pairs built and reported steps by id in execution order, whatever the order or repetitions', () => {
      const labels = (reported: number[]) => {
        const report = oneGoal(
          [{ name: 'J', journeyId: '4001', checkpoints: [{ name: 'C', checkpointId: '5002', steps: [{ stepId: '61', label: 'a' }, { stepId: '62', label: 'b' }, { stepId: '63', label: 'c' }] }] }],
          { 4001: { id: 4001, outcome: 'PASS', cases: [{ id: 5002, outcome: 'PASS', steps: reported.map((id) => ({ id, outcome: 'PASS' })) }] } },
        );
        return report.goals[0].journeys[0].checkpoints[0].steps.map((s) => `${s.label}${s.builtByRun ? '' : '*'}${s.outcome === 'unknown' ? '?' : ''}`);
      };
      assert.deepEqual(labels([61, 62, 63]), ['a', 'b', 'c']);
      assert.deepEqual(labels([61, 63]), ['a', 'b?', 'c'], 'a missing step stays between its neighbours');
      assert.deepEqual(labels([62, 61, 63]), ['b', 'a', 'c']);
      assert.deepEqual(labels([63, 61]), ['b?', 'c', 'a'], 'once each');
      assert.deepEqual(labels([61, 61, 62, 63]), ['a', 'Step 61*', 'b', 'c'], 'an id reported twice pairs once');
    });

    it('names and identifies the journeys the run did not build: from the journey details, the name, the id, the map key', () => {
      const report = oneGoal([], {
        a: { id: 4003, outcome: 'PASS', journey: { title: 'Detail title', name: 'Suite 3', canonicalId: 'jc3', cases: [{ id: 5001, outcome: 'PASS', steps: [] }] } },
        b: { id: 4004, name: 'Suite 4', outcome: 'PASS', testCases: [{ id: 5002, outcome: 'PASS', steps: [] }] },
        c: { id: 4005, outcome: 'PASS', checkpoints: [{ id: 5003, outcome: 'PASS', steps: [] }] },
        4006: { outcome: 'PASS', cases: [] },
        '  ': { outcome: 'PASS', cases: [] },
      });
      assert.deepEqual(report.goals[0].journeys.map((j) => [j.name, j.journeyId, j.link, j.virtuosoName, j.virtuosoTitle, j.canonicalId, j.checkpoints.map((c) => c.checkpointId)]), [
        ['Journey', '4006', link('journey', '4006'), undefined, undefined, undefined, []],
        ['Detail title', '4003', link('journey', '4003'), 'Suite 3', 'Detail title', 'jc3', ['5001']],
        ['Suite 4', '4004', link('journey', '4004'), 'Suite 4', undefined, undefined, ['5002']],
        ['Journey 4005', '4005', link('journey', '4005'), undefined, undefined, undefined, ['5003']],
        ['Journey', undefined, undefined, undefined, undefined, undefined, []],
      ]);
      assert.ok(report.goals[0].journeys.every((j) => !j.builtByRun && j.outcome === 'passed'));
      const { counts, ...blankKey } = report.goals[0].journeys[4];
      assert.deepEqual(blankKey, { name: 'Journey', builtByRun: false, outcome: 'passed', virtuosoOutcome: 'PASS', checkpoints: [] });
      assert.equal(counts.checkpoints, 0);
    });

    it('copies what the execution says of a journey, and nothing it does not say', () => {
      const counts = (passed: number, steps: number) => ({ checkpoints: passed, steps, passed, failed: 0, skipped: 0, unknown: 0 });
      const journeys: BuiltJourney[] = ['4001', '4002', '4003', '4004', '4005'].map((journeyId) => ({ name: `J${journeyId}`, journeyId, checkpoints: [] }));
      journeys[0].checkpoints = definition()[0].journeys[0].checkpoints;
      const cases = (...durations: (number | undefined)[]) =>
        durations.map((d, i) => ({ id: 5101 + i, outcome: 'PASS', steps: [], ...(d === undefined ? {} : { startDate: 1_000_000, endDate: 1_000_000 + d }) }));
      const report = oneGoal(journeys, {
        4001: passingExecution()[4001],
        ' 4002 ': { cases: cases(undefined) },
        4003: { id: 4003, startTime: START, endTime: END, cases: [], outcome: 'PASS' },
        4004: { id: 4004, startedAt: START, finishedAt: END, cases: [], outcome: 'PASS' },
        4005: { id: 4005, outcome: 'PASS', cases: cases(1000, undefined, 500) },
      });
      const [full, bare, times1, times2, summed] = report.goals[0].journeys.map(({ checkpoints, ...j }) => ({ ...j, checkpoints: checkpoints.length }));
      assert.deepEqual(full, {
        name: 'J4001', journeyId: '4001', link: link('journey', '4001'), canonicalId: 'journey-canon-4001', virtuosoName: 'Suite 1', virtuosoTitle: 'Login',
        builtByRun: true, outcome: 'passed', virtuosoOutcome: 'PASS', status: 'FINISHED', startedAt: START, finishedAt: END, durationMs: 42_500,
        counts: counts(3, 5), checkpoints: 3,
      });
      assert.deepEqual(bare, { name: 'J4002', journeyId: '4002', link: link('journey', '4002'), builtByRun: true, outcome: 'passed', counts: counts(1, 0), checkpoints: 1 });
      assert.deepEqual([times1.startedAt, times1.finishedAt, times1.durationMs], [START, END, 42_500]);
      assert.deepEqual([times2.startedAt, times2.finishedAt, times2.durationMs], [START, END, 42_500]);
      assert.equal(summed.durationMs, 1500, 'without times of its own, the sum of its checkpoints');
    });

    it('decides a journey from its checkpoints, and from what Virtuoso says when it has none', () => {
      const cp = (id: number, outcome?: string) => ({ id, ...(outcome ? { outcome } : {}), steps: [] });
      const report = oneGoal([], {
        4001: { id: 4001, outcome: 'FAIL', cases: [cp(5001, 'PASS')] },
        4002: { id: 4002, outcome: 'PASS', cases: [cp(5002, 'PASS'), cp(5003, 'FAIL')] },
        4003: { id: 4003, outcome: 'PASS', cases: [cp(5004, 'PASS'), cp(5005)] },
        4004: { id: 4004, outcome: 'PASS', cases: [] },
        4005: { id: 4005, status: 'RUNNING', cases: [] },
        4006: { id: 4006, outcome: 'WEIRD', cases: [] },
        4007: { id: 4007, status: 'FINISHED', cases: [cp(5006, 'SKIP'), cp(5007, 'SKIP')] },
        4008: { id: 4008, outcome: 'SKIP' },
      });
      assert.deepEqual(report.goals[0].journeys.map((j) => [j.journeyId, j.outcome, j.error]), [
        ['4001', 'failed', undefined],
        ['4002', 'failed', undefined],
        ['4003', 'unknown', undefined],
        ['4004', 'passed', undefined],
        ['4005', 'unknown', 'Virtuoso reported no outcome for the journey (status RUNNING)'],
        ['4006', 'unknown', 'Unrecognised journey outcome "WEIRD"'],
        ['4007', 'skipped', undefined],
        ['4008', 'skipped', undefined],
      ]);
    });

    it('reports a built journey that was never created, or whose checkpoints the execution does not list', () => {
      const checkpoints = [{ name: 'Open', checkpointId: '5002', steps: [] }];
      const report = oneGoal([{ name: 'Never created', checkpoints }, { name: 'Listed bare', journeyId: '4001', checkpoints }], { 4001: { id: 4001, outcome: 'PASS' } });
      const [never, bare] = report.goals[0].journeys;
      const error = 'The journey was not created (no journey id)';
      assert.deepEqual(never, {
        name: 'Never created', builtByRun: true, outcome: 'unknown', error,
        counts: { checkpoints: 1, steps: 0, passed: 0, failed: 0, skipped: 0, unknown: 1 },
        checkpoints: [{ name: 'Open', checkpointId: '5002', link: link('checkpoint', '5002'), builtByRun: true, outcome: 'unknown', error, steps: [] }],
      });
      assert.deepEqual(bare.checkpoints.map((c) => [c.outcome, c.error]), [['unknown', 'Checkpoint 5002 is not in the execution report']]);
    });

    it('decides a goal, and reads the job envelope only when it is one', () => {
      const goal = (name: string, jobId: string | undefined, journeys: BuiltJourney[] = []): BuiltGoal => ({ name, ...(jobId ? { jobId } : {}), journeys });
      const login: BuiltJourney[] = [{ name: 'Login', journeyId: '4001', checkpoints: [] }];
      const journey = (id: number, outcome: string) => ({ id, outcome, cases: [] });
      const report = buildReport(input({
        undefined: { 4001: journey(4001, 'PASS') },
        8001: {},
        8002: { 4001: journey(4001, 'PASS'), map: journey(4000, 'PASS') },
        8003: { success: true, map: { 4001: journey(4001, 'PASS') }, total: 1, item: null },
        8004: { map: { 4001: journey(4001, 'PASS') }, total: 1 },
        8005: {},
        8006: { 4001: journey(4001, 'SKIP') },
        8007: { 4001: journey(4001, 'SKIP'), 4002: journey(4002, 'PASS') },
      }, [
        goal('No job', undefined),
        goal('Empty map', '8001', login),
        goal('A journey keyed map', '8002', login),
        goal('Envelope', '8003', login),
        goal('Envelope without success', '8004', login),
        goal('No journeys', '8005'),
        goal('Skipped', '8006'),
        goal('Partly skipped', '8007'),
      ]));
      assert.deepEqual(report.goals[0], { name: 'No job', outcome: 'unknown', journeys: [], error: 'The goal was not executed (no job id)' });
      assert.deepEqual(report.goals.slice(1).map((g) => [g.name, g.outcome, g.error, g.journeys.map((j) => `${j.journeyId}:${j.outcome}`)]), [
        ['Empty map', 'unknown', undefined, ['4001:unknown']],
        ['A journey keyed map', 'passed', undefined, ['4001:passed', '4000:passed']],
        ['Envelope', 'passed', undefined, ['4001:passed']],
        ['Envelope without success', 'passed', undefined, ['4001:passed']],
        ['No journeys', 'unknown', 'Neither the definition nor the execution has a journey for this goal', []],
        ['Skipped', 'skipped', undefined, ['4001:skipped']],
        ['Partly skipped', 'passed', undefined, ['4001:skipped', '4002:passed']],
      ]);
      assert.equal(report.goals[1].journeys[0].error, 'Journey 4001 is not in the execution report of job 8001');
    });

    it('a run is failed when any goal is, passed when it has nothing at all; its duration needs both ends; links trim every trailing slash', () => {
      const run = { id: 'r', name: 'n', createdAt: 'not a date', finishedAt: '2025-03-01T10:01:00.000Z', appUrl: `${APP}//` };
      const empty = buildReport({ run, goals: [], executions: {} });
      assert.deepEqual(empty, {
        schemaVersion: 1, run: { id: 'r', name: 'n', createdAt: 'not a date', finishedAt: '2025-03-01T10:01:00.000Z' }, outcome: 'passed',
        counts: { journeys: 0, checkpoints: 0, steps: 0, passed: 0, failed: 0, skipped: 0, unknown: 0 }, stepCounts: { passed: 0, failed: 0, skipped: 0, unknown: 0 },
        durationMs: 0, goals: [],
      });
      assert.equal(buildReport({ run: { ...run, createdAt: START, finishedAt: 'later' }, goals: [], executions: {} }).durationMs, 0);
      const twoGoals = buildReport({
        run, projectId: '1001',
        goals: [{ name: 'Empty', jobId: '8001', journeys: [] }, { name: 'Fine', goalId: '2002', jobId: '8002', journeys: [] }],
        executions: { 8001: {}, 8002: { 4001: { id: 4001, outcome: 'PASS', cases: [] } } },
      });
      assert.deepEqual(twoGoals.goals.map((g) => g.outcome), ['unknown', 'passed']);
      assert.equal(twoGoals.outcome, 'failed');
      assert.deepEqual([twoGoals.projectLink, twoGoals.goals[1].link], [link('project', '1001'), link('goal', '2002')]);
    });
  });

  describe('junitXml', () => {
    it('writes the Jenkins/Surefire shape: suites per journey with ids and links as properties, cases per checkpoint', () => {
      const report = buildReport(input({ 8001: failingExecution() }, failingDefinition()));
      const xml = junitXml(report);
      assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites '));
      const root = parseXml(xml);
      assert.deepEqual(root.attrs, { name: 'Nightly checkout', tests: '6', failures: '1', errors: '0', skipped: '1', time: '90.000', timestamp: '2025-03-01T09:59:30' });
      const suite = suiteOf(root, 'Checkout / Login');
      assert.deepEqual(suite.attrs, {
        name: 'Checkout / Login', tests: '4', failures: '1', errors: '0', skipped: '1', time: '42.500', timestamp: '2025-03-01T10:00:00', id: '0', package: 'Checkout',
      });
      assert.deepEqual(properties(suite), {
        'run.id': 'run_123',
        'run.name': 'Nightly checkout',
        'virtuoso.projectId': '1001',
        'virtuoso.projectUrl': 'https://app.virtuoso.qa/#/project/1001',
        'virtuoso.goalId': '2001',
        'virtuoso.goalUrl': 'https://app.virtuoso.qa/#/goal/2001',
        'virtuoso.snapshotId': '3001',
        'virtuoso.jobId': '8001',
        'virtuoso.journeyId': '4001',
        'virtuoso.journeyUrl': 'https://app.virtuoso.qa/#/journey/4001',
        'virtuoso.journeyCanonicalId': 'journey-canon-4001',
        'virtuoso.journeyOutcome': 'FAIL',
        builtByRun: 'true',
        outcome: 'failed',
      });
      assert.equal(suite.children[0].name, 'properties');
      const out = child(caseOf(suite, 'Submit'), 'system-out')!.text;
      assert.equal(
        out,
        [
          'Checkpoint: Submit [5003]',
          'Link: https://app.virtuoso.qa/#/checkpoint/5003',
          '[FAIL] 1. click: Submit [step 6004] - Could not find an element matching "Submit"',
          '[SKIP] 2. assert: Welcome [step 6005]',
        ].join('\n'),
      );
      assert.match(child(caseOf(suite, 'Navigation'), 'system-out')!.text, /^Checkpoint: Navigation \[5001\] \(not built by the run\)\n/);
      assert.equal(caseOf(suite, 'Open login').attrs.time, '0.000');
      assertCountsConsistent(root, report);
    });

    it('escapes hostile names so the XML stays well-formed and the names survive', () => {
      const hostile = `Q"uo'te <tag> & amp; &amp; ]]> \u0000nul\u0008bs\u000Bvt\u001F\uFFFE\uFFFF lone\uD800 \uDC00 tab\tnl\ncr\r 😀 é`;
      const expected = `Q"uo'te <tag> & amp; &amp; ]]> nulbsvt lone\uFFFD \uFFFD tab\tnl\ncr\r 😀 é`;
      assert.equal(xmlSafe(hostile), expected);
      const goals: BuiltGoal[] = [{
        name: `Goal ${hostile}`, goalId: '2001', jobId: '8001',
        journeys: [{ name: hostile, journeyId: '4001', checkpoints: [{ name: hostile, checkpointId: '5002', steps: [{ stepId: '6002', label: hostile }] }] }],
      }];
      const exec = { 4001: xjourney(4001, 'x', 'FAIL', [xcase(5002, 'x', 'FAIL', [xstep(6002, 'CLICK', '', 'FAIL', `boom ${hostile}`)])]) };
      const report = buildReport({ ...input({ 8001: exec }, goals), run: { ...input({}).run, name: hostile } });
      const xml = junitXml(report);
      for (const bad of ['\u0000', '\u0008', '\u000B', '\u001F', '\uFFFE', '\uFFFF']) assert.ok(!xml.includes(bad), `raw U+${bad.charCodeAt(0).toString(16)} in the XML`);

      const root = parseXml(xml);
      assert.equal(root.attrs.name, expected);
      const suite = root.children.find((c) => c.name === 'testsuite')!;
      assert.equal(suite.attrs.name, `Goal ${expected} / ${expected}`);
      assert.equal(suite.attrs.package, `Goal ${expected}`);
      const testcase = suite.children.find((c) => c.name === 'testcase')!;
      assert.equal(testcase.attrs.name, expected);
      assert.equal(testcase.attrs.classname, `Goal ${expected} / ${expected}`);
      const failure = child(testcase, 'failure')!;
      assert.equal(failure.attrs.message, `${expected}: boom ${expected}`);
      assert.ok(failure.text.includes(`Failing step: 1. ${expected}\n`));
      assert.ok(failure.text.includes(`Error: boom ${expected}`));
      assert.ok(child(testcase, 'system-out')!.text.includes(`[FAIL] 1. ${expected} [step 6002]`));
      assertCountsConsistent(root, report);
    });

    it('keeps surrogate pairs at both ends of their ranges and replaces every unpaired half', () => {
      assert.equal(xmlSafe('\uD800\uDC00 \uDBFF\uDFFF'), '\uD800\uDC00 \uDBFF\uDFFF');
      assert.equal(xmlSafe('\uD800\uE000'), '\uFFFD\uE000', 'a high surrogate before a non-surrogate');
      assert.equal(xmlSafe('\uDC00\uD800'), '\uFFFD\uFFFD', 'a low surrogate before a high one is no pair');
      assert.equal(xmlSafe('a\uD800'), 'a\uFFFD', 'a high surrogate at the end');
      assert.equal(xmlSafe('\uDFFF'), '\uFFFD');
    });

    it('renders what a report leaves out by leaving it out: the whole document of a sparse report', () => {
      const step = (position: number, label: string, outcome: ReportOutcome, extra: Partial<StepReport> = {}): StepReport => ({ position, label, builtByRun: true, outcome, ...extra });
      const checkpoints: CheckpointReport[] = [
        {
          name: 'Passed', builtByRun: true, outcome: 'passed', durationMs: 1234,
          steps: [step(1, 'click: A', 'passed', { stepId: '61' }), step(2, 'NAVIGATE x', 'passed', { builtByRun: false })],
        },
        { name: 'Failed bare', checkpointId: '52', link: 'https://app.virtuoso.qa/#/checkpoint/52', builtByRun: true, outcome: 'failed', steps: [] },
        {
          name: 'Failed at a step', builtByRun: true, outcome: 'failed', failure: { stepLabel: 'write: B', message: 'nope' },
          steps: [step(1, 'write: B', 'failed', { error: 'nope' })],
        },
        {
          name: 'Failed fully', builtByRun: true, outcome: 'failed', link: 'L56',
          failure: { stepLabel: 'click: X', stepId: '66', stepPosition: 2, action: 'CLICK', message: 'gone' }, steps: [],
        },
        { name: 'Unknown bare', checkpointId: '54', builtByRun: false, outcome: 'unknown', steps: [step(1, 'Step', 'unknown', { builtByRun: false, error: 'why' })] },
        { name: 'Unknown linked', checkpointId: '55', link: 'L55', builtByRun: true, outcome: 'unknown', error: 'lost', steps: [] },
      ];
      const counts = { checkpoints: 6, steps: 4, passed: 1, failed: 3, skipped: 0, unknown: 2 };
      const report: RunReport = {
        schemaVersion: 1,
        run: { id: 'run_9', name: 'Sparse', createdAt: 'not a date', finishedAt: 'not a date' },
        outcome: 'failed',
        counts: { journeys: 1, ...counts },
        stepCounts: { passed: 2, failed: 1, skipped: 0, unknown: 1 },
        durationMs: 1500,
        goals: [{ name: 'G', outcome: 'failed', journeys: [{ name: 'J', builtByRun: false, outcome: 'failed', counts, checkpoints }] }],
      };
      const expected = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="Sparse" tests="6" failures="3" errors="2" skipped="0" time="1.500">',
        '  <testsuite name="G / J" tests="6" failures="3" errors="2" skipped="0" time="0.000" id="0" package="G">',
        '    <properties>',
        '      <property name="run.id" value="run_9"/>',
        '      <property name="run.name" value="Sparse"/>',
        '      <property name="builtByRun" value="false"/>',
        '      <property name="outcome" value="failed"/>',
        '    </properties>',
        '    <testcase classname="G / J" name="Passed" time="1.234">',
        '      <system-out>Checkpoint: Passed',
        '[PASS] 1. click: A [step 61]',
        '[PASS] 2. NAVIGATE x (not built by the run)</system-out>',
        '    </testcase>',
        '    <testcase classname="G / J" name="Failed bare" time="0.000">',
        '      <failure message="The checkpoint failed (the report gives no reason)" type="FAIL">Error: The checkpoint failed (the report gives no reason)',
        'Checkpoint: https://app.virtuoso.qa/#/checkpoint/52</failure>',
        '      <system-out>Checkpoint: Failed bare [52]',
        'Link: https://app.virtuoso.qa/#/checkpoint/52</system-out>',
        '    </testcase>',
        '    <testcase classname="G / J" name="Failed at a step" time="0.000">',
        '      <failure message="write: B: nope" type="FAIL">Failing step: ?. write: B',
        'Error: nope</failure>',
        '      <system-out>Checkpoint: Failed at a step',
        '[FAIL] 1. write: B - nope</system-out>',
        '    </testcase>',
        '    <testcase classname="G / J" name="Failed fully" time="0.000">',
        '      <failure message="click: X: gone" type="CLICK">Failing step: 2. click: X',
        'Action: CLICK',
        'Virtuoso step id: 66',
        'Error: gone',
        'Checkpoint: L56</failure>',
        '      <system-out>Checkpoint: Failed fully',
        'Link: L56</system-out>',
        '    </testcase>',
        '    <testcase classname="G / J" name="Unknown bare" time="0.000">',
        '      <error message="Unknown outcome" type="UNKNOWN">Error: Unknown outcome</error>',
        '      <system-out>Checkpoint: Unknown bare [54] (not built by the run)',
        '[????] 1. Step (not built by the run) - why</system-out>',
        '    </testcase>',
        '    <testcase classname="G / J" name="Unknown linked" time="0.000">',
        '      <error message="lost" type="UNKNOWN">Error: lost',
        'Checkpoint: L55</error>',
        '      <system-out>Checkpoint: Unknown linked [55]',
        'Link: L55</system-out>',
        '    </testcase>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n');
      assert.equal(junitXml(report), expected);
      assertCountsConsistent(parseXml(expected), report);
    });

    it('is deterministic: the same input gives the same bytes, and the input is not changed', () => {
      const a = input({ 8001: failingExecution() }, failingDefinition());
      const before = JSON.stringify(a);
      const first = junitXml(buildReport(a));
      assert.equal(JSON.stringify(a), before);
      const b = input({ 8001: failingExecution() }, failingDefinition());
      assert.equal(junitXml(buildReport(b)), first);
      assert.equal(JSON.stringify(buildReport(b)), JSON.stringify(buildReport(a)));
    });

    it('the checker used here rejects malformed XML', () => {
      assert.doesNotThrow(() => parseXml('<?xml version="1.0"?><a x="1 &amp; 2"><b/>t&#10;<![CDATA[<x>]]></a>\n'));
      for (const bad of [
        '<a>&</a>',
        '<a x="<"/>',
        '<a x="1" x="2"/>',
        '<a><b></a></b>',
        '<a>\u0001</a>',
        '<a>]]></a>',
        '<a/><b/>',
        '<a x=1/>',
        '<a>&#0;</a>',
        '<a>&bogus;</a>',
        '<a>',
      ]) assert.throws(() => parseXml(bad), Error, bad);
    });
  });
});
