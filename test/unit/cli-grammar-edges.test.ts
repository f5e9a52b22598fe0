/**
 * The edges of the CLI-string grammar (shared/virtuoso/cli.ts) that mutation testing found untested
 * (issue 17): single quotes, escapes, comments, the CLI's own flags in every form pflag reads them,
 * tokens that look like flags and are not, flags given twice, and the positional checkpoint and
 * position rules at their limits. Each states what a command line must mean, as the original `api-cli`
 * (cobra/pflag, after a POSIX shell) read it.
 */
import assert from 'node:assert/strict';
import { parseCommand } from '../../shared/commands/parse';
import { AppError } from '../../shared/errors';
import { invalidArguments, quoteArg, readCommandLine, resolveArgs, tokenize, type ArgumentProblem, type CommandShape } from '../../shared/virtuoso/cli';

const shape = (name: string, args: CommandShape['args'], more: Partial<CommandShape> = {}): CommandShape => ({ name, args, flags: {}, ...more });
const click = shape('step-interact click', [{ name: 'selector' }], { checkpoint: true, elementPosition: true, flags: { position: { kind: 'value' }, variable: { kind: 'value' } } });
const write = shape('step-interact write', [{ name: 'selector' }, { name: 'text' }], { checkpoint: true, flags: { clear: { kind: 'boolean' }, delay: { kind: 'value' } } });
const scrollBy = shape('step-navigate scroll-by', [{ name: 'offset', required: false }], { checkpoint: true, flags: { x: { kind: 'value' }, y: { kind: 'value' }, smooth: { kind: 'boolean' } } });
const comment = shape('step-misc comment', [{ name: 'text', variadic: true }], { checkpoint: true });
const createGoal = shape('create-goal', [{ name: 'projectId' }, { name: 'name' }], { flags: { url: { kind: 'value' }, description: { kind: 'value', short: 'd' } } });
const exportCsv = shape('manage-test-data', [], { flags: { 'export-csv': { kind: 'optional-value' }, 'table-id': { kind: 'value' } } });
const bare = shape('list-everything', []);

/** The AppError a call throws: its status, message and problems. */
function refusal(fn: () => unknown): { status: number; message: string; details: ArgumentProblem[] } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return { status: err.status, message: err.message, details: err.details as ArgumentProblem[] };
  }
  assert.fail('expected a refusal');
}

describe('CLI grammar edges: tokens as a shell reads them', () => {
  it('keeps a single-quoted text whole and literal: spaces, double quotes, backslashes, $ and #', () => {
    assert.deepEqual(tokenize(`click 'Login button'`), ['click', 'Login button']);
    assert.deepEqual(tokenize(`write Name 'say "hi"'`), ['write', 'Name', 'say "hi"']);
    assert.deepEqual(tokenize(`write Path 'C:\\dir\\' '$HOME' '# x'`), ['write', 'Path', 'C:\\dir\\', '$HOME', '# x']);
  });

  it('in double quotes, a backslash escapes only " \\ and $; before anything else it is itself', () => {
    assert.deepEqual(tokenize(`write Path "C:\\path"`), ['write', 'Path', 'C:\\path']);
    assert.deepEqual(tokenize(`write Path "C:\\dir\\\\"`), ['write', 'Path', 'C:\\dir\\'], 'an escaped backslash just before the closing quote');
    assert.deepEqual(tokenize(`write Price "\\$5 \\"off\\""`), ['write', 'Price', '$5 "off"']);
  });

  it('outside quotes, a backslash escapes the next character, even as a whole word; a trailing one is itself', () => {
    assert.deepEqual(tokenize(`comment \\# not a comment`), ['comment', '#', 'not', 'a', 'comment']);
    assert.deepEqual(tokenize(`write Name \\  x`), ['write', 'Name', ' ', 'x']);
    assert.deepEqual(tokenize(`click a\\`), ['click', 'a\\']);
    assert.deepEqual(tokenize(`click \\`), ['click', '\\']);
  });

  it('ends a comment at the line break, and the line at the end of the text', () => {
    assert.deepEqual(tokenize(`a # one\nb # two\nc`), ['a', 'b', 'c']);
    assert.deepEqual(tokenize(`# only a comment`), []);
    assert.deepEqual(tokenize(`a #`), ['a']);
  });

  it('refuses an unterminated quote, naming which', () => {
    const single = refusal(() => tokenize(`click 'open`));
    assert.equal(single.status, 400);
    assert.equal(single.message, 'Unterminated single quote in command');
    assert.deepEqual(single.details, [{ path: '/command', flag: "'", message: 'a quote is never closed' }]);
    const double = refusal(() => tokenize(`click "open`));
    assert.equal(double.message, 'Unterminated double quote in command');
    assert.deepEqual(double.details, [{ path: '/command', flag: '"', message: 'a quote is never closed' }]);
    assert.equal(refusal(() => tokenize(`click "it's`)).message, 'Unterminated double quote in command', "a ' inside double quotes opens nothing");
  });
});

