/** The CLI-string form (shared/virtuoso/cli.ts): tokens, the command line as a whole, and the argument rules. */
import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { ALL_COMMANDS, parseCommand } from '../../shared/commands/parse';
import { invalidArguments, quoteArg, readCommandLine, resolveArgs, tokenize, type ArgumentProblem, type CommandShape } from '../../shared/virtuoso/cli';

const shape = (name: string, args: CommandShape['args'], more: Partial<CommandShape> = {}): CommandShape => ({ name, args, flags: {}, ...more });
const click = shape('step-interact click', [{ name: 'selector' }], { checkpoint: true, elementPosition: true, flags: { position: { kind: 'value' }, variable: { kind: 'value' } } });
const write = shape('step-interact write', [{ name: 'selector' }, { name: 'text' }], { checkpoint: true, flags: { clear: { kind: 'boolean' }, delay: { kind: 'value' } } });
const scrollBy = shape('step-navigate scroll-by', [{ name: 'offset', required: false }], { checkpoint: true, flags: { x: { kind: 'value' }, y: { kind: 'value' }, smooth: { kind: 'boolean' } } });
const mouseDown = shape('step-interact mouse down', [{ name: 'selector', required: false }], { checkpoint: true });
const comment = shape('step-misc comment', [{ name: 'text', variadic: true }], { checkpoint: true });
const key = shape('step-interact key', [{ name: 'key' }], { checkpoint: true, flags: { modifiers: { kind: 'list' } } });
const createGoal = shape('create-goal', [{ name: 'projectId' }, { name: 'name' }], { flags: { url: { kind: 'value' }, description: { kind: 'value', short: 'd' } } });
const exportCsv = shape('manage-test-data', [], { flags: { 'export-csv': { kind: 'optional-value' }, 'table-id': { kind: 'value' } } });
const files = shape('yaml validate', [{ name: 'files', variadic: true, join: '\n' }]);

/** The AppError a call throws, with its status and problems checked. */
function refused(fn: () => unknown, status: number, pattern: RegExp): ArgumentProblem[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.status, status, err.message);
    assert.match(err.message, pattern);
    assert.ok(Array.isArray(err.details), 'details are a list');
    for (const d of err.details as ArgumentProblem[]) assert.deepEqual(Object.keys(d).sort(), ['flag', 'message', 'path']);
    return err.details as ArgumentProblem[];
  }
  assert.fail('expected a refusal');
}

describe('CLI strings: tokens', () => {
  it('tokenizes like a shell: quotes, escapes, empty strings', () => {
    assert.deepEqual(tokenize(`step-interact click 123 "Login button" 2`), ['step-interact', 'click', '123', 'Login button', '2']);
    assert.deepEqual(tokenize(`write 'it''s' "say \\"hi\\"" a\\ b ""`), ['write', 'its', 'say "hi"', 'a b', '']);
    assert.deepEqual(tokenize(`  spaced   out  `), ['spaced', 'out']);
    assert.deepEqual(tokenize(`matches Email "^[\\\\w.-]+$"`), ['matches', 'Email', '^[\\w.-]+$'], 'a doubled backslash in double quotes is one');
  });

  it('drops a shell comment, but keeps # inside a word or in quotes', () => {
    assert.deepEqual(tokenize(`step-assert exists "Login button"  # Uses session context`), ['step-assert', 'exists', 'Login button']);
    assert.deepEqual(tokenize(`click #login-btn`), ['click', '#login-btn']);
    assert.deepEqual(tokenize(`click "# not a comment" a#b #`), ['click', '# not a comment', 'a#b']);
    assert.deepEqual(tokenize(`comment one # two\nthree`), ['comment', 'one', 'three'], 'a comment ends at the line break');
  });

  it('refuses an unterminated quote with a problem list', () => {
    const [p] = refused(() => tokenize(`click "unterminated`), 400, /Unterminated double quote/);
    assert.equal(p.path, '/command');
  });

  it('quotes a value so that it reads back as itself', () => {
    for (const v of ['plain', 'two words', 'say "hi"', 'back\\slash', '$HOME', '#id', '-100,50', '', "it's", 'a,b=c/d.e']) {
      assert.deepEqual(tokenize(`x ${quoteArg(v)}`), ['x', v], v);
    }
    assert.equal(quoteArg('Login'), 'Login');
    assert.equal(quoteArg('Login button'), '"Login button"');
  });
});

