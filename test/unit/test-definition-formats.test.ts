/**
 * The original CLI's test file formats (shared/testruns/formats/), converted into the native test
 * definition: the reference's sample files (test/fixtures/cli-reference-examples.json), every step
 * spelling of run_test_cmd.go, the gen-1 create-structure and compact formats, several documents,
 * and problems shown where the user wrote them.
 */
import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { type DefinitionProblem, parseDefinition, type TestDefinition } from '../../shared/testruns/definition';
import { detectFormat, toNative } from '../../shared/testruns/formats';
import { shortForm } from '../../shared/testruns/formats/from-virtuoso';
import { buildStepCommand } from '../../shared/testruns/step-forms';
import { STEP_COMMANDS, stepFromJson, type ArgType } from '../../shared/virtuoso/step-commands';
import * as s from '../../shared/virtuoso/steps';
import fixture from '../fixtures/cli-reference-examples.json';

const sample = (name: string): string => fixture.samples.find((x) => x.file === name)!.text;
const steps = (d: TestDefinition, g = 0) => d.goals[g].journeys[0].checkpoints[0].steps;
const TODAY = new Date().toISOString().slice(0, 10);

function problems(fn: () => unknown): DefinitionProblem[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.status, 422, err.message);
    return err.details as DefinitionProblem[];
  }
  assert.fail('expected a 422');
}

/** A run-test definition around some steps. */
const runTest = (stepLines: string, head = 'name: Login\nstarting_url: https://app.example.com\n') => `${head}steps:\n${stepLines.replace(/^/gm, '  ')}\n`;
/** The one step of a run-test definition: its catalogue command and parsedStep. */
function one(stepYaml: string) {
  const d = parseDefinition(runTest(stepYaml));
  assert.equal(d.format, 'run-test');
  const [st] = steps(d);
  return { command: st.command, parsedStep: st.parsedStep, notes: d.notes };
}