describe('CLI grammar edges: the command line as a whole', () => {
  it('reads -o/--output in every form pflag does: -o json, -o=json, -ojson, --output json, --output=json', () => {
    for (const form of ['-o json', '-o=json', '-ojson', '--output json', '--output=json']) {
      assert.deepEqual(readCommandLine(`get-step ${form} 1`), { tokens: ['get-step', '1'], output: 'json', notes: [] }, form);
    }
  });

  it('leaves to the command what only looks like -o (--output-file, --save-output=json, -o alone)', () => {
    assert.deepEqual(readCommandLine('export --output-file json').tokens, ['export', '--output-file', 'json']);
    assert.deepEqual(readCommandLine('export --save-output=json').tokens, ['export', '--save-output=json']);
    assert.deepEqual(readCommandLine('export --outputs json').tokens, ['export', '--outputs', 'json']);
    assert.deepEqual(readCommandLine('get-step 1 -o'), { tokens: ['get-step', '1', '-o'], notes: [] });
    assert.deepEqual(readCommandLine('step-misc comment jell-o json').tokens, ['step-misc', 'comment', 'jell-o', 'json']);
    assert.deepEqual(readCommandLine('step-misc comment jell-ojson').tokens, ['step-misc', 'comment', 'jell-ojson']);
  });

  it("drops only the CLI's own name, by itself or as a path", () => {
    assert.deepEqual(readCommandLine('/usr/local/bin/api-cli list-projects').tokens, ['list-projects']);
    assert.deepEqual(readCommandLine('api-cli-dev list-projects').tokens, ['api-cli-dev', 'list-projects']);
    assert.deepEqual(readCommandLine('list-projects api-cli').tokens, ['list-projects', 'api-cli']);
  });

  it('notes a --config without a file, and a trailing >> redirection', () => {
    assert.deepEqual(readCommandLine('list-projects --config').notes, ['--config is ignored: this service uses its own Virtuoso connection and organization']);
    const appended = readCommandLine('list-projects >> all.log');
    assert.deepEqual(appended.tokens, ['list-projects']);
    assert.deepEqual(appended.notes, ["'>> all.log' is ignored: there is no local file to write; the answer carries the output"]);
  });

  it('keeps a > that is not the last redirection: it is a word of the command', () => {
    assert.deepEqual(readCommandLine('step-misc comment 5 > 3 holds'), { tokens: ['step-misc', 'comment', '5', '>', '3', 'holds'], notes: [] });
    assert.deepEqual(readCommandLine('step-misc comment a >').tokens, ['step-misc', 'comment', 'a', '>']);
  });
});

