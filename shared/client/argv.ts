/**
 * `api-cli`'s command line: its own flags (the original's persistent flags `--config`, `-o`, `-v`,
 * plus where the API is) are taken out wherever they stand, as cobra's persistent flags were; the
 * rest is the command, sent to the commands function as one CLI string whose tokens survive the
 * server's tokenizer (shared/virtuoso/cli.ts) exactly.
 */
import type { Flags } from './config';

export interface Parsed {
  flags: Flags & { verbose?: boolean; help?: boolean; version?: boolean };
  /** Everything else, in order (`--` and what follows it included). */
  rest: string[];
}

/** Global flags that take a value, by every spelling. */
const VALUE_FLAGS: Record<string, keyof Flags> = {
  '--config': 'config',
  '--base-url': 'baseUrl',
  '--api-key': 'apiKey',
  '--commands-url': 'commandsUrl',
  '--test-runs-url': 'testRunsUrl',
  '--output': 'output',
  '-o': 'output',
};

export class UsageError extends Error {}

export function parseGlobal(argv: readonly string[]): Parsed {
  const flags: Parsed['flags'] = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const [name, inline] = arg.startsWith('--') ? splitOnce(arg) : [arg, undefined];
    const key = VALUE_FLAGS[name];
    if (key) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      flags[key] = value;
    } else if (arg === '-v' || arg === '--verbose') flags.verbose = true;
    else if ((arg === '-h' || arg === '--help') && rest.length === 0) flags.help = true;
    else if (arg === '--version' && rest.length === 0) flags.version = true;
    else rest.push(arg);
  }
  return { flags, rest };
}

function splitOnce(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return eq < 0 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}

const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One token quoted for the server's shell-style tokenizer (single quotes, `'` spelled `'"'"'`). */
export function quote(token: string): string {
  return PLAIN.test(token) ? token : `'${token.replace(/'/g, `'"'"'`)}'`;
}

/** argv tokens → the CLI string the commands function reads back into the same tokens. */
export const commandLine = (tokens: readonly string[]): string => tokens.map(quote).join(' ');

/** Options of `run-test`/`run`/`wait`, parsed from what follows the command name. */
export interface RunOptions {
  file?: string;
  runId?: string;
  junit?: string;
  json?: string;
  timeoutSeconds?: number;
  noWait: boolean;
  cancelOnInterrupt: boolean;
  callbackUrl?: string;
  variables: Record<string, string>;
  execute: boolean;
  dryRun: boolean;
  idempotencyKey?: string;
  intervalSeconds?: number;
  outputsFile?: string;
}

const RUN_VALUE_FLAGS = ['--junit', '--json', '--timeout', '--callback-url', '--var', '--idempotency-key', '--interval', '--outputs-file'];

export function parseRunOptions(command: string, args: readonly string[]): RunOptions {
  const o: RunOptions = { noWait: false, cancelOnInterrupt: false, variables: {}, execute: true, dryRun: false };
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [name, inline] = args[i].startsWith('--') ? splitOnce(args[i]) : [args[i], undefined];
    if (RUN_VALUE_FLAGS.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      if (name === '--junit') o.junit = value;
      else if (name === '--json') o.json = value;
      else if (name === '--callback-url') o.callbackUrl = value;
      else if (name === '--idempotency-key') o.idempotencyKey = value;
      else if (name === '--outputs-file') o.outputsFile = value;
      else if (name === '--var') {
        const eq = value.indexOf('=');
        if (eq < 1) throw new UsageError(`--var takes name=value (got '${value}')`);
        o.variables[value.slice(0, eq)] = value.slice(eq + 1);
      } else {
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} takes a number of seconds above 0 (got '${value}')`);
        if (name === '--timeout') o.timeoutSeconds = n;
        else o.intervalSeconds = n;
      }
    } else if (name === '--no-wait') o.noWait = true;
    else if (name === '--cancel-on-interrupt') o.cancelOnInterrupt = true;
    else if (name === '--no-execute') o.execute = false;
    else if (name === '--dry-run') o.dryRun = true;
    else if (name.startsWith('--') && name.length > 2) throw new UsageError(`Unknown option ${name} for ${command} (see api-cli --help)`);
    else positionals.push(args[i]);
  }
  if (positionals.length !== 1) {
    throw new UsageError(command === 'wait' ? 'Usage: api-cli wait <run id> [options]' : `Usage: api-cli ${command} <file | -> [options]`);
  }
  if (command === 'wait') o.runId = positionals[0];
  else o.file = positionals[0];
  return o;
}