describe('test file formats: the reference samples', () => {
  it('quick-test.yaml (run-test): one goal, one journey, the steps in the goal\'s own checkpoint', () => {
    const d = parseDefinition(sample('quick-test.yaml'));
    assert.equal(d.format, 'run-test');
    assert.deepEqual(d.document, {
      name: 'Quick Test',
      description: 'Simple test to verify functionality',
      project: `Test Project ${TODAY}`,
      goals: [{
        name: 'Quick Test - Goal', url: 'https://example.com',
        journeys: [{ name: 'Quick Test', checkpoints: [{ name: 'Test Steps', steps: [{ navigate: 'https://example.com' }, { wait: 2000 }, { assert: 'Example Domain' }, { comment: 'Test completed' }] }] }],
      }],
    });
    assert.deepEqual(steps(d).map((x) => x.parsedStep), [s.navigate('https://example.com'), s.waitTime(2000), s.assertion('exists', 'Example Domain'), s.comment('Test completed')]);
    assert.deepEqual(d.notes, [`no project given: the run uses the project 'Test Project ${TODAY}' (reused if it exists, created otherwise), as the original CLI named it`]);
  });

  it('simple-login-test.yaml ({type, command, target, value} steps)', () => {
    const d = parseDefinition(sample('examples__simple-login-test.yaml'));
    assert.deepEqual(steps(d).map((x) => x.parsedStep), [
      s.navigate('https://example.com/login'),
      s.waitForElement('form#login-form'),
      s.write('input#username', 'testuser@example.com'),
      s.write('input#password', 'SecurePassword123'),
      s.click("button[type='submit']"),
      s.waitTime(2000),
      s.assertion('exists', 'div.dashboard'),
      s.storeElementText('span.username', 'loggedInUser'),
    ]);
    assert.equal(d.goals[0].url, 'https://example.com/login', 'no starting_url: the first step\'s URL');
    assert.deepEqual(d.options, { continueOnError: false, timeoutSeconds: 3600 });
    assert.ok(d.notes.includes("steps' 'description' is not kept (Virtuoso steps have none)"));
    assert.ok(d.notes.includes('config.screenshot_on_error is not supported and is ignored'));
  });

  it('test-small.yaml (gen-1 create-structure): the tree kept, typed steps rewritten, the run named after the project', () => {
    const d = parseDefinition(sample('examples__test-small.yaml'));
    assert.equal(d.format, 'create-structure');
    assert.equal(d.name, 'Small Test Suite Demo');
    assert.deepEqual(d.project, { name: 'Small Test Suite Demo', description: 'A small test suite for testing the batch creation' });
    assert.deepEqual([d.goals[0].name, d.goals[0].url, d.goals[0].journeys[0].name, d.goals[0].journeys[0].checkpoints[0].name], ['Basic Test', 'https://example.com', 'Simple Journey', 'Navigate']);
    assert.deepEqual(steps(d).map((x) => x.parsedStep), [s.navigate('https://example.com'), s.waitForElement('Body', 1000)]);
  });

  it('compact-login.yaml (the yaml commands\' dialect): data are variables, $name their use', () => {
    const d = parseDefinition(sample('examples__yaml__compact-login.yaml'));
    assert.equal(d.format, 'compact');
    assert.equal(d.name, 'User Login Test');
    assert.equal(d.goals[0].url, 'https://example.com/login');
    assert.deepEqual(d.variables, { email: 'test@example.com', password: 'SecurePass123!' });
    assert.deepEqual(steps(d).map((x) => x.parsedStep), [
      s.write('#email', 'test@example.com'),
      s.write('#password', 'SecurePass123!'),
      s.click('Sign In'),
      s.waitForElement('.dashboard'),
      s.assertion('exists', 'Welcome'),
    ]);
  });

  it('test-run-command-all-69.yaml: refused for its one defect, which the original failed on too', () => {
    const text = sample('test-yaml-files__test-run-command-all-69.yaml');
    const [p, ...rest] = problems(() => parseDefinition(text));
    assert.deepEqual(rest, []);
    assert.deepEqual(p, {
      path: 'steps[21]', line: 53, column: 5,
      message: "mouse enter needs 'selector' (the element the mouse moves into): mouse: {action: enter, selector: <element>}",
    });
    // With the element given, all its steps (67: the name says 69) convert, each to the command its spelling names.
    const d = parseDefinition(text.replace('      action: "enter"', '      action: "enter"\n      selector: "#menu"'));
    assert.equal(d.totalSteps, 67);
    const commands = steps(d).map((x) => x.command.split('.').slice(1).join(' '));
    assert.deepEqual(commands, [
      'to', 'scroll-top', 'scroll-bottom', 'scroll-element', 'scroll-position', 'scroll-by', 'scroll-up', 'scroll-down', 'to', 'scroll-element',
      'click', 'double-click', 'right-click', 'hover', 'write', 'key', 'mouse move-to', 'mouse move-by', 'mouse move', 'mouse down', 'mouse up', 'mouse enter',
      'select option', 'select index', 'select last',
      'exists', 'not-exists', 'equals', 'not-equals', 'checked', 'selected', 'gt', 'gte', 'lt', 'lte', 'matches', 'variable',
      'resize', 'maximize', 'switch tab next', 'switch tab prev', 'switch tab index', 'switch iframe', 'switch parent-frame',
      'store element-text', 'store attribute', 'store literal', 'cookie create', 'cookie delete', 'cookie clear-all',
      'element', 'time', 'dismiss-alert', 'dismiss-confirm', 'dismiss-confirm', 'dismiss-prompt-with-text', 'dismiss-prompt', 'upload-url', 'upload-url',
      'comment', 'execute', 'write', 'equals', 'store element-text', 'select option', 'element', 'execute',
    ]);
    assert.deepEqual(d.project, { name: 'Enhanced CLI Test 20250723_132003_a36234', description: 'Testing all 69 commands through run-test' });
    assert.ok(d.notes.includes("infrastructure.organization_id is ignored: runs use this service's Virtuoso organization"));
  });

  it('the detector tells the formats apart', () => {
    const formats = Object.fromEntries(fixture.samples.map((x) => [x.file, detectFormat(parseYamlLoose(x.text))]));
    assert.deepEqual(formats, {
      'examples__simple-login-test.yaml': 'run-test',
      'examples__test-small.yaml': 'create-structure',
      'examples__yaml__compact-login.yaml': 'compact',
      'quick-test.yaml': 'run-test',
      'test-yaml-files__test-run-command-all-69.yaml': 'run-test',
    });
    assert.equal(detectFormat({ name: 'x', project: 'p', goals: [] }), 'native');
    assert.equal(detectFormat({ journey: { name: 'j', checkpoints: [] } }), 'template');
    assert.equal(detectFormat('text'), 'native', 'not a map: the native checks say what is wrong');
  });
});

