/**
 * The CLI-string form of a command (`step-interact click 123 "Login button" 2`), read the way the
 * original `api-cli` read it, with its ambiguities resolved by explicit rules:
 *
 *  1. Tokens: shell-style quotes and escapes; an unquoted `#` that starts a word and is followed by a
 *     space (or ends the line) starts a comment, as in a shell (`#login` stays a selector).
 *  2. The command line may start with `api-cli` (as copied from the CLI's help). The CLI's global flags
 *     may stand anywhere before `--`: `-o/--output json|yaml|human|ai` (the answer's format; also `-ojson`),
 *     `-v/--verbose` (no effect) and `--config <file>` (ignored: this service has its own Virtuoso
 *     connection; a note says so). A trailing `> file` (shell redirection) is dropped with a note:
 *     the answer carries the output.
 *  3. Flags: `--name value`, `--name=value`, the one-letter forms `-d value`, `-d=value`, `-dvalue`
 *     (as pflag reads them); declared booleans take no value (`--smooth`, `--smooth=false`); list flags
 *     may repeat (`--modifiers ctrl --modifiers shift` = `ctrl,shift`), any other flag given twice takes
 *     its last value. A word that starts like a flag but is none (`--1x`, `-5px`) is refused.
 *  4. Checkpoint and step position (step commands): `--checkpoint N` and `--step-position N|last`
 *     always win; `--position N|last` is the step position too, except on click, double-click,
 *     right-click and hover, where `--position TOP_LEFT…BOTTOM_RIGHT|CENTER` is where on the element
 *     (a number there is still the step position). Otherwise a leading `cp_N` is the checkpoint; a
 *     leading all-digit token is the checkpoint only when there are more positionals than the command
 *     requires (`click 123` clicks the text "123"); then a trailing all-digit token (or `last`) is the
 *     position under the same condition.
 *  5. What is left must fit the command's arguments; a last argument that is `variadic` (comment,
 *     execute) takes all the remaining words, joined by spaces, as the original did.
 *
 * Negative numbers (`-5`, `-10,20`) are values, never flags; `--` ends the flags. Problems are
 * reported as `{path, flag, message}` (path in the structured form: `/args/selector`,
 * `/checkpointId`, `/position`; flag as written: `--timeout`, `<selector>`).
 */
import { AppError } from '../errors';

// --- tokens --------------------------------------------------------------------------------------
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else current += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\' || line[i + 1] === '$')) current += line[++i];
      else current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inToken = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      current += line[++i];
      inToken = true;
    } else if (ch === '#' && !inToken && (i + 1 === line.length || /\s/.test(line[i + 1]))) {
      // A shell comment: to the end of the line (the line break then ends no token).
      i = line.indexOf('\n', i);
      if (i === -1) break;
    } else if (/\s/.test(ch)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (quote) throw new AppError('bad_request', `Unterminated ${quote === '"' ? 'double' : 'single'} quote in command`, { details: [{ path: '/command', flag: quote, message: 'a quote is never closed' }] });
  if (inToken) tokens.push(current);
  return tokens;
}

// --- problems --------------------------------------------------------------------------------------
/** One thing wrong with a command's arguments: where (in the structured form), as written, and why. */
export interface ArgumentProblem {
  path: string;
  flag: string;
  message: string;
}

/**
 * The error for a command whose arguments are wrong: 400 when the line cannot be read as the command
 * (missing or extra arguments, a flag without its value), 422 when values are refused. The message
 * names the first problem, so the reason is there even without reading `details`.
 */
export function invalidArguments(command: string, problems: readonly ArgumentProblem[], status: 400 | 422 = 422): AppError {
  const first = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new AppError(status === 400 ? 'bad_request' : 'unprocessable_entity', `Invalid arguments for ${command}: ${first.message}${more}`, { details: [...problems] });
}

