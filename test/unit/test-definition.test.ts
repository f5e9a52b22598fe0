/** The test definition format (shared/testruns/definition.ts, shared/schemas/test-definition.md): short forms, checks, variables. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AppError, errorBody } from '../../shared/errors';
import { validator } from '../../shared/schemas';
import { STEP_COMMANDS } from '../../shared/virtuoso/step-commands';
import * as s from '../../shared/virtuoso/steps';
import { type DefinitionProblem, MAX_PROBLEMS, parseDefinition, testDefinitionSchema, type TestDefinition } from '../../shared/testruns/definition';
import { FORM_KEYS, USAGE } from '../../shared/testruns/step-forms';

const clue = (selector: string) => JSON.stringify({ clue: selector });

/** A whole definition around some steps (one goal, one journey, one checkpoint). */
function withSteps(steps: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Run',
    project: 'Shop',
    goals: [{ name: 'Store', url: 'https://shop.example.com', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home', steps }] }] }],
    ...extra,
  };
}
const stepsOf = (d: TestDefinition) => d.goals[0].journeys[0].checkpoints[0].steps;
const oneStep = (step: unknown) => stepsOf(parseDefinition(withSteps([step])))[0];

/** The AppError a call throws (fails the test when it does not throw one). */
function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to throw');
}
const problemsOf = (fn: () => unknown): DefinitionProblem[] => {
  const err = thrown(fn);
  assert.equal(err.status, 422, err.message);
  return err.details as DefinitionProblem[];
};
const onlyProblem = (step: unknown): DefinitionProblem => {
  const problems = problemsOf(() => parseDefinition(withSteps([step])));
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.equal(problems[0].path, 'goals[0].journeys[0].checkpoints[0].steps[0]');
  return problems[0];
};

type Case = [step: unknown, command: string, action: string, value: string, meta: Record<string, unknown>, selector?: string, variable?: string];