describe('CLI strings: the command line as a whole', () => {
  it('takes out a leading api-cli and the global flags, wherever they stand', () => {
    assert.deepEqual(readCommandLine('api-cli create-project "My Test Project" -o json'), { tokens: ['create-project', 'My Test Project'], output: 'json', notes: [] });
    assert.deepEqual(readCommandLine('./bin/api-cli -o yaml list-projects --limit 5'), { tokens: ['list-projects', '--limit', '5'], output: 'yaml', notes: [] });
    assert.equal(readCommandLine('get-step 1 --output=human').output, 'human');
    assert.equal(readCommandLine('get-step 1 --output ai').output, 'ai');
    assert.deepEqual(readCommandLine('get-step 1 -v --verbose').tokens, ['get-step', '1']);
  });

  it("leaves an -o the answer formats do not have to the command (yaml compile -o commands)", () => {
    assert.deepEqual(readCommandLine('yaml compile t.yaml -o commands'), { tokens: ['yaml', 'compile', 't.yaml', '-o', 'commands'], notes: [] });
  });

  it('notes what it ignores: --config and a trailing redirection', () => {
    const config = readCommandLine('list-projects --config ./prod.yaml');
    assert.deepEqual(config.tokens, ['list-projects']);
    assert.match(config.notes[0], /--config \.\/prod\.yaml is ignored: this service uses its own Virtuoso connection/);
    assert.match(readCommandLine('list-projects --config=x.yaml').notes[0], /--config x\.yaml is ignored/);
    const redirected = readCommandLine('yaml generate "login flow" > login.yaml');
    assert.deepEqual(redirected.tokens, ['yaml', 'generate', 'login flow']);
    assert.match(redirected.notes[0], /'> login\.yaml' is ignored: there is no local file to write/);
  });

  it('stops at --: what follows is the command\'s', () => {
    assert.deepEqual(readCommandLine('step-misc comment -- -o json').tokens, ['step-misc', 'comment', '--', '-o', 'json']);
  });
});

