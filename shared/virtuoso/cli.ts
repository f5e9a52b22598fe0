/**
 * The CLI-string form of a command (`step-interact click 123 "Login button" 2`): shell-style
 * tokenizing, then the argument rules that resolve the CLI's ambiguities explicitly
 * (VIRTUOSO_API.md §2.2 and §6.6), in this order:
 *
 *  1. `--checkpoint N` and `--position N` (or `--position last`) always win.
 *  2. A leading `cp_<digits>` token is the checkpoint.
 *  3. A leading all-digit token is the checkpoint only when there are more positionals than the
 *     command takes; otherwise it is an argument (`click 123` clicks the text "123").
 *  4. Then a trailing all-digit token (or `last`) is the position, again only when there are still
 *     more positionals than the command takes.
 *  5. What is left must fit the command's arguments: too few or too many is an error naming them.
 *
 * Negative numbers (`-5`, `-10,20`) are values, never flags; `--` ends the flags, so anything
 * after it is positional. Flags take `--name value` or `--name=value`; declared booleans take none.
 */
import { badRequest } from '../errors';

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
    } else if (/\s/.test(ch)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (quote) throw badRequest(`Unterminated ${quote === '"' ? 'double' : 'single'} quote in command`);
  if (inToken) tokens.push(current);
  return tokens;
}

export interface ArgSpec {
  name: string;
  required?: boolean;
}

export interface CommandShape {
  /** Positional arguments, in order (after the optional checkpoint). */
  args: readonly ArgSpec[];
  /** Whether the command takes a checkpoint and a position (step commands). */
  checkpoint?: boolean;
  /** Flags that take no value. */
  booleanFlags?: readonly string[];
}

export interface ResolvedArgs {
  args: Record<string, string>;
  flags: Record<string, string | true>;
  checkpoint?: string;
  /** 'last' or a number as written. */
  position?: string;
}

const NEGATIVE_NUMBER = /^-\d[\d.,]*$/;
const DIGITS = /^\d+$/;

export function resolveArgs(tokens: readonly string[], shape: CommandShape): ResolvedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | true> = {};
  let flagsEnded = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (flagsEnded || !t.startsWith('-') || NEGATIVE_NUMBER.test(t) || t === '-') {
      positionals.push(t);
    } else if (t === '--') {
      flagsEnded = true;
    } else {
      const m = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(t);
      if (!m) throw badRequest(`'${t}' is not a valid flag`);
      const [, name, inline] = m;
      if (inline !== undefined) flags[name] = inline;
      else if (shape.booleanFlags?.includes(name)) flags[name] = true;
      else if (i + 1 < tokens.length) flags[name] = tokens[++i];
      else throw badRequest(`Flag --${name} needs a value`);
    }
  }

  const max = shape.args.length;
  const required = shape.args.filter((a) => a.required !== false).length;
  let checkpoint: string | undefined;
  let position: string | undefined;
  if (shape.checkpoint) {
    if (typeof flags.checkpoint === 'string') checkpoint = flags.checkpoint.replace(/^cp_/, '');
    else if (positionals.length && /^cp_\d+$/.test(positionals[0])) checkpoint = positionals.shift()!.slice(3);
    else if (positionals.length > max && DIGITS.test(positionals[0])) checkpoint = positionals.shift();
    if (typeof flags.position === 'string') position = flags.position;
    else if (positionals.length > max && /^(\d+|last)$/.test(positionals[positionals.length - 1])) position = positionals.pop();
    delete flags.checkpoint;
    delete flags.position;
    if (checkpoint !== undefined && !DIGITS.test(checkpoint)) throw badRequest(`'${checkpoint}' is not a checkpoint id`);
    if (position !== undefined && !/^(\d+|last)$/.test(position)) throw badRequest(`Position must be a number or 'last' (got '${position}')`);
  }
  const names = shape.args.map((a) => a.name);
  if (positionals.length < required) {
    throw badRequest(`Missing ${names.slice(positionals.length, required).join(', ')} (expects ${names.join(' ')})`, { expects: names });
  }
  if (positionals.length > max) {
    throw badRequest(`Too many arguments: ${positionals.slice(max).map((p) => `'${p}'`).join(' ')} (expects ${names.join(' ') || 'none'})`, { expects: names });
  }
  const args = Object.fromEntries(positionals.map((v, i) => [names[i], v]));
  return { args, flags, ...(checkpoint === undefined ? {} : { checkpoint }), ...(position === undefined ? {} : { position }) };
}