/** Every short form, with the command it maps to and the parsedStep it creates. */
const CASES: Case[] = [
  [{ navigate: 'https://example.com/login' }, 'step-navigate.to', 'NAVIGATE', 'https://example.com/login', { kind: 'NAVIGATE', type: 'URL', useNewTab: false }],
  [{ navigate: { url: 'https://example.com', newTab: true } }, 'step-navigate.to', 'NAVIGATE', 'https://example.com/', { kind: 'NAVIGATE', type: 'URL', useNewTab: true }],
  [{ scroll: 'top' }, 'step-navigate.scroll-top', 'SCROLL', '', { type: 'TOP' }],
  [{ scroll: 'bottom' }, 'step-navigate.scroll-bottom', 'SCROLL', '', { type: 'BOTTOM' }],
  [{ scroll: 'up' }, 'step-navigate.scroll-up', 'SCROLL', '', { type: 'OFFSET', x: 0, y: -1000 }],
  [{ scroll: 'down' }, 'step-navigate.scroll-down', 'SCROLL', '', { type: 'OFFSET', x: 0, y: 1000 }],
  [{ scroll: { element: 'Footer' } }, 'step-navigate.scroll-element', 'SCROLL', '', { type: 'ELEMENT' }, 'Footer'],
  [{ scroll: { position: '0,500' } }, 'step-navigate.scroll-position', 'SCROLL', '', { type: 'POSITION', x: 0, y: 500 }],
  [{ scroll: { by: '0, -200' } }, 'step-navigate.scroll-by', 'SCROLL', '', { type: 'OFFSET', x: 0, y: -200 }],
  [{ click: 'Login button' }, 'step-interact.click', 'CLICK', '', {}, 'Login button'],
  [{ click: 123 }, 'step-interact.click', 'CLICK', '', {}, '123'],
  [{ 'double-click': 'Row 1' }, 'step-interact.double-click', 'MOUSE', '', { action: 'DOUBLE_CLICK' }, 'Row 1'],
  [{ 'right-click': 'Row 1' }, 'step-interact.right-click', 'MOUSE', '', { action: 'RIGHT_CLICK' }, 'Row 1'],
  [{ hover: 'Menu' }, 'step-interact.hover', 'MOUSE', '', { action: 'OVER' }, 'Menu'],
  [{ write: { selector: 'Email', text: 'a@b.c' } }, 'step-interact.write', 'WRITE', 'a@b.c', { append: false }, 'Email'],
  [{ write: { selector: 'Code', text: 42, clear: false } }, 'step-interact.write', 'WRITE', '42', { append: true }, 'Code'],
  [{ key: 'Enter' }, 'step-interact.key', 'KEY', 'Enter', {}],
  [{ key: { key: 'Tab', target: 'Search' } }, 'step-interact.key', 'KEY', 'Tab', {}, 'Search'],
  [{ mouse: { 'move-to': 'Menu' } }, 'step-interact.mouse.move-to', 'MOUSE', '', { action: 'MOVE' }, 'Menu'],
  [{ mouse: { move: '10,20' } }, 'step-interact.mouse.move', 'MOUSE', '', { action: 'MOVE', x: 10, y: 20 }],
  [{ mouse: { 'move-by': '5,-5' } }, 'step-interact.mouse.move-by', 'MOUSE', '', { action: 'OFFSET', x: 5, y: -5 }],
  [{ mouse: { down: 'Handle' } }, 'step-interact.mouse.down', 'MOUSE', '', { action: 'DOWN' }, 'Handle'],
  [{ mouse: 'down' }, 'step-interact.mouse.down', 'MOUSE', '', { action: 'DOWN' }],
  [{ mouse: { up: 'Bin' } }, 'step-interact.mouse.up', 'MOUSE', '', { action: 'UP' }, 'Bin'],
  [{ mouse: 'up' }, 'step-interact.mouse.up', 'MOUSE', '', { action: 'UP' }],
  [{ mouse: { enter: 'Canvas' } }, 'step-interact.mouse.enter', 'MOUSE', '', { action: 'ENTER' }, 'Canvas'],
  [{ select: { selector: 'Country', option: 'France' } }, 'step-interact.select.option', 'PICK', 'France', { type: 'VISIBLE_TEXT' }, 'Country'],
  [{ select: { selector: 'Country', index: 2 } }, 'step-interact.select.index', 'PICK', '2', { type: 'INDEX' }, 'Country'],
  [{ select: { selector: 'Country', last: true } }, 'step-interact.select.last', 'PICK', '-1', { type: 'INDEX' }, 'Country'],
  [{ assert: 'Welcome' }, 'step-assert.exists', 'ASSERT_EXISTS', '', {}, 'Welcome'],
  [{ assert: { exists: 'Welcome' } }, 'step-assert.exists', 'ASSERT_EXISTS', '', {}, 'Welcome'],
  [{ assert: { 'not-exists': 'Error' } }, 'step-assert.not-exists', 'ASSERT_NOT_EXISTS', '', {}, 'Error'],
  [{ assert: { checked: 'Terms' } }, 'step-assert.checked', 'ASSERT_CHECKED', '', {}, 'Terms'],
  [{ assert: { selected: 'Blue' } }, 'step-assert.selected', 'ASSERT_SELECTED', '', {}, 'Blue'],
  [{ assert: { equals: 'Total', value: '42.00' } }, 'step-assert.equals', 'ASSERT_EQUALS', '42.00', {}, 'Total'],
  [{ assert: { 'not-equals': 'Total', value: 0 } }, 'step-assert.not-equals', 'ASSERT_NOT_EQUALS', '0', {}, 'Total'],
  [{ assert: { gt: 'Count', value: 1 } }, 'step-assert.gt', 'ASSERT_GREATER_THAN', '1', {}, 'Count'],
  [{ assert: { gte: 'Count', value: 2 } }, 'step-assert.gte', 'ASSERT_GREATER_THAN_OR_EQUAL', '2', {}, 'Count'],
  [{ assert: { lt: 'Count', value: 3 } }, 'step-assert.lt', 'ASSERT_LESS_THAN', '3', {}, 'Count'],
  [{ assert: { lte: 'Count', value: 4 } }, 'step-assert.lte', 'ASSERT_LESS_THAN_OR_EQUAL', '4', {}, 'Count'],
  [{ assert: { matches: 'Order number', value: '^A\\d+$' } }, 'step-assert.matches', 'ASSERT_MATCHES', '^A\\d+$', {}, 'Order number'],
  [{ assert: { variable: 'total', value: '42' } }, 'step-assert.variable', 'ASSERT_VARIABLE', '42', { kind: 'ASSERT_VARIABLE', type: 'EQUALS' }, undefined, 'total'],
  [{ wait: 500 }, 'step-wait.time', 'WAIT', '500', { type: 'TIME' }],
  [{ wait: '750' }, 'step-wait.time', 'WAIT', '750', { type: 'TIME' }],
  [{ wait: 'Spinner' }, 'step-wait.element', 'WAIT', '20000', { type: 'ELEMENT' }, 'Spinner'],
  [{ wait: { element: 'Results', timeout: 5000 } }, 'step-wait.element', 'WAIT', '5000', { type: 'ELEMENT' }, 'Results'],
  [{ wait: { time: 1000 } }, 'step-wait.time', 'WAIT', '1000', { type: 'TIME' }],
  [{ store: { selector: 'Order number', as: 'order' } }, 'step-data.store.element-text', 'STORE', '', {}, 'Order number', 'order'],
  [{ store: { selector: 'Email', as: 'email', from: 'value' } }, 'step-data.store.element-value', 'STORE', '', {}, 'Email', 'email'],
  [{ store: { selector: 'Help link', attribute: 'href', as: 'helpUrl' } }, 'step-data.store.attribute', 'STORE', '', { attribute: 'href' }, 'Help link', 'helpUrl'],
  [{ store: { literal: 'abc', as: 'code' } }, 'step-data.store.literal', 'STORE', 'abc', {}, undefined, 'code'],
  [
    { cookie: { create: 'session', value: 'abc', domain: '.example.com', path: '/', secure: true, httpOnly: true } },
    'step-data.cookie.create',
    'ENVIRONMENT',
    'abc',
    { type: 'ADD', name: 'session', domain: '.example.com', path: '/', secure: true, httpOnly: true },
  ],
  [{ cookie: { create: 'lang', value: 'en' } }, 'step-data.cookie.create', 'ENVIRONMENT', 'en', { type: 'ADD', name: 'lang' }],
  [{ cookie: { delete: 'session' } }, 'step-data.cookie.delete', 'ENVIRONMENT', '', { type: 'DELETE', name: 'session' }],
  [{ cookie: 'clear-all' }, 'step-data.cookie.clear-all', 'ENVIRONMENT', '', { type: 'CLEAR' }],
  [{ window: 'maximize' }, 'step-window.maximize', 'WINDOW', '', { type: 'MAXIMIZE' }],
  [{ window: { resize: '1024x768' } }, 'step-window.resize', 'WINDOW', '', { type: 'RESIZE', dimension: { width: 1024, height: 768 } }],
  [{ window: { tab: 'next' } }, 'step-window.switch.tab.next', 'SWITCH', '', { type: 'NEXT_TAB' }],
  [{ window: { tab: 'prev' } }, 'step-window.switch.tab.prev', 'SWITCH', '', { type: 'PREV_TAB' }],
  [{ window: { tab: 2 } }, 'step-window.switch.tab.index', 'SWITCH', '2', { type: 'TAB' }],
  [{ window: { iframe: '#payment' } }, 'step-window.switch.iframe', 'SWITCH', '', { type: 'FRAME_BY_ELEMENT' }, '#payment'],
  [{ window: 'parent-frame' }, 'step-window.switch.parent-frame', 'SWITCH', '', { type: 'PARENT_FRAME' }],
  [{ dialog: 'alert' }, 'step-dialog.dismiss-alert', 'DISMISS', '', { type: 'ALERT' }],
  [{ dialog: { alert: 'accept' } }, 'step-dialog.dismiss-alert', 'DISMISS', '', { type: 'ALERT' }],
  [{ dialog: 'confirm' }, 'step-dialog.dismiss-confirm', 'DISMISS', '', { type: 'CONFIRM', action: 'OK' }],
  [{ dialog: { confirm: 'reject' } }, 'step-dialog.dismiss-confirm', 'DISMISS', '', { type: 'CONFIRM', action: 'CANCEL' }],
  [{ dialog: 'prompt' }, 'step-dialog.dismiss-prompt', 'DISMISS', '', { type: 'PROMPT', action: 'OK' }],
  [{ dialog: { prompt: 'reject' } }, 'step-dialog.dismiss-prompt', 'DISMISS', '', { type: 'PROMPT', action: 'CANCEL' }],
  [{ dialog: { prompt: 'accept', text: 'Bob' } }, 'step-dialog.dismiss-prompt-with-text', 'DISMISS', 'Bob', { type: 'PROMPT', action: 'OK' }],
  [{ upload: { selector: 'Avatar', url: 'https://files.example.com/a.png' } }, 'step-file.upload-url', 'UPLOAD', 'https://files.example.com/a.png', {}, 'Avatar'],
  [{ upload: { selector: 'Avatar', file: 'https://files.example.com/a.png' } }, 'step-file.upload', 'UPLOAD', 'https://files.example.com/a.png', {}, 'Avatar'],
  [{ comment: 'Log in first' }, 'step-misc.comment', 'COMMENT', 'Log in first', {}],
  [{ execute: 'return document.title' }, 'step-misc.execute', 'EXECUTE', 'return document.title', { explicit: true, script: 'return document.title' }],
  [{ step: 'step-interact.mouse.move-to', args: { selector: 'Menu' } }, 'step-interact.mouse.move-to', 'MOUSE', '', { action: 'MOVE' }, 'Menu'],
  [{ step: 'step-window.maximize' }, 'step-window.maximize', 'WINDOW', '', { type: 'MAXIMIZE' }],
];