describe('CLI strings: checkpoint, position and arguments', () => {
  it('takes a leading number as the checkpoint and a trailing one as the position only when there is room', () => {
    assert.deepEqual(resolveArgs(['123', 'Login button', '2'], click), { args: { selector: 'Login button' }, flags: {}, checkpoint: '123', position: '2' });
    // One positional for a one-argument command: it is the selector, even when it is a number.
    assert.deepEqual(resolveArgs(['123'], click), { args: { selector: '123' }, flags: {} });
    assert.deepEqual(resolveArgs(['123', '2'], click), { args: { selector: '2' }, flags: {}, checkpoint: '123' });
    assert.deepEqual(resolveArgs(['Login', '2'], click), { args: { selector: 'Login' }, flags: {}, position: '2' });
    assert.deepEqual(resolveArgs(['cp_77', 'Login'], click), { args: { selector: 'Login' }, flags: {}, checkpoint: '77' });
    assert.equal(resolveArgs(['Login', 'LAST'], click).position, 'last');
  });

  it('counts "room" from the required arguments: mouse down cp_12345 1 is a checkpoint and a position', () => {
    assert.deepEqual(resolveArgs(['cp_12345', '1'], mouseDown), { args: {}, flags: {}, checkpoint: '12345', position: '1' });
    assert.deepEqual(resolveArgs(['Card'], mouseDown), { args: { selector: 'Card' }, flags: {} });
    assert.deepEqual(resolveArgs([], mouseDown), { args: {}, flags: {} });
  });

  it('lets --checkpoint, --step-position and --position settle any ambiguity', () => {
    assert.deepEqual(resolveArgs(['--checkpoint', 'cp_5', '--step-position=3', '123'], click), { args: { selector: '123' }, flags: {}, checkpoint: '5', position: '3' });
    assert.deepEqual(resolveArgs(['Name', 'text', '--position', '4'], write), { args: { selector: 'Name', text: 'text' }, flags: {}, position: '4' });
    // --step-position wins over --position; with either, a trailing number is an argument like any other.
    assert.equal(resolveArgs(['Name', 'text', '--position', '4', '--step-position', 'last'], write).position, 'last');
    refused(() => resolveArgs(['Name', 'text', '9', '--step-position', 'last'], write), 400, /too many arguments: '9'/);
  });

  it('reads --position on click as where on the element; a number there is still the step position', () => {
    assert.deepEqual(resolveArgs(['#login-btn', '--position', 'TOP_RIGHT'], click), { args: { selector: '#login-btn' }, flags: { position: 'TOP_RIGHT' } });
    assert.deepEqual(resolveArgs(['#login-btn', '--position', '3'], click), { args: { selector: '#login-btn' }, flags: {}, position: '3' });
    assert.deepEqual(resolveArgs(['#login-btn', '--position', 'CENTER', '--step-position', '2'], click), { args: { selector: '#login-btn' }, flags: { position: 'CENTER' }, position: '2' });
    assert.deepEqual(resolveArgs(['cp_1', '#login-btn', '5', '--position', 'TOP_LEFT'], click), { args: { selector: '#login-btn' }, flags: { position: 'TOP_LEFT' }, checkpoint: '1', position: '5' });
  });

  it('refuses a bad checkpoint or position naming the flag', () => {
    const [cp] = refused(() => resolveArgs(['--checkpoint', 'abc', 'x'], click), 422, /not a checkpoint id/);
    assert.deepEqual(cp, { path: '/checkpointId', flag: '--checkpoint', message: "'abc' is not a checkpoint id (digits, optionally cp_12345)" });
    const [pos] = refused(() => resolveArgs(['--step-position', 'first', 'x'], click), 422, /step position must be a number or 'last'/);
    assert.equal(pos.flag, '--step-position');
    assert.equal(pos.path, '/position');
  });

  it('joins a variadic argument\'s words (comment text), or keeps them as lines (file lists)', () => {
    assert.deepEqual(resolveArgs(['Login', 'validation', 'step'], comment).args, { text: 'Login validation step' });
    assert.deepEqual(resolveArgs(['1678318', 'Check password', '2'], comment), { args: { text: 'Check password' }, flags: {}, checkpoint: '1678318', position: '2' });
    assert.deepEqual(resolveArgs(['Wait', '2'], comment), { args: { text: 'Wait' }, flags: {}, position: '2' }, 'a trailing number is the position, as the CLI took it');
    assert.deepEqual(resolveArgs(['a.yaml', 'b c.yaml'], files).args, { files: 'a.yaml\nb c.yaml' });
  });

  it('reads negative numbers as values, and everything after -- as positional', () => {
    assert.deepEqual(resolveArgs(['-100,50'], scrollBy).args, { offset: '-100,50' });
    assert.deepEqual(resolveArgs(['--x', '0', '--y', '-500'], scrollBy), { args: {}, flags: { x: '0', y: '-500' } });
    assert.deepEqual(resolveArgs(['Name', '--', '--not-a-flag'], write).args, { selector: 'Name', text: '--not-a-flag' });
  });

  it('parses booleans (with =true/=false), values, lists, optional values and one-letter flags', () => {
    assert.deepEqual(resolveArgs(['Email', 'a@b.c', '--clear', '--delay', '50'], write).flags, { clear: true, delay: '50' });
    assert.deepEqual(resolveArgs(['Email', 'a@b.c', '--clear=false', '--delay=50'], write).flags, { clear: false, delay: '50' });
    assert.deepEqual(resolveArgs(['a', '--modifiers', 'ctrl', '--modifiers', 'shift'], key).flags, { modifiers: 'ctrl,shift' });
    assert.deepEqual(resolveArgs(['--export-csv', '--table-id', '7'], exportCsv).flags, { 'export-csv': true, 'table-id': '7' });
    assert.deepEqual(resolveArgs(['--export-csv', 'out.csv', '--table-id', '7'], exportCsv).flags, { 'export-csv': 'out.csv', 'table-id': '7' });
    assert.deepEqual(resolveArgs(['12', 'Shop', '-d', 'Our shop'], createGoal).flags, { description: 'Our shop' });
  });

  it('names every problem: unknown flags (422), a flag without its value, missing or extra arguments (400)', () => {
    const unknown = refused(() => resolveArgs(['12', 'Shop', '--colour', 'red', '--size=2'], createGoal), 422, /unknown flag --colour; create-goal takes --url, --description/);
    assert.deepEqual(unknown.map((p) => p.flag), ['--colour', '--size']);
    assert.equal(unknown[0].path, '/args/colour');
    refused(() => resolveArgs(['Email', 'a@b.c', '--smooth=maybe'], { ...write, flags: { smooth: { kind: 'boolean' } } }), 422, /--smooth takes no value/);
    const [needs] = refused(() => resolveArgs(['Email', 'a@b.c', '--delay'], write), 400, /--delay needs a value/);
    assert.deepEqual(needs, { path: '/args/delay', flag: '--delay', message: '--delay needs a value' });
    const [missing] = refused(() => resolveArgs(['Email'], write), 400, /missing <text> \(expects <selector> <text>\)/);
    assert.deepEqual(missing, { path: '/args/text', flag: '<text>', message: 'missing <text> (expects <selector> <text>)' });
    const [extra] = refused(() => resolveArgs(['1', 'Goal', 'extra'], createGoal), 400, /too many arguments: 'extra'/);
    assert.equal(extra.flag, 'extra');
    refused(() => resolveArgs(['12', 'Shop', '-'], createGoal), 400, /too many arguments: '-'/);
  });

  it('never takes a checkpoint for commands without one', () => {
    assert.deepEqual(resolveArgs(['1', 'Goal'], createGoal), { args: { projectId: '1', name: 'Goal' }, flags: {} });
    refused(() => resolveArgs(['1', 'Goal', '--checkpoint', '5'], createGoal), 422, /unknown flag --checkpoint/);
  });

  it('says the first problem in the message and how many more', () => {
    const err = invalidArguments('x', [{ path: '/a', flag: '--a', message: 'first' }, { path: '/b', flag: '--b', message: 'second' }]);
    assert.equal(err.message, 'Invalid arguments for x: first (and 1 more)');
    assert.equal(err.status, 422);
    assert.equal(invalidArguments('x', [{ path: '/a', flag: '<a>', message: 'm' }], 400).code, 'bad_request');
  });
});

