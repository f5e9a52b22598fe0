/**
 * How a command request is read — a CLI string (`step-interact click 123 "Login" 2`, `api-cli
 * create-goal 12 Shop -o json`) or the structured form (`{command: "step-interact.click", args}`),
 * a step command or another — once, the same way for a command run now, a command queued and the
 * check made before anything is recorded. The catalogue is the step commands
 * (shared/virtuoso/step-commands.ts), the other CLI commands (shared/virtuoso/commands.ts) and the
 * commands that read test files (shared/testruns/file-commands.ts).
 */
import { AppError, badRequest } from '../errors';
import { readCommandLine, resolveArgs, type OutputFormat } from '../virtuoso/cli';
import { COMMANDS, commandShape, Noted, validateCommandArgs, type Command, type CommandContext } from '../virtuoso/commands';
import { canonicalGroup, findStepCommand, isStepCommand, refusedCommand, STEP_COMMANDS, stepCommandByName, stepFromCli, stepFromJson, type StepCommand, type StepRequest } from '../virtuoso/step-commands';
import { TEST_FILE_COMMANDS } from '../testruns/file-commands';
import { suggest } from '../testruns/step-forms';

export interface CommandInput {
  /** A CLI string (`step-interact click 123 "Login"`) or a command name (`step-interact.click`). */
  command: string;
  args?: Record<string, string | number | boolean>;
  checkpointId?: string | number;
  position?: number | 'last';
  sessionId?: string;
  /** The files the command line names (`run-test login.yaml`), by name: this service cannot read the caller's disk. */
  files?: Record<string, string>;
  /** What the CLI would have read from standard input (`run-test -`). */
  stdin?: string;
}

/** The most file content one command may carry (it is kept in the command's history, a Firestore document). */
export const MAX_FILES_BYTES = 256 * 1024;

export const ALL_COMMANDS: readonly Command[] = [...COMMANDS, ...TEST_FILE_COMMANDS];
const BY_NAME = new Map(ALL_COMMANDS.map((c) => [c.name, c]));

export type ParsedCommand =
  | { kind: 'step'; name: string; step: StepRequest; output?: OutputFormat; notes: string[] }
  | { kind: 'command'; name: string; command: Command; args: Record<string, string>; flags: Record<string, string | boolean>; output?: OutputFormat; notes: string[] }
  | { kind: 'help'; name: string; help: Usage; output?: OutputFormat; notes: string[] };

const NAME = /^[a-z][a-z-]*(\.[a-z][a-z-]*)*$/;
/** The structured form names a command (`step-interact.click`, `run-test`) and gives its arguments apart. */
export const isStructured = (input: Pick<CommandInput, 'command'>) => NAME.test(input.command) && !input.command.includes(' ');

/** The longest command path the tokens start with. */
export function findCommand(tokens: readonly string[]): { command: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const c of ALL_COMMANDS) if (c.path.every((p, i) => tokens[i] === p) && (!best || c.path.length > best.path.length)) best = c;
  return best && { command: best, rest: tokens.slice(best.path.length) };
}

const KNOWN = [...ALL_COMMANDS.map((c) => c.path.join(' ')), ...STEP_COMMANDS.map((c) => c.path.join(' '))];

function unknownCommand(words: readonly string[]): AppError {
  // The known commands that share all but the last of the words asked: the closest last word
  // (`step-interact clik` → `step-interact click`, `creat-project` → `create-project`).
  let asked = words.slice(0, 2).join(' ');
  let hint: string | undefined;
  for (const n of [4, 3, 2, 1]) {
    const head = words.slice(0, n - 1).join(' ');
    const last = words[n - 1];
    if (last === undefined) continue;
    const known = KNOWN.map((k) => k.split(' ')).filter((k) => k.length >= n && k.slice(0, n - 1).join(' ') === head);
    const found = suggest(last, [...new Set(known.map((k) => k[n - 1]))]);
    if (found) {
      [asked, hint] = [words.slice(0, n).join(' '), [...words.slice(0, n - 1), found].join(' ')];
      break;
    }
  }
  return badRequest(`Unknown command '${asked}'${hint ? ` (did you mean '${hint}'?)` : ''}`, [
    { path: '/command', flag: words[0] ?? '', message: `no such command${hint ? `; did you mean '${hint}'?` : ''}` },
  ]);
}

/** What `--help` answers: the command's usage, its arguments and flags (what each takes, and which change nothing here). */
export interface Usage {
  command: string;
  usage: string;
  arguments: { name: string; required: boolean }[];
  flags: { name: string; takes: string; note?: string }[];
}

function usageOf(c: StepCommand | Command): Usage {
  const step = 'build' in c;
  const args = c.args.map((a) => ({ name: a.name, required: a.required !== false }));
  const flags = step
    ? [...c.flags.map((f) => ({ name: f.name, takes: f.type, ...(f.noEffect ? { note: `accepted, no effect: ${f.noEffect}` } : {}) })), { name: 'checkpoint', takes: 'id' }, { name: 'step-position', takes: 'N|last' }]
    : Object.entries(c.flags).map(([name, f]) => ({ name, takes: f.type }));
  const words = args.map((a) => (a.required ? `<${a.name}>` : `[${a.name}]`));
  const usage = [c.path.join(' '), ...(step ? ['[checkpoint-id]', ...words, '[position]'] : words), ...(flags.length ? ['[flags]'] : [])].join(' ');
  return { command: c.name, usage, arguments: args, flags };
}