describe('test definition: step short forms', () => {
  for (const [step, command, action, value, meta, selector, variable] of CASES) {
    it(`${JSON.stringify(step)} → ${command}`, () => {
      const def = oneStep(step);
      assert.equal(def.command, command);
      assert.equal(def.parsedStep.action, action);
      assert.equal(def.parsedStep.value, value);
      assert.deepEqual(def.parsedStep.meta, meta);
      assert.equal(def.parsedStep.target?.selectors[0].value, selector === undefined ? undefined : clue(selector));
      assert.equal(def.parsedStep.variable, variable);
    });
  }

  it('builds the same parsedStep as the catalogue builders', () => {
    assert.deepEqual(oneStep({ click: 'Login button' }).parsedStep, s.click('Login button'));
    assert.deepEqual(oneStep({ write: { selector: 'Email', text: 'a@b.c' } }).parsedStep, s.write('Email', 'a@b.c'));
    assert.deepEqual(oneStep({ mouse: { move: '10,20' } }).parsedStep, s.mouseMove(10, 20));
    assert.deepEqual(oneStep({ cookie: { create: 'session', value: 'abc', secure: true } }).parsedStep, s.cookieCreate('session', 'abc', { secure: true }));
    assert.deepEqual(oneStep({ wait: { element: 'Results', timeout: 5000 } }).parsedStep, s.waitForElement('Results', 5000));
    assert.deepEqual(oneStep({ dialog: { prompt: 'accept', text: 'Bob' } }).parsedStep, s.dismissPrompt(true, 'Bob'));
  });

  it('reaches every command of the step catalogue from a short form', () => {
    const reached = new Set(CASES.filter(([step]) => !('step' in (step as object))).map(([, command]) => command));
    const missing = STEP_COMMANDS.map((c) => c.name).filter((n) => !reached.has(n));
    assert.deepEqual(missing, []);
    assert.equal(reached.size, STEP_COMMANDS.length);
    const keys = new Set(CASES.map(([step]) => Object.keys(step as object)[0]));
    assert.deepEqual(FORM_KEYS.filter((k) => !keys.has(k)), []);
    assert.deepEqual(Object.keys(USAGE), [...FORM_KEYS]);
  });

  it('keeps the published JSON Schema in step with the forms', () => {
    const validate = validator(testDefinitionSchema);
    for (const [step] of CASES) assert.ok(validate(withSteps([step])), `${JSON.stringify(step)}: ${JSON.stringify(validate.errors)}`);
    const schema = testDefinitionSchema as { definitions: { shortStep: { properties: object }; catalogueStep: { properties: { step: { enum: string[] } } } } };
    assert.deepEqual(Object.keys(schema.definitions.shortStep.properties), [...FORM_KEYS]);
    assert.deepEqual(schema.definitions.catalogueStep.properties.step.enum, STEP_COMMANDS.map((c) => c.name));
    assert.ok(!validate(withSteps([{ clik: 'x' }])));
    assert.ok(!validate(withSteps([{ click: 'x', hover: 'y' }])));
  });

  it('gives each step a one-line label as written and the catalogue arguments', () => {
    const steps = stepsOf(
      parseDefinition(
        withSteps([{ click: 'Login button' }, { write: { selector: 'Email', text: '${user}' } }, { execute: 'const a = 1;\nreturn a' }, { wait: 500 }], {
          variables: { user: 'alice' },
        }),
      ),
    );
    assert.deepEqual(
      steps.map((x) => x.label),
      ['click: Login button', 'write: {selector: Email, text: ${user}}', 'execute: const a = 1; return a', 'wait: 500'],
    );
    assert.deepEqual(steps[1].args, { selector: 'Email', text: 'alice' });
    assert.deepEqual(steps[3].args, { ms: 500 });
  });

  it('keeps numbers in YAML step values as written', () => {
    const yaml = ['name: Run', 'project: Shop', 'goals:', '  - name: G', '    url: https://x.example', '    journeys:', '      - name: J', '        checkpoints:', '          - name: C', '            steps:'];
    const steps = stepsOf(
      parseDefinition([...yaml, '              - write: {selector: Zip, text: 007}', '              - assert: {equals: Price, value: 1.50}', '              - click: 123', '              - wait: 250'].join('\n')),
    );
    assert.equal(steps[0].parsedStep.value, '007');
    assert.equal(steps[1].parsedStep.value, '1.50');
    assert.equal(steps[2].parsedStep.target?.selectors[0].value, clue('123'));
    assert.deepEqual([steps[3].command, steps[3].parsedStep.value], ['step-wait.time', '250']);
  });
});

