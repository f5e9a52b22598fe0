import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { tokenize } from '../../shared/virtuoso/cli';
import * as s from '../../shared/virtuoso/steps';
import { ARG_DESCRIPTIONS, argsSchema, STEP_COMMANDS, stepCommandLine, stepFromCli, stepFromJson, type ArgType } from '../../shared/virtuoso/step-commands';
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
    fails(() => cli('step-interact write Email'), 400, /missing <text>/);
    fails(() => cli('step-window resize big'), 422, /Invalid arguments/);
    fails(() => cli('step-wait time 70000'), 422, /Invalid arguments/);
    fails(() => stepFromJson({ command: 'step-interact.click', args: { selector: 'x', extra: 1 } }), 422, /Invalid arguments/);
    fails(() => stepFromJson({ command: 'step-interact.click', args: {} }), 422, /Invalid arguments/);
    fails(() => stepFromJson({ command: 'step-interact.click', checkpointId: 'abc', args: { selector: 'x' } }), 422, /not a checkpoint id/);
    fails(() => cli('step-file upload File /tmp/a.pdf'), 422, /local file/);
  });

  it('names each refused argument as {path, flag, message}', () => {
    const details = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as AppError).details;
      }
      assert.fail('expected a refusal');
    };
    assert.deepEqual(details(() => cli('step-window resize big')), [
      { path: '/args/size', flag: '<size>', message: "<size> must be a size as 'WIDTHxHEIGHT' (e.g. '1024x768'), not 'big'" },
    ]);
    assert.deepEqual(details(() => cli('step-wait element Spinner --timeout 70000 --colour red')), [
      { path: '/args/colour', flag: '--colour', message: 'unknown flag --colour; step-wait element takes --timeout, --checkpoint, --step-position, --position' },
    ]);
    assert.deepEqual(details(() => cli('step-wait element Spinner --timeout 70000')), [
      { path: '/args/timeout', flag: '--timeout', message: '--timeout must be a whole number of milliseconds from 0 to 60000, not 70000' },
    ]);
    assert.deepEqual(details(() => stepFromJson({ command: 'step-interact.click', args: {} })), [{ path: '/args/selector', flag: '<selector>', message: 'missing <selector>' }]);
    assert.deepEqual(details(() => cli('step-interact click x --position NORTH')), [
      { path: '/args/position', flag: '--position', message: `--position must be ${ARG_DESCRIPTIONS['element-position']}, not 'NORTH'` },
    ]);
  });

  it("takes the CLI's other spellings: the groups' old names, subcommand aliases", () => {
    assert.deepEqual(cli('data store element-text cp_1 "Order total" total').parsedStep, s.storeElementText('Order total', 'total'));
    assert.deepEqual(cli('dialog dismiss-alert').parsedStep, s.dismissAlert());
    assert.deepEqual(cli('wait time 500').parsedStep, s.waitTime(500));
    assert.deepEqual(cli('misc comment hello').parsedStep, s.comment('hello'));
    assert.deepEqual(cli('file upload-url F https://x.example/a').parsedStep, cli('step-file url F https://x.example/a').parsedStep);
    assert.deepEqual(cli('mouse down').parsedStep, s.mouseDown());
    assert.deepEqual(cli('select last Country').parsedStep, s.selectLast('Country'));
    assert.deepEqual(cli('step-navigate goto https://example.com').parsedStep, s.navigate('https://example.com'));
    assert.deepEqual(cli('navigate top').parsedStep, s.scrollTop());
    assert.deepEqual(cli('step-navigate by 0,500').parsedStep, s.scrollBy(0, 500));
    assert.deepEqual(cli('step-data cookie wipe').parsedStep, s.cookieClearAll());
    assert.deepEqual(cli('step-interact type Email a@b.c').parsedStep, s.write('Email', 'a@b.c'));
    assert.deepEqual(stepFromJson({ command: 'data.store.literal', args: { value: 'x', variable: 'v' } }).parsedStep, s.storeLiteral('x', 'v'));
    fails(() => cli('step-navigate back'), 422, /Navigating back is not supported.*history\.back/);
    fails(() => cli('navigate scroll-left'), 422, /Scrolling left is not supported/);
    fails(() => stepFromJson({ command: 'step-window.close' }), 422, /Closing a window/);
  });

  it('sends the flags that change the request, notes the ones that do not', () => {
    assert.deepEqual(cli('step-interact key a --modifiers ctrl --shift').parsedStep, s.key('a', { modifiers: ['ctrl', 'shift'] }));
    assert.deepEqual(cli('step-interact key a --modifiers CTRL,Alt').parsedStep.meta, { modifiers: ['ctrl', 'alt'] });
    fails(() => cli('step-interact key a --modifiers hyper'), 422, /modifier keys/);
    assert.deepEqual(cli('step-interact write "#search" "{{searchTerm}}" --variable searchTerm').parsedStep, s.write('#search', '{{searchTerm}}', { variable: 'searchTerm' }));
    assert.equal(cli('step-interact write Email a --clear').parsedStep.meta.append, false);
    const click = cli('step-interact click "#login-btn" --position TOP_RIGHT --element-type BUTTON');
    assert.deepEqual(click.parsedStep, s.click('#login-btn'));
    assert.equal(click.position, undefined, 'TOP_RIGHT is not the step position');
    assert.deepEqual(click.notes?.map((n) => n.split(' ')[0]), ['--position', '--element-type']);
    assert.equal(cli('step-interact click "#login-btn" --position 3').position, 3, 'a number after --position is the step position');
    assert.equal(cli('step-interact click "#login-btn" --step-position 4 --position CENTER').position, 4);
    assert.match(cli('step-navigate scroll-top --smooth').notes![0], /--smooth is accepted and has no effect/);
    assert.equal(cli('step-navigate scroll-top --smooth=false').notes, undefined, 'a flag turned off is no note');
    assert.deepEqual(cli('step-navigate scroll-position --x 0 --y 500').parsedStep, s.scrollToPosition(0, 500));
    assert.deepEqual(cli('step-navigate scroll-by --x 0 --y -500').parsedStep, s.scrollBy(0, -500));
    assert.deepEqual(cli('step-navigate scroll-by "-100,0" --y 5').parsedStep, s.scrollBy(-100, 0), 'x,y wins over --x/--y, as in the CLI');
    assert.deepEqual(cli('step-navigate scroll-position').parsedStep, s.scrollToPosition(0, 0));
    for (const line of ['step-interact hover x --duration 2000', 'step-interact write x y --delay 5', 'step-interact key Tab --repeat 3', 'step-navigate to https://a.example --wait', 'step-navigate scroll-element x --block center --inline start --into-view']) {
      assert.ok(cli(line).notes?.length, line);
    }
  });

  it("answers dialogs as the CLI did: a confirm or prompt is cancelled unless --accept; a prompt's text accepts", () => {
    assert.deepEqual(cli('step-dialog dismiss-confirm').parsedStep, s.dismissConfirm(false));
    assert.deepEqual(cli('step-dialog dismiss-confirm --accept').parsedStep, s.dismissConfirm(true));
    assert.deepEqual(cli('step-dialog dismiss-prompt').parsedStep, s.dismissPrompt(false));
    assert.deepEqual(cli('step-dialog dismiss-prompt --accept').parsedStep, s.dismissPrompt(true));
    assert.deepEqual(cli('step-dialog dismiss-prompt-with-text Bob').parsedStep, s.dismissPrompt(true, 'Bob'));
    assert.deepEqual(cli('step-dialog dismiss-prompt-with-text Bob --reject').parsedStep, s.dismissPrompt(false));
    fails(() => cli('step-dialog dismiss-confirm --accept --reject'), 422, /not both/);
  });

  it('joins the words of a comment or a script, as the CLI did', () => {
    assert.deepEqual(cli('step-misc comment cp_5 Login validation step 1'), { command: 'step-misc.comment', checkpointId: '5', position: 1, parsedStep: s.comment('Login validation step') });
    assert.deepEqual(cli('step-misc execute "window.scrollTo(0, 0)" 2').parsedStep, s.executeJs('window.scrollTo(0, 0)'));
  });

  it('writes every command back as a command line that reads as the same step', () => {
    const SAMPLE: Record<ArgType, string | number | boolean> = {
      selector: 'the "Login" button', text: 'say $5 -- now', url: 'https://example.com/a.pdf', int: 2, ms: 1500, xy: '-10,20', wxh: '800x600',
      variable: 'orderId', key: 'ENTER', boolean: true, 'element-position': 'TOP_LEFT', modifiers: 'ctrl,shift',
    };
    for (const c of STEP_COMMANDS) {
      const args = Object.fromEntries([...c.args, ...c.flags].filter((a) => !(c.name.startsWith('step-dialog') && a.name === 'reject')).map((a) => [a.name, SAMPLE[a.type]]));
      const line = stepCommandLine(c.name, args);
      assert.deepEqual(cli(line).parsedStep, stepFromJson({ command: c.name, args }).parsedStep, `${c.name}: ${line}`);
    }
  });
});