// eslint-disable-next-line @typescript-eslint/no-require-imports
const parseYamlLoose = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

describe('test file formats: run-test step spellings (run_test_cmd.go)', () => {
  const clue = (x: string) => x;
  const CASES: [string, ReturnType<typeof s.click>][] = [
    ['- navigate: https://a.example.com/x', s.navigate('https://a.example.com/x')],
    ['- navigate: {url: "https://a.example.com", new_tab: true}', s.navigate('https://a.example.com', { newTab: true })],
    ['- navigate: {to: "https://a.example.com", newTab: true}', s.navigate('https://a.example.com', { newTab: true })],
    ['- scroll: div.content', s.scrollToElement('div.content')],
    ['- scroll: top', s.scrollTop()],
    ['- scroll: {to: top}', s.scrollTop()],
    ['- scroll: {to: bottom}', s.scrollBottom()],
    ['- scroll: {to: h1}', s.scrollToElement('h1')],
    ['- scroll: {position: "100,200"}', s.scrollToPosition(100, 200)],
    ['- scroll: {by: "0,300"}', s.scrollBy(0, 300)],
    ['- scroll: {direction: up}', s.scrollUp()],
    ['- scroll: {down: true}', s.scrollDown()],
    ['- click: button.submit', s.click('button.submit')],
    ['- click: {element: "#go"}', s.click('#go')],
    ['- doubleClick: div.card', s.doubleClick('div.card')],
    ['- right-click: {value: div.menu}', s.rightClick('div.menu')],
    ['- rightClick: div.menu', s.rightClick('div.menu')],
    ['- hover: a.tooltip', s.hover('a.tooltip')],
    ['- write: {selector: "#email", text: a@b.example}', s.write('#email', 'a@b.example')],
    ['- write: {into: textarea#notes, value: "Multiple ways"}', s.write('textarea#notes', 'Multiple ways')],
    ['- type: {element: "#q", content: shoes}', s.write('#q', 'shoes')],
    ['- key: Enter', s.key('Enter')],
    ['- press: Tab', s.key('Tab')],
    ['- key: {key: Tab, target: "#email"}', s.key('Tab', { selector: '#email' })],
    ['- mouse: {action: move-to, selector: nav.menu}', s.mouseMoveTo('nav.menu')],
    ['- mouse: {action: moveBy, offset: "50,100"}', s.mouseMoveBy(50, 100)],
    ['- mouse: {action: move, position: "200,300"}', s.mouseMove(200, 300)],
    ['- mouse: {action: down}', s.mouseDown()],
    ['- mouse: {action: up, element: Done}', s.mouseUp('Done')],
    ['- mouse: {action: enter, selector: Canvas}', s.mouseEnter('Canvas')],
    ['- select: {selector: "#c", option: France}', s.selectOption('#c', 'France')],
    ['- select: {from: "#state", text: California}', s.selectOption('#state', 'California')],
    ['- select: {selector: "#lang", index: 0}', s.selectIndex('#lang', 0)],
    ['- select: {element: "#tz", last: true}', s.selectLast('#tz')],
    ['- assert: h1', s.assertion('exists', 'h1')],
    ['- assert: {type: not-exists, selector: div.error}', s.assertion('not-exists', 'div.error')],
    ['- assert: {type: equals, selector: h1, value: Welcome}', s.assertion('equals', 'h1', 'Welcome')],
    ['- assert: {command: greater-than, element: span.count, value: 10}', s.assertion('gt', 'span.count', '10')],
    ['- assert: {type: less-equal, selector: q, value: "5"}', s.assertion('lte', 'q', '5')],
    ['- assert: {type: matches, selector: e, pattern: "^a+$"}', s.assertion('matches', 'e', '^a+$')],
    ['- assert: {type: variable, variable: userName, value: tester}', s.assertVariable('userName', 'tester')],
    ['- assert: {element: button.primary, equals: Continue}', s.assertion('equals', 'button.primary', 'Continue')],
    ['- assert: {equals: Total, value: "42"}', s.assertion('equals', 'Total', '42')],
    ['- window: {action: resize, size: 1024x768}', s.windowResize(1024, 768)],
    ['- window: {action: resize, width: 800, height: 600}', s.windowResize(800, 600)],
    ['- window: {action: maximize}', s.windowMaximize()],
    ['- window: {action: switch, to: next}', s.switchNextTab()],
    ['- window: {action: switch, to: previous}', s.switchPrevTab()],
    ['- window: {action: switch, to: tab-2}', s.switchTab(2)],
    ['- window: {action: switch, iframe: "iframe#x"}', s.switchFrame('iframe#x')],
    ['- window: {action: switch, parent: true}', s.switchParentFrame()],
    ['- store: {selector: h1, as: title}', s.storeElementText('h1', 'title')],
    ['- store: {type: value, element: "#q", variable: q}', s.storeElementValue('#q', 'q')],
    ['- store: {type: attribute, selector: a, attr: href, as: link}', s.storeAttribute('a', 'href', 'link')],
    ['- store: {type: literal, value: test123, as: v}', s.storeLiteral('test123', 'v')],
    ['- store: {from: span.user, in: user, type: text}', s.storeElementText('span.user', 'user')],
    ['- cookie: {action: create, name: sid, value: abc}', s.cookieCreate('sid', 'abc')],
    ['- cookie: {action: set, name: sid, value: abc, secure: true}', s.cookieCreate('sid', 'abc', { secure: true })],
    ['- cookie: {action: remove, name: sid}', s.cookieDelete('sid')],
    ['- cookie: {action: clear}', s.cookieClearAll()],
    ['- wait: div.loaded', s.waitForElement('div.loaded')],
    ['- wait: 2000', s.waitTime(2000)],
    ['- wait: {for: img.loaded}', s.waitForElement('img.loaded')],
    ['- wait: {ms: 500}', s.waitTime(500)],
    ['- alert: dismiss', s.dismissAlert()],
    ['- dialog: accept', s.dismissAlert()],
    ['- dialog: {type: confirm, action: accept}', s.dismissConfirm(true)],
    ['- dialog: {type: confirm}', s.dismissConfirm(false)],
    ['- dialog: {type: prompt, text: Bob}', s.dismissPrompt(true, 'Bob')],
    ['- dialog: {type: prompt, action: reject}', s.dismissPrompt(false)],
    ['- file: {selector: "input[type=file]", url: "https://x.example/a.pdf"}', s.upload('input[type=file]', 'https://x.example/a.pdf')],
    ['- upload: {element: f, from: "https://x.example/b.doc"}', s.upload('f', 'https://x.example/b.doc')],
    ['- comment: "This is a test"', s.comment('This is a test')],
    ['- execute: "return document.title;"', s.executeJs('return document.title;')],
    ['- javascript: "console.log(1)"', s.executeJs('console.log(1)')],
    ['- js: {value: "1 + 1"}', s.executeJs('1 + 1')],
    // {type, command, target, value}
    ['- {type: navigate, target: "https://a.example.com"}', s.navigate('https://a.example.com')],
    ['- {type: interact, command: click, target: "#go"}', s.click('#go')],
    ['- {type: interact, command: write, target: "#q", value: shoes}', s.write('#q', 'shoes')],
    ['- {type: interact, command: key, value: Enter}', s.key('Enter')],
    ['- {type: interact, command: hover, target: m}', s.hover('m')],
    ['- {type: wait, command: element, target: form}', s.waitForElement('form')],
    ['- {type: wait, command: time, value: "2000"}', s.waitTime(2000)],
    ['- {type: assert, command: exists, target: div.dashboard}', s.assertion('exists', 'div.dashboard')],
    ['- {type: assert, command: equals, target: h1, value: Hi}', s.assertion('equals', 'h1', 'Hi')],
    ['- {type: data, command: store, target: span.username, value: user}', s.storeElementText('span.username', 'user')],
    ['- {type: misc, command: comment, value: hello}', s.comment('hello')],
    ['- {type: window, command: maximize, description: big}', s.windowMaximize()],
    ['- {type: interact, command: select option, target: "#c", value: France}', s.selectOption('#c', 'France')],
    // a step as one text (the CLI's YAML normalizer)
    ['- "click: Login button"', s.click('Login button')],
    ["- \"write: 'input#email' 'a b@example.com'\"", s.write('input#email', 'a b@example.com')],
    ['- "wait: for .spinner"', s.waitForElement('.spinner')],
    ['- "wait: 2s"', s.waitTime(2000)],
    ['- "wait: 500ms"', s.waitTime(500)],
    ['- "navigate: https://a.example.com/x"', s.navigate('https://a.example.com/x')],
    // gen-1 types, in a run-test file too
    ['- {type: fill, selector: "#q", value: shoes}', s.write('#q', 'shoes')],
    ['- {type: click, selector: Go}', s.click('Go')],
  ];

  it('converts every spelling to the step the CLI meant', () => {
    for (const [yaml, parsedStep] of CASES) assert.deepEqual(one(yaml).parsedStep, parsedStep, clue(yaml));
  });

  it('writes into the focused element when no selector is given, as the CLI did, and says so', () => {
    const w = one('- write: hello');
    assert.deepEqual(w.parsedStep, s.write('[focused]', 'hello'));
    assert.match(w.notes.join('\n'), /write without a selector writes into '\[focused\]'/);
  });

  it("says when it reads what the CLI dropped: assert {element, equals}", () => {
    assert.match(one('- assert: {element: b, equals: Go}').notes.join('\n'), /read as an 'equals' assertion \(the original CLI made it an existence check\)/);
  });

  it('refuses what cannot be built, naming the step and what it needs', () => {
    const cases: [string, RegExp][] = [
      ['- mouse: {action: enter}', /mouse enter needs 'selector'/],
      ['- mouse: {action: wiggle}', /mouse: unknown action 'wiggle'; allowed: move-to/],
      ['- select: {selector: "#c"}', /select needs 'option', 'index' or 'last: true'/],
      ['- store: {selector: h1}', /store needs 'as'/],
      ['- store: {type: weird, selector: h1, as: x}', /store: unknown type 'weird'/],
      ['- assert: {type: bigger, selector: h1}', /assert: unknown type 'bigger'/],
      ['- assert: {type: equals}', /assert equals needs 'selector'/],
      ['- cookie: {action: create, name: x}', /cookie create needs name and value/],
      ['- window: {action: switch, to: sideways}', /window switch needs/],
      ['- dialog: {type: popup}', /dialog: unknown type 'popup'/],
      ['- file: {selector: x}', /file upload needs selector and url/],
      ['- {type: teleport, command: now, target: x}', /unknown step type 'teleport now'/],
      ['- {type: interact, command: write, target: "#q"}', /interact write needs 'value'/],
      ['- navigate: back', /Navigating back is not supported/],
      ['- clik: x', /unknown step 'clik' \(did you mean 'click'\?\)/],
      ['- navigate: {url: "ftp://x"}', /navigate/],
      ['- "teleport: now"', /a step is a map with one action key/],
      ['- just words', /a step is a map with one action key/],
    ];
    for (const [yaml, message] of cases) {
      const [p, ...rest] = problems(() => parseDefinition(runTest(yaml)));
      assert.deepEqual(rest, [], yaml);
      assert.equal(p.path, 'steps[0]', yaml);
      assert.equal(p.line, 4, yaml);
      assert.match(p.message, message, yaml);
    }
  });
});