describe('CLI strings: unknown commands and --help', () => {
  it('suggests the closest command, steps included, as many words as asked', () => {
    const suggestion = (line: string) => {
      try {
        parseCommand({ command: line });
      } catch (err) {
        assert.ok(err instanceof AppError && err.status === 400, String(err));
        return err.message;
      }
      assert.fail('expected a refusal');
    };
    assert.equal(suggestion('create-projct X'), "Unknown command 'create-projct' (did you mean 'create-project'?)");
    assert.equal(suggestion('step-interact clik X'), "Unknown command 'step-interact clik' (did you mean 'step-interact click'?)");
    assert.equal(suggestion('step-interact mouse movee X'), "Unknown command 'step-interact mouse movee' (did you mean 'step-interact mouse move'?)");
    assert.equal(suggestion('teleport now'), "Unknown command 'teleport now'");
    assert.match(suggestion('data stor literal a b'), /did you mean 'step-data store/);
  });

  it('answers --help (or -h) with the usage, as cobra did, for every command', () => {
    const help = (line: string) => {
      const p = parseCommand({ command: line });
      assert.equal(p.kind, 'help', line);
      return p.kind === 'help' ? p.help : assert.fail();
    };
    const click = help('api-cli step-interact click --help');
    assert.equal(click.usage, 'step-interact click [checkpoint-id] <selector> [position] [flags]');
    assert.deepEqual(click.flags.map((f) => f.name), ['variable', 'position', 'element-type', 'checkpoint', 'step-position']);
    assert.match(click.flags[1].note!, /accepted, no effect/);
    assert.deepEqual(help('create-goal -h').arguments, [{ name: 'projectId', required: true }, { name: 'name', required: true }]);
    assert.equal(help('data store literal --help').command, 'step-data.store.literal');
    assert.equal(help('yaml run --help').usage, 'yaml run <files> [flags]');
    assert.equal(parseCommand({ command: 'step-misc comment -- --help' }).kind, 'step', 'after -- it is text');
    for (const c of ALL_COMMANDS) assert.equal(help(`${c.path.join(' ')} --help`).command, c.name);
  });
});