describe('test definition: structure, project, variables and options', () => {
  const YAML = `# A definition with everything
name: Checkout smoke
description: Buys one item
project:
  name: Shop
  description: The web shop
variables:
  baseUrl: https://shop.example.com
  user: alice
  delay: 300
options:
  continueOnError: true
  timeout: 900
goals:
  - name: Store
    url: \${baseUrl}/home
    journeys:
      - name: Guest
        checkpoints:
          - name: Navigation
            steps: []
          - name: Login
            steps:
              - write: {selector: Email, text: "\${user}@example.com"}
              - wait: \${delay}
              - navigate: \${baseUrl}/cart
              - execute: "return \`$\${a}-\${user}\` + $total + '$$'"
      - name: Member
        checkpoints:
          - name: Account
            steps:
              - assert: {variable: user, value: "\${user}"}
`;

  it('reads a whole YAML definition', () => {
    const d = parseDefinition(YAML);
    assert.equal(d.name, 'Checkout smoke');
    assert.equal(d.description, 'Buys one item');
    assert.deepEqual(d.project, { name: 'Shop', description: 'The web shop' });
    assert.deepEqual(d.variables, { baseUrl: 'https://shop.example.com', user: 'alice', delay: '300' });
    assert.deepEqual(d.options, { continueOnError: true, timeoutSeconds: 900 });
    assert.equal(d.goals.length, 1);
    assert.equal(d.goals[0].url, 'https://shop.example.com/home');
    assert.deepEqual(
      d.goals[0].journeys.map((j) => [j.name, j.checkpoints.map((c) => [c.name, c.steps.length])]),
      [
        ['Guest', [['Navigation', 0], ['Login', 4]]],
        ['Member', [['Account', 1]]],
      ],
    );
    assert.equal(d.totalSteps, 5);
    const login = d.goals[0].journeys[0].checkpoints[1].steps;
    assert.equal(login[0].parsedStep.value, 'alice@example.com');
    assert.deepEqual([login[1].command, login[1].parsedStep.value], ['step-wait.time', '300']);
    assert.equal(login[2].parsedStep.value, 'https://shop.example.com/cart');
    // $${a} is the literal ${a}; Virtuoso's own $total and a lone $$ pass through untouched.
    assert.equal(login[3].parsedStep.value, "return `${a}-alice` + $total + '$$'");
    assert.equal(d.goals[0].journeys[1].checkpoints[0].steps[0].parsedStep.value, 'alice');
  });

  it('reads JSON text (tabs and all) and the parsed object alike', () => {
    const json = JSON.stringify(
      withSteps([{ click: 'Login button' }], { variables: { user: 'bob' }, options: { timeout: 120 } }),
      null,
      '\t',
    );
    const d = parseDefinition(json);
    assert.deepEqual(d.options, { continueOnError: false, timeoutSeconds: 120 });
    assert.deepEqual(stepsOf(d)[0].parsedStep, s.click('Login button'));
    assert.deepEqual(parseDefinition(JSON.parse(json) as Record<string, unknown>), d);
  });

  it('lets the request variables override the definition ones', () => {
    const d = parseDefinition(YAML, { variables: { user: 'carol', extra: 'x' } });
    assert.deepEqual(d.variables, { baseUrl: 'https://shop.example.com', user: 'carol', delay: '300', extra: 'x' });
    assert.equal(d.goals[0].journeys[0].checkpoints[1].steps[0].parsedStep.value, 'carol@example.com');
    const overridden = parseDefinition(YAML, { variables: { baseUrl: 'http://staging.example.com' } });
    assert.equal(overridden.goals[0].url, 'http://staging.example.com/home');
    const problems = problemsOf(() => parseDefinition(withSteps([]), { variables: { 'bad name': 'x' } }));
    assert.deepEqual(problems.map((p) => p.path), ['variables["bad name"]']);
  });

  it('takes the project by name, {name, description} or {id}', () => {
    assert.deepEqual(parseDefinition(withSteps([], { project: 'Shop' })).project, { name: 'Shop' });
    assert.deepEqual(parseDefinition(withSteps([], { project: { name: 'Shop', description: 'd' } })).project, { name: 'Shop', description: 'd' });
    assert.deepEqual(parseDefinition(withSteps([], { project: { id: 4711 } })).project, { id: '4711' });
    assert.deepEqual(parseDefinition(withSteps([], { project: { id: '4711' } })).project, { id: '4711' });
    const bad = problemsOf(() => parseDefinition(withSteps([], { project: { id: 'abc', name: 'x' } })));
    assert.deepEqual(
      bad.map((p) => [p.path, p.message]),
      [
        ['project.name', "unknown key 'name' next to id; a project is {id} (an existing project) or {name, description?}"],
        ['project.id', "must be a project id (a positive integer), not 'abc'"],
      ],
    );
    assert.deepEqual(problemsOf(() => parseDefinition(withSteps([], { project: 7 })))[0], {
      path: 'project',
      message: 'must be a project name, {name, description?} or {id}, not 7',
      allowed: ['<name>', '{name, description?}', '{id}'],
    });
  });

  it('applies the option defaults', () => {
    const d = parseDefinition(withSteps([]));
    assert.deepEqual(d.options, { continueOnError: false, timeoutSeconds: 3600 });
    assert.deepEqual(d.variables, {});
    assert.equal(d.description, undefined);
    assert.equal(d.totalSteps, 0);
    assert.deepEqual(parseDefinition(withSteps([], { options: { continueOnError: true } })).options, { continueOnError: true, timeoutSeconds: 3600 });
  });
});