describe('CLI grammar edges: flags', () => {
  it('refuses a token that starts like a flag but is none (400, naming it)', () => {
    for (const t of ['--1x', '---verbose', '--time.out', '-5px', '-1-d']) {
      const r = refusal(() => resolveArgs(['12', 'Shop', t], createGoal));
      assert.equal(r.status, 400, t);
      assert.deepEqual(r.details, [{ path: '/command', flag: t, message: `'${t}' is not a valid flag` }], t);
    }
  });

  it('reads the one-letter forms as pflag does: -d v, -d=v, -dv', () => {
    for (const form of [['-d', 'Our shop'], ['-d=Our shop'], ['-dOur shop']]) {
      assert.deepEqual(resolveArgs(['12', 'Shop', ...form], createGoal), { args: { projectId: '12', name: 'Shop' }, flags: { description: 'Our shop' } }, form.join(' '));
    }
    assert.deepEqual(resolveArgs(['12', 'Shop', '-d='], createGoal).flags, { description: '' });
    const p = parseCommand({ command: 'create-project Shop -dOurs -ojson' });
    assert.ok(p.kind === 'command');
    assert.deepEqual([p.args, p.flags, p.output], [{ name: 'Shop' }, { description: 'Ours' }, 'json']);
  });

  it('takes a flag value that is negative or glued with =, and the last of a flag given twice', () => {
    assert.deepEqual(resolveArgs(['--x=-500', '--y', '-20'], scrollBy).flags, { x: '-500', y: '-20' });
    assert.deepEqual(resolveArgs(['Email', 'a', '--delay', '50', '--delay', '100'], write).flags, { delay: '100' });
  });

  it('reads =true, =TRUE and =false on a boolean, and refuses any other value naming the flag', () => {
    assert.equal(resolveArgs(['Email', 'a', '--clear=true'], write).flags.clear, true);
    assert.equal(resolveArgs(['Email', 'a', '--clear=TRUE'], write).flags.clear, true);
    assert.equal(resolveArgs(['Email', 'a', '--clear=False'], write).flags.clear, false);
    for (const v of ['untrue', 'falsey', 'yes']) {
      const r = refusal(() => resolveArgs(['Email', 'a', `--clear=${v}`], write));
      assert.equal(r.status, 422, v);
      assert.deepEqual(r.details, [{ path: '/args/clear', flag: '--clear', message: `--clear takes no value (or =true/=false), not '${v}'` }]);
    }
  });

  it('gives an optional value what is attached or follows, a lone - included, and nothing else', () => {
    assert.deepEqual(resolveArgs(['--export-csv=out.csv', '--table-id', '7'], exportCsv).flags, { 'export-csv': 'out.csv', 'table-id': '7' });
    assert.deepEqual(resolveArgs(['--export-csv', '-'], exportCsv).flags, { 'export-csv': '-' });
    assert.deepEqual(resolveArgs(['--export-csv', '-5'], exportCsv).flags, { 'export-csv': '-5' });
    assert.deepEqual(resolveArgs(['--export-csv'], exportCsv).flags, { 'export-csv': true });
  });

  it('skips the value of an unknown flag only when it has none attached, to name every problem', () => {
    // --size=2 carries its value: Shop is still the name, so the only problem is the flag.
    const inline = refusal(() => resolveArgs(['12', '--size=2', 'Shop'], createGoal));
    assert.equal(inline.status, 422);
    assert.deepEqual(inline.details.map((d) => d.flag), ['--size']);
    // --colour - : the lone dash is its value (stdin, as the CLI's flags took it), not an extra argument.
    const dash = refusal(() => resolveArgs(['12', 'Shop', '--colour', '-'], createGoal));
    assert.equal(dash.status, 422);
    assert.deepEqual(dash.details.map((d) => d.flag), ['--colour']);
    // An unknown flag followed by a flag takes no value: --url is read.
    const next = refusal(() => resolveArgs(['12', 'Shop', '--colour', '--url', 'https://x.example'], createGoal));
    assert.deepEqual(next.details.map((d) => d.flag), ['--colour']);
  });

  it('says a command takes no flags when it has none', () => {
    const r = refusal(() => resolveArgs(['--verbose-ish'], bare));
    assert.deepEqual(r.details, [{ path: '/args/verbose-ish', flag: '--verbose-ish', message: 'unknown flag --verbose-ish; list-everything takes no flags' }]);
  });
});