const HELP = new Set(['--help', '-h']);
/** `… --help` (before `--`): the command's usage instead of the command, as cobra answered. */
function helpAsked(tokens: readonly string[]): boolean {
  const end = tokens.indexOf('--');
  return (end < 0 ? tokens : tokens.slice(0, end)).some((t) => HELP.has(t));
}

/** Body fields override what the CLI string said (an explicit checkpoint or position wins). */
function withOverrides(step: StepRequest, input: CommandInput): StepRequest {
  return {
    ...step,
    ...(input.checkpointId !== undefined ? { checkpointId: String(input.checkpointId).replace(/^cp_/, '') } : {}),
    ...(input.position !== undefined ? { position: input.position } : {}),
  };
}

function structured(input: CommandInput): ParsedCommand {
  if (isStepCommand(input.command.split('.'))) {
    const step = stepFromJson({ command: input.command, checkpointId: input.checkpointId, args: input.args, position: input.position });
    return { kind: 'step', name: step.command, step, notes: step.notes ?? [] };
  }
  const command = BY_NAME.get(input.command);
  if (!command) throw unknownCommand(input.command.split('.'));
  const positional = new Set(command.args.map((a) => a.name));
  const args: Record<string, string> = {};
  const flags: Record<string, string | boolean> = {};
  for (const [k, v] of Object.entries(input.args ?? {})) {
    if (positional.has(k)) args[k] = String(v);
    else flags[k] = typeof v === 'boolean' ? v : String(v);
  }
  validateCommandArgs(command, { ...args, ...flags });
  return { kind: 'command', name: command.name, command, args, flags, notes: [] };
}

/**
 * Reads a command request: which command, its arguments and flags checked against its declaration
 * (400 for a line that cannot be read as the command, 422 for refused values, each problem named in
 * `details` as {path, flag, message}). Makes no request.
 */
export function parseCommand(input: CommandInput): ParsedCommand {
  if (isStructured(input)) return structured(input);
  const line = readCommandLine(input.command);
  if (!line.tokens.length) throw badRequest('The command is empty', [{ path: '/command', flag: '', message: 'no command given' }]);
  const output = line.output ? { output: line.output } : {};
  if (helpAsked(line.tokens)) {
    const words = line.tokens.filter((t) => !HELP.has(t));
    const found = isStepCommand(words) ? findStepCommand(words)?.command : findCommand(canonicalGroup(words))?.command;
    if (!found) throw unknownCommand(words);
    return { kind: 'help', name: found.name, help: usageOf(found), ...output, notes: line.notes };
  }
  if (isStepCommand(line.tokens)) {
    const refused = refusedCommand(line.tokens);
    if (refused) throw refused;
    if (!findStepCommand(line.tokens)) throw unknownCommand(canonicalGroup(line.tokens));
    const step = withOverrides(stepFromCli(line.tokens), input);
    return { kind: 'step', name: step.command, step, ...output, notes: [...line.notes, ...(step.notes ?? [])] };
  }
  const found = findCommand(canonicalGroup(line.tokens));
  if (!found) throw unknownCommand(line.tokens);
  const r = resolveArgs(found.rest, commandShape(found.command));
  validateCommandArgs(found.command, { ...r.args, ...r.flags });
  return { kind: 'command', name: found.command.name, command: found.command, args: r.args, flags: r.flags, ...output, notes: line.notes };
}

/**
 * Everything that can be checked before a command is recorded or queued: its reading, the size of
 * the files it carries, and its own checks that need no request (a test definition's validity).
 */
export function checkCommand(input: CommandInput): ParsedCommand {
  const bytes = Object.values(input.files ?? {}).reduce((n, text) => n + Buffer.byteLength(text), Buffer.byteLength(input.stdin ?? ''));
  if (bytes > MAX_FILES_BYTES) {
    throw new AppError('payload_too_large', `The files sent with the command hold ${bytes} bytes; at most ${MAX_FILES_BYTES} are taken (POST a large test definition to /test-runs, up to 512 KB)`, { details: { limitBytes: MAX_FILES_BYTES } });
  }
  const parsed = parseCommand(input);
  if (parsed.kind === 'command') parsed.command.check?.({ files: input.files, stdin: input.stdin }, parsed.args, parsed.flags);
  return parsed;
}

/** The catalogue name of the command an input asks for (for history and rate limits), without throwing. */
export function commandName(input: CommandInput): string {
  if (isStructured(input)) return stepCommandByName(input.command)?.name ?? input.command;
  try {
    return parseCommand(input).name;
  } catch {
    const tokens = input.command.trim().split(/\s+/);
    return tokens.slice(0, 2).join('.');
  }
}

/** Runs a non-step command line with a given context (no cache, no history): for tools and tests. */
export async function runCommandLine(ctx: CommandContext, line: string): Promise<{ command: string; output: unknown; notes: string[] }> {
  const parsed = parseCommand({ command: line });
  if (parsed.kind === 'help') return { command: parsed.name, output: parsed.help, notes: parsed.notes };
  if (parsed.kind !== 'command') throw badRequest(`'${parsed.name}' is a step command: it needs a checkpoint and the step creation of shared/commands/run.ts`);
  const out = await parsed.command.run(ctx, parsed.args, parsed.flags);
  return out instanceof Noted ? { command: parsed.name, output: out.output, notes: [...parsed.notes, ...out.notes] } : { command: parsed.name, output: out, notes: parsed.notes };
}