describe('test definition: problems, with their path and place', () => {
  const head = ['name: Run', 'project: Shop', 'goals:', '  - name: Store', '    url: https://shop.example.com', '    journeys:', '      - name: Buy', '        checkpoints:', '          - name: Home', '            steps:'];
  /** YAML whose steps start on line 11, column 17 (after "              - "). */
  const yamlSteps = (...steps: string[]) => [...head, ...steps.map((x) => `              - ${x}`)].join('\n');

  it('rejects a syntax error with its line and column (400)', () => {
    const err = thrown(() => parseDefinition('name: Run\nproject: [Shop\ngoals: []\n'));
    assert.equal(err.status, 400);
    assert.match(err.message, /^The test definition is not valid YAML or JSON: line 3, column 1: /);
    assert.deepEqual(err.details, [{ path: '', message: (err.details as DefinitionProblem[])[0].message, line: 3, column: 1 }]);
    const dup = thrown(() => parseDefinition('name: Run\nproject: Shop\nname: Again\n'));
    assert.equal(dup.status, 400);
    assert.equal(dup.message, 'The test definition is not valid YAML or JSON: line 3, column 1: Map keys must be unique');
    const flow = thrown(() => parseDefinition('name: Run\nsteps:\n  - write: {selector: Email, text: ${user}}\n'));
    assert.match(flow.message, /^The test definition is not valid YAML or JSON: line 3, column \d+: .*; inside \{\.\.\.\} or \[\.\.\.\], quote values that contain \$\{variables\}: "\$\{name\}"$/);
    const json = thrown(() => parseDefinition('{\n  "name": "Run",\n  "project": "Shop",,\n}'));
    assert.equal(json.status, 400);
    assert.equal((json.details as DefinitionProblem[])[0].line, 3);
  });

  it('names an unknown key, with a suggestion and the allowed keys', () => {
    const problems = problemsOf(() => parseDefinition(yamlSteps('click: x').replace('    journeys:', '    jouneys:')));
    assert.deepEqual(problems, [
      { path: 'goals[0]', message: "missing 'journeys' (a goal needs name, url, journeys)", line: 4, column: 5 },
      {
        path: 'goals[0].jouneys',
        message: "unknown key 'jouneys' (did you mean 'journeys'?); allowed: name, url, journeys",
        allowed: ['name', 'url', 'journeys'],
        line: 6,
        column: 5,
      },
    ]);
    const top = problemsOf(() => parseDefinition(`${yamlSteps('click: x')}\nretries: 3`));
    assert.deepEqual(top, [
      {
        path: 'retries',
        message: "unknown key 'retries'; allowed: name, description, project, variables, options, goals",
        allowed: ['name', 'description', 'project', 'variables', 'options', 'goals'],
        line: 12,
        column: 1,
      },
    ]);
  });

  it('names a missing key and a wrong type', () => {
    const missing = problemsOf(() => parseDefinition(yamlSteps('click: x').replace('    url: https://shop.example.com\n', '')));
    assert.deepEqual(missing, [{ path: 'goals[0]', message: "missing 'url' (a goal needs name, url, journeys)", line: 4, column: 5 }]);
    const wrongType = problemsOf(() => parseDefinition(`options:\n  continueOnError: yes\n  timeout: 30\n${yamlSteps('click: x')}`));
    assert.deepEqual(wrongType, [
      { path: 'options.continueOnError', message: "must be true or false, not 'yes'", allowed: ['true or false'], line: 2, column: 3 },
      { path: 'options.timeout', message: 'must be from 60 to 86400 seconds, not 30', line: 3, column: 3 },
    ]);
    const notAList = problemsOf(() => parseDefinition({ name: 'Run', project: 'Shop', goals: {} }));
    assert.deepEqual(notAList, [{ path: 'goals', message: 'must be a list, not a map', allowed: ['a list'] }]);
    const empty = problemsOf(() => parseDefinition(''));
    assert.deepEqual(empty, [{ path: '', message: 'the definition must be a map with name, project and goals, not nothing', allowed: ['a map'] }]);
    const blank = problemsOf(() => parseDefinition(withSteps([], { name: '  ' })));
    assert.deepEqual(blank, [{ path: 'name', message: 'must not be blank' }]);
  });

  it('names an unknown step, with a suggestion and the allowed keys', () => {
    const [p] = problemsOf(() => parseDefinition(yamlSteps('click: a', 'clik: Login button')));
    assert.equal(p.path, 'goals[0].journeys[0].checkpoints[0].steps[1]');
    assert.deepEqual([p.line, p.column], [12, 17]);
    assert.match(p.message, /^unknown step 'clik' \(did you mean 'click'\?\); allowed: navigate, scroll, click, /);
    assert.deepEqual(p.allowed, [...FORM_KEYS, 'step']);
    assert.match(onlyProblem({ click: 'a', hover: 'b' }).message, /^a step has exactly one action key; found 2: click, hover/);
    assert.match(onlyProblem('click Login').message, /^a step is a map with one action key/);
    assert.match(onlyProblem({ step: 'step-interact.clik', args: {} }).message, /^unknown step command 'step-interact.clik' \(did you mean 'step-interact.click'\?\)/);
    assert.deepEqual(onlyProblem({ scroll: 'sideways' }), {
      path: 'goals[0].journeys[0].checkpoints[0].steps[0]',
      message: "scroll takes top, bottom, up, down or {element: <selector>}, {position: 'x,y'} or {by: 'x,y'}, not 'sideways'",
      allowed: ['top', 'bottom', 'up', 'down'],
    });
  });

  it('names bad arguments in the words of the short form', () => {
    const problems = problemsOf(() =>
      parseDefinition(yamlSteps('wait: 70000', 'scroll: {by: abc}', 'write: {selector: Email}', 'write: {selector: Email, txt: a}', 'window: {resize: big}', 'store: {selector: X, as: my var}')),
    );
    const at = (i: number) => `goals[0].journeys[0].checkpoints[0].steps[${i}]`;
    assert.deepEqual(
      problems.map((p) => [p.path, p.message, p.line, p.column]),
      [
        [at(0), 'wait must be a whole number of milliseconds from 0 to 60000, not 70000', 11, 17],
        [at(1), "scroll: 'by' must be two integers as 'x,y' (e.g. '0,500'), not 'abc'", 12, 17],
        [at(2), "write: missing 'text'", 13, 17],
        [at(3), "unknown key 'txt' in write (did you mean 'text'?); allowed: selector, text, clear", 14, 17],
        [at(4), "window: 'resize' must be a size as 'WIDTHxHEIGHT' (e.g. '1024x768'), not 'big'", 15, 17],
        [at(5), "store: 'as' must be a variable name (letters, digits and _, not starting with a digit), not 'my var'", 16, 17],
      ],
    );
    assert.equal(onlyProblem({ assert: { equals: 'Total' } }).message, "assert equals: missing 'value' (the expected value)");
    assert.equal(onlyProblem({ assert: { matches: 'Total', value: '[' } }).message, "assert matches needs a valid regular expression (got '[')");
    assert.equal(onlyProblem({ step: 'step-interact.click', args: { selector: 'x', force: true } }).message, "step step-interact.click: unknown argument 'force'; allowed: selector, variable, position, element-type");
    assert.equal(onlyProblem({ navigate: 'not a url' }).message, "navigate needs an absolute http(s) URL (got 'not a url')");
    assert.equal(onlyProblem({ dialog: { confirm: 'maybe' } }).message, "dialog confirm takes accept or reject, not 'maybe'");
    assert.equal(onlyProblem({ click: { selector: 'x' } }).message, 'click needs a selector (hint text or CSS), not a map');
    assert.equal(onlyProblem({ select: null }).message, 'select needs a value: select: {selector, option} | {selector, index} | {selector, last: true}');
  });

  it('refuses shapes the Virtuoso API does not support, naming the alternative', () => {
    const cases: [unknown, string][] = [
      [{ navigate: 'back' }, "Navigating back is not supported by the Virtuoso API; use navigate: <the page's URL>, or execute: history.back()"],
      [{ navigate: 'refresh' }, 'Refreshing the page is not supported by the Virtuoso API; use navigate: <the same URL>, or execute: location.reload()'],
      [{ fill: { selector: 'Email', text: 'x' } }, "'fill' (a FILL step) is not supported by the Virtuoso API; use write: {selector, text}"],
      [{ type: 'x' }, "'type' (a TYPE step) is not supported by the Virtuoso API; use write: {selector, text}"],
      [{ drag: 'Card' }, 'Drag and drop is not supported by the Virtuoso API; use mouse: {down: <source>}, then mouse: {up: <target>}'],
      [{ window: 'close' }, 'Closing a window is not supported by the Virtuoso API; use window: {tab: next|prev|<index>} to switch to another tab'],
      [{ window: { iframe: 0 } }, 'Switching to a frame by index is not supported by the Virtuoso API; use window: {iframe: <selector of the frame element>}'],
      [{ window: 'main-content' }, 'Switching to the main content is not supported by the Virtuoso API; use window: parent-frame (once per nesting level)'],
      [{ upload: { selector: 'File', file: '/tmp/a.pdf' } }, 'Uploading a local file is not supported by the Virtuoso API; host the file and pass its http(s) URL'],
    ];
    for (const [step, message] of cases) assert.equal(onlyProblem(step).message, message, JSON.stringify(step));
  });

  it('refuses duplicate names among siblings', () => {
    const problems = problemsOf(() =>
      parseDefinition(
        [
          'name: Run',
          'project: Shop',
          'goals:',
          '  - name: Store',
          '    url: https://a.example',
          '    journeys:',
          '      - name: Buy',
          '        checkpoints:',
          '          - {name: Home, steps: []}',
          '          - {name: Home, steps: []}',
          '      - name: Buy',
          '        checkpoints: [{name: Home, steps: []}]',
          '  - name: Store',
          '    url: https://b.example',
          '    journeys: [{name: Buy, checkpoints: [{name: Home, steps: []}]}]',
        ].join('\n'),
      ),
    );
    assert.deepEqual(
      problems.map((p) => [p.path, p.message, p.line, p.column]),
      [
        ['goals[0].journeys[0].checkpoints[1].name', "duplicate checkpoint name 'Home' (goals[0].journeys[0].checkpoints[0] has it too); checkpoint names must be unique in a journey", 10, 14],
        ['goals[0].journeys[1].name', "duplicate journey name 'Buy' (goals[0].journeys[0] has it too); journey names must be unique in a goal", 11, 9],
        ['goals[1].name', "duplicate goal name 'Store' (goals[0] has it too); goal names must be unique in a definition", 13, 5],
      ],
    );
  });

  it('refuses an unknown variable in a step or a goal url', () => {
    const problems = problemsOf(() =>
      parseDefinition(`variables:\n  user: alice\n${yamlSteps('click: ${usr}', 'comment: $${literal} is fine')}`.replace('url: https://shop.example.com', 'url: ${base}/home')),
    );
    assert.deepEqual(problems, [
      { path: 'goals[0].url', message: "unknown variable 'base'; defined: user (write $${name} for the literal text ${name})", allowed: ['user'], line: 7, column: 5 },
      {
        path: 'goals[0].journeys[0].checkpoints[0].steps[0]',
        message: "unknown variable 'usr'; defined: user (write $${name} for the literal text ${name})",
        allowed: ['user'],
        line: 13,
        column: 17,
      },
    ]);
    // Given with the request, the same variable is known.
    const d = parseDefinition(yamlSteps('click: ${usr}'), { variables: { usr: 'Login' } });
    assert.equal(stepsOf(d)[0].parsedStep.target?.selectors[0].value, clue('Login'));
  });

  it('refuses more than 5000 steps in all', () => {
    const checkpoints = Array.from({ length: 11 }, (_, i) => ({ name: `C${i}`, steps: Array.from({ length: 500 }, () => ({ comment: 'x' })) }));
    const def = { name: 'Big', project: 'Shop', goals: [{ name: 'G', url: 'https://x.example', journeys: [{ name: 'J', checkpoints }] }] };
    assert.deepEqual(problemsOf(() => parseDefinition(def)), [
      { path: 'goals', message: 'the definition has 5500 steps; at most 5000 are allowed (split it into several definitions)' },
    ]);
    checkpoints.length = 10;
    assert.equal(parseDefinition(def).totalSteps, 5000);
  });

  it('collects every problem into one 422, listing at most 50', () => {
    const err = thrown(() => parseDefinition(yamlSteps('clik: a', 'wait: 70000', 'navigate: back')));
    assert.equal(err.status, 422);
    assert.equal(err.code, 'unprocessable_entity');
    assert.match(err.message, /^The test definition has 3 problems; the first: goals\[0\]\.journeys\[0\]\.checkpoints\[0\]\.steps\[0\]: unknown step 'clik'/);
    assert.equal((err.details as DefinitionProblem[]).length, 3);

    const one = thrown(() => parseDefinition(withSteps([{ clik: 'a' }])));
    assert.match(one.message, /^The test definition has 1 problem: goals\[0\]\.journeys\[0\]\.checkpoints\[0\]\.steps\[0\]: unknown step 'clik'/);

    const many = thrown(() => parseDefinition(withSteps(Array.from({ length: 60 }, () => ({ wait: -1 })))));
    assert.match(many.message, /^The test definition has 60 problems \(the first 50 are listed\); the first: /);
    const details = many.details as DefinitionProblem[];
    assert.equal(details.length, MAX_PROBLEMS);
    assert.equal(details[49].path, 'goals[0].journeys[0].checkpoints[0].steps[49]');
  });
});

