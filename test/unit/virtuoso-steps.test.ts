import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import * as s from '../../shared/virtuoso/steps';

const clue = (step: s.ParsedStep) => JSON.parse(step.target!.selectors[0].value).clue;
const refused = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.status === 422 && pattern.test(e.message));

describe('Virtuoso step builders (parsedStep shapes of VIRTUOSO_API.md §1.5–1.6)', () => {
  it('encodes the selector clue as JSON, so quotes and backslashes survive', () => {
    const step = s.click('button[name="login"] \\ "Sign in"');
    assert.deepEqual(step.target, { selectors: [{ type: 'GUESS', value: JSON.stringify({ clue: 'button[name="login"] \\ "Sign in"' }) }] });
    assert.equal(clue(step), 'button[name="login"] \\ "Sign in"');
    assert.deepEqual(step, { action: 'CLICK', value: '', meta: {}, target: step.target });
  });

  it('navigation and scrolling', () => {
    assert.deepEqual(s.navigate('https://example.com/a?b=1'), { action: 'NAVIGATE', value: 'https://example.com/a?b=1', meta: { kind: 'NAVIGATE', type: 'URL', useNewTab: false } });
    assert.equal(s.navigate('https://example.com', { newTab: true }).meta.useNewTab, true);
    assert.deepEqual(s.scrollTop().meta, { type: 'TOP' });
    assert.deepEqual(s.scrollBottom().meta, { type: 'BOTTOM' });
    assert.deepEqual(s.scrollToPosition(10, 20).meta, { type: 'POSITION', x: 10, y: 20 });
    assert.deepEqual(s.scrollBy(0, -50).meta, { type: 'OFFSET', x: 0, y: -50 });
    assert.deepEqual(s.scrollUp().meta, { type: 'OFFSET', x: 0, y: -1000 });
    assert.deepEqual(s.scrollDown().meta, { type: 'OFFSET', x: 0, y: 1000 });
    assert.equal(clue(s.scrollToElement('Footer')), 'Footer');
    refused(() => s.navigate('ftp://x'), /http\(s\) URL/);
    refused(() => s.navigate('not a url'), /absolute http\(s\) URL/);
  });

  it('mouse, keyboard, writing and selects', () => {
    assert.deepEqual(s.doubleClick('Row').meta, { action: 'DOUBLE_CLICK' });
    assert.deepEqual(s.rightClick('Row').meta, { action: 'RIGHT_CLICK' });
    assert.deepEqual(s.hover('Menu').meta, { action: 'OVER' });
    assert.deepEqual(s.mouseEnter('Menu').meta, { action: 'ENTER' });
    assert.deepEqual(s.mouseMoveTo('Menu').meta, { action: 'MOVE' });
    assert.deepEqual(s.mouseDown().meta, { action: 'DOWN' });
    assert.equal(s.mouseDown().target, undefined);
    assert.equal(clue(s.mouseUp('Target')), 'Target');
    assert.deepEqual(s.mouseMove(5, 6).meta, { action: 'MOVE', x: 5, y: 6 });
    assert.deepEqual(s.mouseMoveBy(-5, 6).meta, { action: 'OFFSET', x: -5, y: 6 });
    assert.deepEqual(s.write('Email', 'a@b.c'), { action: 'WRITE', value: 'a@b.c', meta: { append: false }, target: s.target('Email') });
    assert.deepEqual(s.key('ENTER'), { action: 'KEY', value: 'ENTER', meta: {} });
    assert.equal(clue(s.key('Tab', { selector: 'Name' })), 'Name');
    assert.deepEqual(s.selectOption('Country', 'France').meta, { type: 'VISIBLE_TEXT' });
    assert.equal(s.selectOption('Country', 'France').value, 'France');
    assert.deepEqual([s.selectIndex('Country', 2).value, s.selectIndex('Country', 2).meta], ['2', { type: 'INDEX' }]);
    assert.equal(s.selectLast('Country').value, '-1');
  });

  it('refuses what the API does not support, saying what to use instead', () => {
    refused(() => s.fill(), /use write/);
    refused(() => s.navigateBack(), /history\.back/);
    refused(() => s.navigateForward(), /history\.forward/);
    refused(() => s.refresh(), /location\.reload/);
    refused(() => s.windowClose(), /not supported/);
    refused(() => s.switchFrameByIndex(), /switch iframe/);
    refused(() => s.switchFrameByName(), /switch iframe/);
    refused(() => s.switchMainContent(), /parent-frame/);
    refused(() => s.dragAndDrop(), /mouse down/);
    refused(() => s.upload('File', '/home/me/file.pdf'), /http\(s\) URL/);
    refused(() => s.upload('File', 'C:\\file.pdf'), /local file/);
  });

  it('uploads by URL, waits, windows, tabs and frames', () => {
    assert.deepEqual(s.upload('File', 'https://files.example.com/a.pdf').value, 'https://files.example.com/a.pdf');
    assert.deepEqual(s.waitTime(1500), { action: 'WAIT', value: '1500', meta: { type: 'TIME' } });
    assert.deepEqual([s.waitForElement('Spinner').value, s.waitForElement('Spinner').meta], ['20000', { type: 'ELEMENT' }]);
    refused(() => s.waitTime(60_001), /to 60000/);
    assert.deepEqual(s.windowResize(1024, 768).meta, { type: 'RESIZE', dimension: { width: 1024, height: 768 } });
    assert.deepEqual(s.windowMaximize().meta, { type: 'MAXIMIZE' });
    assert.deepEqual(s.switchNextTab().meta, { type: 'NEXT_TAB' });
    assert.deepEqual(s.switchPrevTab().meta, { type: 'PREV_TAB' });
    assert.deepEqual([s.switchTab(2).value, s.switchTab(2).meta], ['2', { type: 'TAB' }]);
    assert.deepEqual(s.switchFrame('iframe#pay').meta, { type: 'FRAME_BY_ELEMENT' });
    assert.deepEqual(s.switchParentFrame().meta, { type: 'PARENT_FRAME' });
  });

  it('assertions: valueless ones send an empty value, others need one; regexes are checked', () => {
    for (const kind of ['exists', 'not-exists', 'checked', 'selected'] as const) assert.equal(s.assertion(kind, 'Box').value, '');
    assert.equal(s.assertion('exists', 'Box').action, 'ASSERT_EXISTS');
    assert.deepEqual(s.assertion('equals', 'Total', '42'), { action: 'ASSERT_EQUALS', value: '42', meta: {}, target: s.target('Total') });
    assert.equal(s.assertion('gte', 'Count', '3').action, 'ASSERT_GREATER_THAN_OR_EQUAL');
    refused(() => s.assertion('equals', 'Total'), /needs an expected value/);
    refused(() => s.assertion('matches', 'Total', '(['), /regular expression/);
    assert.deepEqual(s.assertVariable('$total', '42'), { action: 'ASSERT_VARIABLE', value: '42', meta: { kind: 'ASSERT_VARIABLE', type: 'EQUALS' }, variable: 'total' });
  });

  it('store, cookies, dialogs, scripts and comments', () => {
    assert.deepEqual(s.storeElementText('Order id', '$orderId'), { action: 'STORE', value: '', meta: {}, target: s.target('Order id'), variable: 'orderId' });
    assert.deepEqual(s.storeAttribute('Link', 'href', 'url').meta, { attribute: 'href' });
    assert.deepEqual(s.storeLiteral('hello', 'greeting'), { action: 'STORE', value: 'hello', meta: {}, variable: 'greeting' });
    refused(() => s.storeLiteral('x', 'two words'), /not a valid variable name/);
    assert.deepEqual(s.cookieCreate('session', 'abc', { secure: true }).meta, { type: 'ADD', name: 'session', secure: true });
    assert.deepEqual(s.cookieDelete('session').meta, { type: 'DELETE', name: 'session' });
    assert.deepEqual(s.cookieClearAll().meta, { type: 'CLEAR' });
    assert.deepEqual(s.dismissAlert().meta, { type: 'ALERT' });
    assert.deepEqual(s.dismissConfirm(false).meta, { type: 'CONFIRM', action: 'CANCEL' });
    assert.deepEqual(s.dismissPrompt(true, 'yes'), { action: 'DISMISS', value: 'yes', meta: { type: 'PROMPT', action: 'OK' } });
    assert.deepEqual(s.executeJs('return 1'), { action: 'EXECUTE', value: 'return 1', meta: { explicit: true, script: 'return 1' } });
    assert.deepEqual(s.comment('note'), { action: 'COMMENT', value: 'note', meta: {} });
  });

  it('builds the POST /teststeps body: numeric checkpoint (cp_ prefix stripped), append by default', () => {
    const step = s.click('Go');
    assert.deepEqual(s.createStepBody('cp_123', step), { checkpointId: 123, stepIndex: s.APPEND, parsedStep: step });
    assert.deepEqual(s.createStepBody(5, step, 0), { checkpointId: 5, stepIndex: 0, parsedStep: step });
    refused(() => s.createStepBody('abc', step), /not a checkpoint id/);
    refused(() => s.createStepBody(5, step, -2), /position/);
    refused(() => s.click('   '), /selector/);
  });
});