describe('test file formats: the run-test definition around the steps', () => {
  it('takes the project as an id, a name, a map or --project-name (which wins)', () => {
    const project = (head: string, projectName?: string) => parseDefinition(runTest('- click: x', `name: T\n${head}`), { projectName }).project;
    assert.deepEqual(project('project: 42\n'), { id: '42' });
    assert.deepEqual(project('project: "42"\n'), { id: '42' });
    assert.deepEqual(project('project: Shop\n'), { name: 'Shop' });
    assert.deepEqual(project('infrastructure: {project: {name: Shop, description: D}}\n'), { name: 'Shop', description: 'D' });
    assert.deepEqual(project('project: Shop\n', 'Other'), { name: 'Other' });
    assert.deepEqual(project(''), { name: `Test Project ${TODAY}` });
  });

  it('names an unnamed run as the CLI did, and takes starting_url from infrastructure', () => {
    const d = parseDefinition('infrastructure: {starting_url: "https://i.example.com"}\nsteps:\n  - click: x\n');
    assert.match(d.name, /^Test Run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal(d.goals[0].url, 'https://i.example.com');
    assert.equal(parseDefinition(runTest('- click: x', 'name: T\n')).goals[0].url, 'https://example.com', "no URL at all: the CLI's default");
  });

  it('reads variables as a list or a map; ${name} of a variable is used, any other stays literal, as the CLI sent it', () => {
    const d = parseDefinition(runTest('- write: {selector: "#q", text: "${term}"}\n- execute: "return `${x}`"', 'name: T\nstarting_url: https://a.example.com\nvariables:\n  - {name: term, value: shoes}\n'));
    assert.deepEqual(d.variables, { term: 'shoes' });
    assert.deepEqual(steps(d).map((x) => x.parsedStep), [s.write('#q', 'shoes'), s.executeJs('return `${x}`')]);
    const sent = parseDefinition(runTest('- write: {selector: "#q", text: "${user}"}'), { variables: { user: 'ann' } });
    assert.equal(steps(sent)[0].parsedStep.value, 'ann', 'a variable sent with the request counts');
    assert.equal(parseDefinition(runTest('- comment: "${a}"', 'name: T\nstarting_url: https://a.example.com\nvariables: {a: 1}\n')).variables.a, '1');
    assert.match(problems(() => parseDefinition(runTest('- click: x', 'name: T\nvariables: 5\n')))[0].message, /variables must be a list of \{name, value\}/);
  });

  it('maps config to options (the timeout kept within what a run may take) and notes what it drops', () => {
    const d = parseDefinition(runTest('- click: x', 'name: T\nstarting_url: https://a.example.com\nconfig: {continue_on_error: true, timeout: 30, retries: 3}\nauthor: me\n'));
    assert.deepEqual(d.options, { continueOnError: true, timeoutSeconds: 60 });
    assert.ok(d.notes.includes('config.timeout 30 is outside 60–86400 seconds: the run\'s timeout is 60 s'));
    assert.ok(d.notes.includes('config.retries is not supported and is ignored'));
    assert.ok(d.notes.includes("'author' is not part of the run-test format and is ignored"));
  });

  it('shows problems where the user wrote them: a bad starting_url, a missing steps list', () => {
    const [url] = problems(() => parseDefinition('name: T\nstarting_url: not a url\nsteps:\n  - click: x\n'));
    assert.deepEqual(url, { path: 'starting_url', message: "must be an http(s) URL (or begin with a ${variable}), not 'not a url'", line: 2, column: 1 });
    const [none] = problems(() => parseDefinition('name: T\nsteps: []\n'));
    assert.deepEqual(none, { path: 'steps', message: 'a run-test definition needs at least one step', line: 2, column: 1 });
    const [goalName] = problems(() => parseDefinition(runTest('- click: x', `name: ${'n'.repeat(200)}\nstarting_url: https://a.example.com\n`)));
    assert.deepEqual([goalName.path, goalName.line], ['name', 1], "the goal's name comes from the run's: the problem is shown there");
  });

  it('takes several run-test documents as one run, a goal each', () => {
    const text = `${runTest('- click: a', 'name: First\nproject: Shop\nstarting_url: https://a.example.com\n')}---\n${runTest('- click: b', 'name: Second\nproject: Shop\n')}---\n`;
    const d = parseDefinition(text);
    assert.equal(d.name, 'First (+1 more)');
    assert.deepEqual(d.goals.map((g) => [g.name, g.url]), [['First - Goal', 'https://a.example.com'], ['Second - Goal', 'https://example.com']]);
    assert.deepEqual([steps(d, 0)[0].parsedStep, steps(d, 1)[0].parsedStep], [s.click('a'), s.click('b')]);
    const [p] = problems(() => parseDefinition(`${runTest('- click: a')}---\n${runTest('- clik: b')}`));
    assert.equal(p.path, 'documents[1].steps[0]');
    assert.equal(p.line, 9, 'the line in the whole text');
    const mixed = problems(() => parseDefinition(`name: A\nproject: P\ngoals: []\n---\nname: B\nproject: P\ngoals: []\n`));
    assert.ok(mixed.some((p) => /this YAML holds 2 documents/.test(p.message) && p.path === 'documents[1]' && p.line === 5), JSON.stringify(mixed));
    const [projects] = problems(() => parseDefinition(`${runTest('- click: a', 'name: A\nproject: X\n')}---\n${runTest('- click: b', 'name: B\nproject: Y\n')}`));
    assert.match(projects.message, /the documents name different projects/);
  });

  it('refuses a journey template with where to take it', () => {
    const [p] = problems(() => parseDefinition('journey:\n  name: J\n  project_id: 1\n  checkpoints: []\n'));
    assert.equal(p.path, 'journey');
    assert.match(p.message, /journey template \(load-template's format\).*load-template.*generate-commands/);
  });
});

describe('test file formats: create-structure and compact', () => {
  it('create-structure: navigation_url is a first navigation step; waits default to 5000 ms; problems at the step', () => {
    const text = `project: {id: 7, name: ignored}\ngoals:\n  - name: G\n    url: https://g.example.com\n    journeys:\n      - name: J\n        checkpoints:\n          - name: C\n            navigation_url: https://g.example.com/login\n            steps:\n              - {type: wait, selector: form}\n              - {type: fill, selector: "#u", value: ann}\n              - {type: wait, timeout: 300}\n              - click: Go\n`;
    const d = parseDefinition(text);
    assert.equal(d.format, 'create-structure');
    assert.deepEqual(d.project, { id: '7' });
    assert.deepEqual(steps(d).map((x) => x.parsedStep), [s.navigate('https://g.example.com/login'), s.waitForElement('form', 5000), s.write('#u', 'ann'), s.waitTime(300), s.click('Go')]);
    assert.ok(d.notes.some((n) => /project\.id 7 is used/.test(n)));
    const [p] = problems(() => parseDefinition(text.replace('{type: fill, selector: "#u", value: ann}', '{type: fill, selector: "#u"}')));
    assert.deepEqual([p.path, p.line], ['goals[0].journeys[0].checkpoints[0].steps[1]', 12]);
    assert.match(p.message, /fill needs 'value'/);
    const [url] = problems(() => parseDefinition(text.replace('url: https://g.example.com\n', 'url: nope\n')));
    assert.equal(url.path, 'goals[0].url', 'the tree is the native one: its paths are the user\'s');
  });

  it('compact: steps by their short keys; a relative nav is refused with the reason', () => {
    const d = parseDefinition('test: Search\nnav: https://s.example.com\ndo:\n  - k: Enter\n  - h: Menu\n  - note: hi\n  - store: {.total: total}\n  - js: "1"\n  - nav: https://s.example.com/2\n');
    assert.deepEqual(steps(d).map((x) => x.parsedStep), [s.key('Enter'), s.hover('Menu'), s.comment('hi'), s.storeElementText('.total', 'total'), s.executeJs('1'), s.navigate('https://s.example.com/2')]);
    const [rel] = problems(() => parseDefinition('test: T\nnav: /contact\ndo:\n  - c: Go\n'));
    assert.deepEqual([rel.path, rel.line], ['nav', 2]);
    assert.match(rel.message, /relative.*write the full URL/);
    const [unknown] = problems(() => parseDefinition('test: T\nnav: https://a.example.com\ndo:\n  - zz: Go\n'));
    assert.deepEqual([unknown.path, unknown.line], ['do[0]', 4]);
  });

  it('passes a native definition through untouched', () => {
    const doc = { name: 'N', project: 'P', goals: [] };
    const c = toNative([doc]);
    assert.equal(c.format, 'native');
    assert.equal(c.document, doc);
    assert.deepEqual(c.notes, []);
  });
});

describe('test file formats: a stored step back to its short form (yaml convert <checkpoint>)', () => {
  const SAMPLE: Record<ArgType, string | number | boolean> = {
    selector: 'the "Login" button', text: 'hello', url: 'https://example.com/a.pdf', int: 2, ms: 1500, xy: '-10,20', wxh: '800x600',
    variable: 'orderId', key: 'ENTER', boolean: true, 'element-position': 'CENTER', modifiers: 'ctrl',
  };

  it('gives every catalogue step a short form that builds the same step', () => {
    const missing: string[] = [];
    for (const c of STEP_COMMANDS) {
      const sent = c.flags.filter((f) => !f.noEffect && !['accept', 'reject'].includes(f.name));
      const variants = [
        Object.fromEntries(c.args.filter((a) => a.required !== false).map((a) => [a.name, SAMPLE[a.type]])),
        Object.fromEntries([...c.args, ...sent].map((a) => [a.name, SAMPLE[a.type]])),
      ];
      for (const args of variants) {
        const built = stepFromJson({ command: c.name, args }).parsedStep;
        const form = shortForm(built);
        if (!form) {
          missing.push(c.name);
          continue;
        }
        assert.deepEqual(buildStepCommand(form).parsedStep, built, `${c.name} → ${JSON.stringify(form)}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('reports a stored step of a shape the short forms do not have', () => {
    assert.equal(shortForm({ action: 'TELEPORT' }), undefined);
    assert.equal(shortForm({ action: 'CLICK' }), undefined, 'a click without a target');
  });
});

describe('test file formats: the documentation (shared/schemas/test-definition.md)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const doc = (require('node:fs') as typeof import('node:fs')).readFileSync(`${__dirname}/../../shared/schemas/test-definition.md`, 'utf8');
  const section = doc.slice(doc.indexOf("## Other formats: the original CLI's test files"));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);

  it('has a valid example of each format, converted as it says', () => {
    assert.deepEqual(blocks.map((b) => parseDefinition(b).format), ['run-test', 'create-structure', 'compact']);
    const [runTestDoc, structure, compact] = blocks.map((b) => parseDefinition(b));
    assert.deepEqual([runTestDoc.goals[0].name, runTestDoc.goals[0].url, runTestDoc.totalSteps, runTestDoc.options.timeoutSeconds], ['Login test - Goal', 'https://shop.example.com/login', 10, 600]);
    assert.equal(steps(runTestDoc)[1].parsedStep.value, 'qa@example.com', '${user} is the variable');
    assert.deepEqual(steps(structure).map((x) => x.parsedStep), [s.navigate('https://example.com/start'), s.navigate('https://example.com'), s.waitForElement('Body', 1000), s.write('#q', 'shoes'), s.click('Search')]);
    assert.deepEqual(steps(compact).map((x) => x.command), ['step-interact.write', 'step-interact.click', 'step-wait.element', 'step-assert.exists']);
  });
});
