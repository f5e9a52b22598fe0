import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { resolveArgs, tokenize, type CommandShape } from '../../shared/virtuoso/cli';

const click: CommandShape = { args: [{ name: 'selector' }], checkpoint: true };
const write: CommandShape = { args: [{ name: 'selector' }, { name: 'text' }], checkpoint: true, booleanFlags: ['clear'] };
const scrollBy: CommandShape = { args: [{ name: 'offset' }], checkpoint: true };
const createGoal: CommandShape = { args: [{ name: 'projectId' }, { name: 'name' }] };
const bad = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof AppError && e.status === 400 && pattern.test(e.message));

describe('CLI strings: tokenizing and argument rules', () => {
  it('tokenizes like a shell: quotes, escapes, empty strings', () => {
    assert.deepEqual(tokenize(`step-interact click 123 "Login button" 2`), ['step-interact', 'click', '123', 'Login button', '2']);
    assert.deepEqual(tokenize(`write 'it''s' "say \\"hi\\"" a\\ b ""`), ['write', 'its', 'say "hi"', 'a b', '']);
    assert.deepEqual(tokenize(`  spaced   out  `), ['spaced', 'out']);
    bad(() => tokenize(`click "unterminated`), /Unterminated double quote/);
  });

  it('takes a leading number as the checkpoint and a trailing one as the position only when there is room', () => {
    assert.deepEqual(resolveArgs(['123', 'Login button', '2'], click), { args: { selector: 'Login button' }, flags: {}, checkpoint: '123', position: '2' });
    // One positional for a one-argument command: it is the selector, even when it is a number.
    assert.deepEqual(resolveArgs(['123'], click), { args: { selector: '123' }, flags: {} });
    // Two: the leading number is the checkpoint; what is left fits.
    assert.deepEqual(resolveArgs(['123', '2'], click), { args: { selector: '2' }, flags: {}, checkpoint: '123' });
    assert.deepEqual(resolveArgs(['Login', '2'], click), { args: { selector: 'Login' }, flags: {}, position: '2' });
    assert.deepEqual(resolveArgs(['cp_77', 'Login'], click), { args: { selector: 'Login' }, flags: {}, checkpoint: '77' });
    assert.deepEqual(resolveArgs(['Login', 'last'], click).position, 'last');
  });

  it('lets --checkpoint and --position settle any ambiguity', () => {
    assert.deepEqual(resolveArgs(['--checkpoint', 'cp_5', '--position=3', '123'], click), { args: { selector: '123' }, flags: {}, checkpoint: '5', position: '3' });
    bad(() => resolveArgs(['--checkpoint', 'abc', 'x'], click), /not a checkpoint id/);
    bad(() => resolveArgs(['--position', 'first', 'x'], click), /Position must be/);
  });

  it('reads negative numbers as values, and everything after -- as positional', () => {
    assert.deepEqual(resolveArgs(['-100,50'], scrollBy).args, { offset: '-100,50' });
    assert.deepEqual(resolveArgs(['-5'], scrollBy).args, { offset: '-5' });
    assert.deepEqual(resolveArgs(['Name', '--', '--not-a-flag'], write).args, { selector: 'Name', text: '--not-a-flag' });
  });

  it('parses flags with values and declared booleans', () => {
    assert.deepEqual(resolveArgs(['Email', 'a@b.c', '--clear', '--delay', '50'], write).flags, { clear: true, delay: '50' });
    assert.deepEqual(resolveArgs(['Email', 'a@b.c', '--delay=50'], write).flags, { delay: '50' });
    bad(() => resolveArgs(['Email', 'a@b.c', '--delay'], write), /needs a value/);
  });

  it('names what is missing or extra; commands without checkpoints never take one', () => {
    bad(() => resolveArgs(['Email'], write), /Missing text/);
    bad(() => resolveArgs(['1', 'Goal', 'extra'], createGoal), /Too many arguments: 'extra'/);
    assert.deepEqual(resolveArgs(['1', 'Goal'], createGoal), { args: { projectId: '1', name: 'Goal' }, flags: {} });
  });
});