describe('test definition: the documentation (shared/schemas/test-definition.md)', () => {
  const doc = readFileSync(join(__dirname, '../../shared/schemas/test-definition.md'), 'utf8');
  const blocks = (lang: string) => [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);

  it('has a complete example that is valid, and a JSON equivalent', () => {
    const d = parseDefinition(blocks('yaml')[0], { variables: { password: 'secret' } });
    assert.deepEqual(d.project, { name: 'Web shop', description: 'The customer-facing shop' });
    assert.deepEqual(d.options, { continueOnError: false, timeoutSeconds: 1800 });
    assert.deepEqual(
      d.goals[0].journeys.map((j) => j.name),
      ['Guest checkout', 'Member checkout'],
    );
    assert.ok(d.totalSteps >= 20, `${d.totalSteps} steps`);
    assert.equal(d.goals[0].url, 'https://staging.shop.example.com/');
    const commands = new Set(d.goals.flatMap((g) => g.journeys.flatMap((j) => j.checkpoints.flatMap((c) => c.steps.map((x) => x.command)))));
    assert.ok(commands.size >= 15, [...commands].join(' '));
    // Without the request's password the example names the unknown variable.
    assert.match(thrown(() => parseDefinition(blocks('yaml')[0])).message, /unknown variable 'password'/);
    const validate = validator(testDefinitionSchema);
    assert.ok(validate(parseYaml(blocks('yaml')[0])), JSON.stringify(validate.errors));
    assert.ok(validate(JSON.parse(blocks('json')[0])), JSON.stringify(validate.errors));
    const json = parseDefinition(blocks('json')[0]);
    assert.equal(json.totalSteps, 5);
    assert.equal(stepsOf(json)[0].command, 'step-interact.click');
  });

  it('lists every short form with an example that maps to its command', () => {
    const rows = doc
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split(/(?<!\\)\|/).map((c) => c.trim()))
      .filter((cells) => /^`step-|^any$/.test(cells[3] ?? ''));
    const documented = new Set<string>();
    for (const cells of rows) {
      const example = cells[2].replace(/^`|`$/g, '');
      const source = example.startsWith('{') ? example : `{${example}}`;
      const step = stepsOf(parseDefinition(withSteps([parseYaml(source)])))[0];
      assert.ok(validator(testDefinitionSchema)(withSteps([parseYaml(source)])), `schema: ${example}`);
      if (cells[3] !== 'any') assert.equal(step.command, cells[3].replace(/`/g, ''), example);
      documented.add(step.command);
    }
    assert.deepEqual(STEP_COMMANDS.map((c) => c.name).filter((n) => !documented.has(n)), []);
  });

  it('shows the 400 and 422 answers the code gives', () => {
    const syntax = thrown(() => parseDefinition('name: x\nproject: [a\n'));
    assert.deepEqual(JSON.parse(blocks('json')[1]), errorBody(syntax));
    const invalid = thrown(() => parseDefinition(blocks('yaml')[1]));
    assert.deepEqual(JSON.parse(blocks('json')[2]), errorBody(invalid));
  });
});