// --- the command line as a whole ---------------------------------------------------------------------
export const OUTPUT_FORMATS = ['json', 'yaml', 'human', 'ai'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface CommandLine {
  tokens: string[];
  /** `-o/--output` when given with one of the answer formats. */
  output?: OutputFormat;
  /** What was accepted without effect (`--config`, a `> file` redirection). */
  notes: string[];
}

const isFormat = (v: string | undefined): v is OutputFormat => (OUTPUT_FORMATS as readonly (string | undefined)[]).includes(v);

/**
 * Tokenizes a command line and takes out what belongs to the CLI rather than to the command: a
 * leading `api-cli`, the global flags, a trailing shell redirection. An `-o` whose value is not one
 * of the answer formats is left to the command (`yaml compile -o commands`).
 */
export function readCommandLine(line: string): CommandLine {
  const all = tokenize(line);
  if (all.length && /(^|\/)api-cli$/.test(all[0])) all.shift();
  const tokens: string[] = [];
  const notes: string[] = [];
  let output: OutputFormat | undefined;
  for (let i = 0; i < all.length; i++) {
    const t = all[i];
    if (t === '--') {
      tokens.push(...all.slice(i));
      break;
    }
    // As pflag reads it: -o json, -o=json, -ojson, --output json, --output=json.
    const m = /^(?:-o|--output)$|^(?:-o=?|--output=)(.*)/s.exec(t);
    if (m) {
      const value = m[1] ?? all[i + 1];
      if (isFormat(value)) {
        output = value;
        if (m[1] === undefined) i++;
        continue;
      }
    } else if (t === '-v' || t === '--verbose') {
      continue;
    } else if (t === '--config' || t.startsWith('--config=')) {
      const file = t.includes('=') ? t.slice(t.indexOf('=') + 1) : all[++i];
      notes.push(`--config ${file ?? ''} is ignored: this service uses its own Virtuoso connection and organization`.replace('  ', ' '));
      continue;
    } else if ((t === '>' || t === '>>') && i === all.length - 2) {
      notes.push(`'${t} ${all[i + 1]}' is ignored: there is no local file to write; the answer carries the output`);
      break;
    }
    tokens.push(t);
  }
  return { tokens, ...(output ? { output } : {}), notes };
}

// --- arguments and flags -------------------------------------------------------------------------------
export interface ArgSpec {
  name: string;
  required?: boolean;
  /** Takes every remaining positional, joined by spaces (the last argument only). */
  variadic?: boolean;
  /** What a variadic argument's words are joined with (a space; a line break for lists of file names). */
  join?: string;
}

export type FlagKind = 'boolean' | 'value' | 'optional-value' | 'list';
export interface FlagSpec {
  kind: FlagKind;
  /** A one-letter form (`-d` for `--description`). */
  short?: string;
}

export interface CommandShape {
  /** For messages: `step-interact click`. */
  name: string;
  /** Positional arguments, in order (after the optional checkpoint). */
  args: readonly ArgSpec[];
  flags: Readonly<Record<string, FlagSpec>>;
  /** Step commands: a checkpoint and a position may be given. */
  checkpoint?: boolean;
  /** `--position` is where on the element (click, double-click, right-click, hover). */
  elementPosition?: boolean;
}

export interface ResolvedArgs {
  args: Record<string, string>;
  flags: Record<string, string | true | false>;
  checkpoint?: string;
  /** 'last' or a number as written. */
  position?: string;
}

const NEGATIVE_NUMBER = /^-\d[\d.,]*$/;
const DIGITS = /^\d+$/;
const STEP_POSITION = /^(\d+|last)$/i;
/** The flags every step command takes (the checkpoint and the step's position). */
export const STEP_FLAGS: Readonly<Record<string, FlagSpec>> = {
  checkpoint: { kind: 'value' },
  'step-position': { kind: 'value' },
  position: { kind: 'value' },
};

export const argPath = (name: string) => `/args/${name}`;

function flagList(shape: CommandShape): string {
  const names = Object.keys({ ...shape.flags, ...(shape.checkpoint ? STEP_FLAGS : {}) });
  return names.length ? names.map((n) => `--${n}`).join(', ') : 'no flags';
}

export function unknownFlag(name: string, shape: CommandShape): ArgumentProblem {
  return { path: argPath(name), flag: `--${name}`, message: `unknown flag --${name}; ${shape.name} takes ${flagList(shape)}` };
}

/**
 * The flag a token names, or undefined when it is no flag (`--1x`, `---v`, `-5px`): `--name`,
 * `--name=v`, and the one-letter forms as pflag reads them, `-d`, `-d=v` and `-dv` (the value attached).
 */
function flagName(t: string, shape: CommandShape): { name: string; inline?: string } | undefined {
  const long = /^--([A-Za-z][\w-]*)(?:=(.*))?$/s.exec(t);
  if (long) return { name: long[1], inline: long[2] };
  const short = /^-([A-Za-z])(=?)(.*)/s.exec(t);
  if (!short) return undefined;
  const found = Object.entries(shape.flags).find(([, f]) => f.short === short[1]);
  return { name: found ? found[0] : short[1], inline: short[2] || short[3] ? short[3] : undefined };
}

export function resolveArgs(tokens: readonly string[], shape: CommandShape): ResolvedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | true | false> = {};
  const usage: ArgumentProblem[] = [];
  const unknown: ArgumentProblem[] = [];
  const all: Record<string, FlagSpec> = { ...(shape.checkpoint ? STEP_FLAGS : {}), ...shape.flags };
  let flagsEnded = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (flagsEnded || !t.startsWith('-') || NEGATIVE_NUMBER.test(t) || t === '-') {
      positionals.push(t);
      continue;
    }
    if (t === '--') {
      flagsEnded = true;
      continue;
    }
    const f = flagName(t, shape);
    if (!f) {
      usage.push({ path: '/command', flag: t, message: `'${t}' is not a valid flag` });
      continue;
    }
    const spec = Object.hasOwn(all, f.name) ? all[f.name] : undefined;
    const next = tokens[i + 1];
    const takesNext = next !== undefined && (!next.startsWith('-') || NEGATIVE_NUMBER.test(next) || next === '-');
    if (!spec) {
      unknown.push(unknownFlag(f.name, shape));
      if (f.inline === undefined && takesNext) i++;
      continue;
    }
    switch (spec.kind) {
      case 'boolean':
        if (f.inline === undefined) flags[f.name] = true;
        else if (/^(true|false)$/i.test(f.inline)) flags[f.name] = f.inline.toLowerCase() === 'true';
        else unknown.push({ path: argPath(f.name), flag: `--${f.name}`, message: `--${f.name} takes no value (or =true/=false), not '${f.inline}'` });
        break;
      case 'optional-value':
        // Its value only when one is attached or follows (`--export-csv out.csv`); alone, the flag is set.
        flags[f.name] = f.inline ?? (takesNext ? tokens[++i] : true);
        break;
      case 'value':
      case 'list': {
        // The next word whatever it is (`--y -500`, `--text --literal`), as pflag takes it.
        const value = f.inline ?? tokens[++i];
        if (value === undefined) {
          usage.push({ path: argPath(f.name), flag: `--${f.name}`, message: `--${f.name} needs a value` });
          break;
        }
        // A list flag given again adds to the list; any other flag given again takes the last value.
        const before = flags[f.name];
        flags[f.name] = spec.kind === 'list' && typeof before === 'string' ? `${before},${value}` : value;
      }
    }
  }
  if (usage.length) throw invalidArguments(shape.name, usage, 400);

  const required = shape.args.filter((a) => a.required !== false).length;
  const variadic = shape.args.at(-1)?.variadic === true;
  const max = variadic ? Infinity : shape.args.length;
  let checkpoint: string | undefined;
  let position: string | undefined;
  const problems: ArgumentProblem[] = [...unknown];
  if (shape.checkpoint) {
    // Only the flags can give a checkpoint or a position that is not one: the positional rules take
    // a word only when it has the form.
    const explicit = flags.checkpoint as string | undefined; // a value flag: a string when given
    if (explicit !== undefined) {
      checkpoint = explicit.replace(/^cp_/, '');
      if (!DIGITS.test(checkpoint)) problems.push({ path: '/checkpointId', flag: '--checkpoint', message: `'${explicit}' is not a checkpoint id (digits, optionally cp_12345)` });
    } else if (positionals.length > required && /^cp_\d+$/.test(positionals[0])) checkpoint = positionals.shift()!.slice(3);
    else if (positionals.length > required && DIGITS.test(positionals[0])) checkpoint = positionals.shift();
    const stepFlag = flags['step-position'];
    const posFlag = flags.position;
    const given =
      typeof stepFlag === 'string'
        ? { value: stepFlag, flag: '--step-position' }
        : typeof posFlag === 'string' && (!shape.elementPosition || STEP_POSITION.test(posFlag))
          ? { value: posFlag, flag: '--position' }
          : undefined;
    if (given) {
      position = given.value;
      if (!STEP_POSITION.test(position)) problems.push({ path: '/position', flag: given.flag, message: `the step position must be a number or 'last', not '${position}'` });
    } else if (positionals.length > required && STEP_POSITION.test(positionals.at(-1)!)) position = positionals.pop();
    delete flags.checkpoint;
    delete flags['step-position'];
    // On element commands a word after --position stays: it is where on the element.
    if (!shape.elementPosition || given?.flag === '--position') delete flags.position;
    if (position !== undefined) position = position.toLowerCase() === 'last' ? 'last' : position;
  }
  const names = shape.args.map((a) => a.name);
  const expects = names.map((n) => `<${n}>`).join(' ') || 'no arguments';
  if (positionals.length < required) {
    const missing = names.slice(positionals.length, required);
    throw invalidArguments(shape.name, missing.map((n) => ({ path: argPath(n), flag: `<${n}>`, message: `missing <${n}> (expects ${expects})` })), 400);
  }
  if (positionals.length > max) {
    const extra = positionals.slice(max);
    throw invalidArguments(shape.name, [{ path: '/args', flag: extra[0], message: `too many arguments: ${extra.map((p) => `'${p}'`).join(' ')} (expects ${expects})` }], 400);
  }
  if (problems.length) throw invalidArguments(shape.name, problems);
  const args: Record<string, string> = {};
  const join = shape.args.at(-1)?.join ?? ' ';
  positionals.forEach((v, i) => {
    const name = names[Math.min(i, names.length - 1)];
    args[name] = i >= names.length ? `${args[name]}${join}${v}` : v;
  });
  return { args, flags, ...(checkpoint === undefined ? {} : { checkpoint }), ...(position === undefined ? {} : { position }) };
}

/** A value as one token of a command line: bare when it reads back as itself, double-quoted otherwise. */
export function quoteArg(value: string): string {
  // (A leading '-' needs no quotes: a quoted word is the same word to the reader, so a text that could
  // be a flag goes after `--`, as stepCommandLine writes it.)
  if (/^[\w@%+=:,./-]+$/.test(value)) return value;
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}
