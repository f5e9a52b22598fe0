import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { tokenize } from '../../shared/virtuoso/cli';
import * as s from '../../shared/virtuoso/steps';
import { argsSchema, STEP_COMMANDS, stepFromCli, stepFromJson } from '../../shared/virtuoso/step-commands';
import { validator } from '../../shared/schemas';

const cli = (line: string) => stepFromCli(tokenize(line));
const fails = (fn: () => unknown, status: number, pattern: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.status === status && pattern.test(e.message));

describe('step commands: one declaration, two input forms', () => {
  it('declares every command once, each with a JSON Schema that compiles', () => {
    const names = STEP_COMMANDS.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.length >= 50, `${names.length} commands`);
    for (const c of STEP_COMMANDS) assert.doesNotThrow(() => validator(argsSchema(c)), c.name);
    for (const group of ['step-navigate', 'step-interact', 'step-assert', 'step-window', 'step-data', 'step-dialog', 'step-wait', 'step-file', 'step-misc']) {
      assert.ok(names.some((n) => n.startsWith(`${group}.`)), group);
    }
  });

  it('reads the CLI form with checkpoint and position', () => {
    assert.deepEqual(cli('step-interact click 123 "Login button" 2'), { command: 'step-interact.click', checkpointId: '123', position: 2, parsedStep: s.click('Login button') });
    assert.deepEqual(cli('step-interact click "Login button"'), { command: 'step-interact.click', checkpointId: undefined, position: undefined, parsedStep: s.click('Login button') });
    assert.equal(cli('step-interact click 123').parsedStep.target?.selectors[0].value, JSON.stringify({ clue: '123' }));
    assert.equal(cli('step-interact click cp_9 Save last').position, 'last');
  });

  it('covers every family with the shapes of the builders', () => {
    assert.deepEqual(cli('step-navigate to https://example.com --new-tab').parsedStep, s.navigate('https://example.com', { newTab: true }));
    assert.deepEqual(cli('step-navigate scroll-by -- -100,50').parsedStep, s.scrollBy(-100, 50));
    assert.deepEqual(cli('step-navigate scroll-by -100,50').parsedStep, s.scrollBy(-100, 50));
    assert.deepEqual(cli('step-interact write Email "a@b.c"').parsedStep, s.write('Email', 'a@b.c'));
    assert.deepEqual(cli('step-interact key ENTER --target Search').parsedStep, s.key('ENTER', { selector: 'Search' }));
    assert.deepEqual(cli('step-interact mouse move-to Menu').parsedStep, s.mouseMoveTo('Menu'));
    assert.deepEqual(cli('step-interact mouse down').parsedStep, s.mouseDown());
    assert.deepEqual(cli('step-interact select index Country 3').parsedStep, s.selectIndex('Country', 3));
    assert.deepEqual(cli('step-assert equals Total 42').parsedStep, s.assertion('equals', 'Total', '42'));
    assert.deepEqual(cli('step-assert variable $total 42').parsedStep, s.assertVariable('total', '42'));
    assert.deepEqual(cli('step-window resize 1024x768').parsedStep, s.windowResize(1024, 768));
    assert.deepEqual(cli('step-window switch tab next').parsedStep, s.switchNextTab());
    assert.deepEqual(cli('step-window switch tab index 2').parsedStep, s.switchTab(2));
    assert.deepEqual(cli('step-data store attribute Link href url').parsedStep, s.storeAttribute('Link', 'href', 'url'));
    assert.deepEqual(cli('step-data cookie create session abc --secure').parsedStep, s.cookieCreate('session', 'abc', { secure: true }));
    assert.deepEqual(cli('step-dialog dismiss-confirm --reject').parsedStep, s.dismissConfirm(false));
    assert.deepEqual(cli('step-wait time 1500').parsedStep, s.waitTime(1500));
    assert.deepEqual(cli('step-wait element Spinner --timeout 5000').parsedStep, s.waitForElement('Spinner', 5000));
    assert.deepEqual(cli('step-file upload File https://x.example/a.pdf').parsedStep, s.upload('File', 'https://x.example/a.pdf'));
    assert.deepEqual(cli('step-misc execute "return document.title"').parsedStep, s.executeJs('return document.title'));
  });

  it('gives the JSON form the same result as the CLI form', () => {
    assert.deepEqual(
      stepFromJson({ command: 'step-interact.click', checkpointId: 123, args: { selector: 'Login button' }, position: 2 }),
      cli('step-interact click 123 "Login button" 2'),
    );
    assert.deepEqual(stepFromJson({ command: 'step-wait.time', args: { ms: 1500 } }).parsedStep, s.waitTime(1500));
    assert.equal(stepFromJson({ command: 'step-interact.click', checkpointId: 'cp_7', args: { selector: 'x' } }).checkpointId, '7');
  });

  it('rejects unknown commands (400) and invalid arguments (422) before any request', () => {
    fails(() => cli('step-interact teleport x'), 400, /Unknown step command/);
    fails(() => stepFromJson({ command: 'step-interact.teleport' }), 400, /Unknown step command/);
    fails(() => cli('step-interact write Email'), 400, /Missing text/);
    fails(() => cli('step-window resize big'), 422, /Invalid arguments/);
    fails(() => cli('step-wait time 70000'), 422, /Invalid arguments/);
    fails(() => stepFromJson({ command: 'step-interact.click', args: { selector: 'x', extra: 1 } }), 422, /Invalid arguments/);
    fails(() => stepFromJson({ command: 'step-interact.click', args: {} }), 422, /Invalid arguments/);
    fails(() => stepFromJson({ command: 'step-interact.click', checkpointId: 'abc', args: { selector: 'x' } }), 422, /not a checkpoint id/);
    fails(() => cli('step-file upload File /tmp/a.pdf'), 422, /local file/);
  });
});