describe('CLI grammar edges: checkpoint, position and arguments', () => {
  it('reads multi-digit positions and checkpoints, as trailing words and through --position', () => {
    assert.deepEqual(resolveArgs(['Login', '12'], click), { args: { selector: 'Login' }, flags: {}, position: '12' });
    assert.deepEqual(resolveArgs(['1678318', 'Login', '12'], click), { args: { selector: 'Login' }, flags: {}, checkpoint: '1678318', position: '12' });
    assert.deepEqual(resolveArgs(['Login', '--position', '12'], click), { args: { selector: 'Login' }, flags: {}, position: '12' });
  });

  it('takes no ordinal for a position: 3rd is a word of the command', () => {
    assert.deepEqual(resolveArgs(['Wait', 'for', 'the', '3rd'], comment).args, { text: 'Wait for the 3rd' });
    const r = refusal(() => resolveArgs(['Login', '3rd'], click));
    assert.equal(r.status, 400);
    assert.match(r.message, /too many arguments: '3rd'/);
    const flag = refusal(() => resolveArgs(['Name', 'text', '--position', '3rd'], write));
    assert.deepEqual(flag.details, [{ path: '/position', flag: '--position', message: "the step position must be a number or 'last', not '3rd'" }]);
  });

  it('refuses a --checkpoint that is not digits (cp_ only in front), quoting it as written', () => {
    for (const v of ['12x', 'x12', '1cp_2', 'cp_', 'cp_12x', '']) {
      const r = refusal(() => resolveArgs(['--checkpoint', v, 'Login'], click));
      assert.equal(r.status, 422, v);
      assert.deepEqual(r.details, [{ path: '/checkpointId', flag: '--checkpoint', message: `'${v}' is not a checkpoint id (digits, optionally cp_12345)` }], v);
    }
  });

  it('takes cp_N as the checkpoint only when it is whole and there is room for it', () => {
    assert.deepEqual(resolveArgs(['cp_77'], click), { args: { selector: 'cp_77' }, flags: {} }, 'the one argument a click needs');
    assert.deepEqual(resolveArgs(['cp_5'], comment), { args: { text: 'cp_5' }, flags: {} });
    assert.deepEqual(resolveArgs(['cp_5x', 'hello'], comment), { args: { text: 'cp_5x hello' }, flags: {} });
    assert.deepEqual(resolveArgs(['xcp_5', 'hello'], comment), { args: { text: 'xcp_5 hello' }, flags: {} });
  });

  it('names every extra argument and what the command expects', () => {
    const none = refusal(() => resolveArgs(['x'], bare));
    assert.deepEqual(none.details, [{ path: '/args', flag: 'x', message: "too many arguments: 'x' (expects no arguments)" }]);
    const two = refusal(() => resolveArgs(['1', 'Goal', 'a', 'b'], createGoal));
    assert.deepEqual(two.details, [{ path: '/args', flag: 'a', message: "too many arguments: 'a' 'b' (expects <projectId> <name>)" }]);
  });

  it('says "and N more" only when there are more problems', () => {
    assert.equal(invalidArguments('x', [{ path: '/a', flag: '--a', message: 'only' }]).message, 'Invalid arguments for x: only');
    const three = invalidArguments('x', ['a', 'b', 'c'].map((m) => ({ path: `/${m}`, flag: `--${m}`, message: m })));
    assert.equal(three.message, 'Invalid arguments for x: a (and 2 more)');
  });
});

describe('CLI grammar edges: quoting a value back', () => {
  it('writes a value bare when a shell reads it back as itself, and only then', () => {
    for (const v of ['range-', '-x', '--flag', 'v1.2', 'a@b.c']) assert.equal(quoteArg(v), v, v);
    for (const v of ['#', '# x', 'a b', "it's", '']) assert.notEqual(quoteArg(v), v, v);
    for (const v of ['#', '# x', 'a b', "it's", '', 'C:\\path', '"', '$x']) assert.deepEqual(tokenize(`w ${quoteArg(v)}`), ['w', v], v);
  });
});
