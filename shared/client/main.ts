/**
 * `api-cli`: the Virtuoso API CLI's command line, as a thin HTTPS client of the deployed functions.
 *
 *   api-cli <any command line of the CLI>     → POST /commands, printed in -o human|json|yaml|ai
 *   api-cli run-test <file | -> [options]      → a whole test run, waited for (run-test.ts)
 *   api-cli run <file>                         the same
 *   api-cli wait <run id> [options]            follow a run submitted with --no-wait
 *
 * Exit codes: 0 success; 1 a command refused (or tests failed); 2 usage, configuration or
 * connection errors (and runs that ended in error or were cancelled); 3 a run still going at
 * --timeout; 130 interrupted. Errors go to stderr; with -o json|ai the error body also goes to stdout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { commandLine, parseGlobal, parseRunOptions, UsageError } from './argv';
import { ConfigProblem, resolveSettings } from './config';
import { ApiClient, ApiError, type OutputFormat } from './http';
import { EXIT, printError, runTest, type Io } from './run-test';

const HELP = `api-cli — the Virtuoso API CLI, served by this backend

Usage:
  api-cli <command> [args] [flags]          any command of the CLI (create-project, step-interact click …)
  api-cli run-test <file | -> [options]     run a whole test definition (YAML or JSON) and wait for it
  api-cli run <file> [options]              the same
  api-cli wait <run id> [options]           wait for a run submitted with --no-wait

Global flags (anywhere on the line):
  -o, --output human|json|yaml|ai           output format (default human, or output.default_format)
  --config <file>                           config file (default: ./config, ~/.api-cli, ., ./.local: virtuoso-config.yaml)
  --base-url <url>                          the functions' base URL (API_CLI_BASE_URL, api.base_url)
  --api-key <key>                           the API key (API_CLI_KEY or VIRTUOSO_API_TOKEN, api.auth_token)
  --commands-url, --test-runs-url <url>     one function's own URL (API_CLI_COMMANDS_URL, API_CLI_TEST_RUNS_URL)
  -h, --help                                this help; --version the version

run-test, run and wait:
  --junit <path>                            write the JUnit XML report
  --json <path>                             write {run, outcome, report} as JSON
  --timeout <seconds>                       stop waiting after this long (exit 3; the run goes on)
  --no-wait                                 print the run id and exit
  --cancel-on-interrupt                     Ctrl-C or SIGTERM cancels the run (on a terminal, Ctrl-C asks)
  --callback-url <url>                      POST the summary there when the run ends (signed, Standard Webhooks)
  --var <name=value>                        override a variable of the definition (repeatable)
  --no-execute                              build in Virtuoso, do not execute
  --dry-run                                 print the plan; nothing is created
  --idempotency-key <key>                   instead of the automatic one (definition + CI run)
  --interval <seconds>                      how often to ask for progress (default 1, slower while nothing changes)
  --outputs-file <path>                     append run-id=, outcome=, exit-code=, junit=, json= lines ($GITHUB_OUTPUT)

Exit codes: 0 passed · 1 tests failed (or a command refused) · 2 error, cancelled, refused or unreachable · 3 timeout · 130 interrupted
`;

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Runs one command line; resolves with the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseGlobal(argv);
  } catch (err) {
    io.stderr.write(`Error: ${(err as Error).message}\n`);
    return EXIT.error;
  }
  if (parsed.flags.version) {
    io.stdout.write(`api-cli ${version()} (node ${process.version})\n`);
    return 0;
  }
  if (parsed.flags.help || parsed.rest.length === 0) {
    (parsed.rest.length === 0 && !parsed.flags.help ? io.stderr : io.stdout).write(HELP);
    return parsed.flags.help ? 0 : EXIT.error;
  }
  const [command, ...args] = parsed.rest;
  const isRun = command === 'run-test' || command === 'run' || command === 'wait';
  let settings;
  try {
    settings = resolveSettings(parsed.flags, io.env, io.cwd, undefined, isRun ? 'testRuns' : 'commands');
  } catch (err) {
    if (!(err instanceof ConfigProblem)) throw err;
    io.stderr.write(`Error: ${err.message}\n`);
    return EXIT.error;
  }
  if (parsed.flags.verbose) io.stderr.write(`api-cli: commands ${settings.urls.commands}, testRuns ${settings.urls.testRuns}${settings.configFile ? ` (from ${settings.configFile})` : ''}\n`);
  const client = new ApiClient({ urls: settings.urls, apiKey: settings.apiKey, userAgent: `api-cli/${version()}` });
  if (isRun) {
    let options;
    try {
      options = parseRunOptions(command, args);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.stderr.write(`Error: ${err.message}\n`);
      return EXIT.error;
    }
    return runTest(client, settings.output, options, io);
  }
  return sendCommand(client, parsed.rest, settings.output, io);
}

/** Any other command line: sent to the commands function as one CLI string. */
async function sendCommand(client: ApiClient, tokens: readonly string[], output: OutputFormat, io: Io): Promise<number> {
  try {
    const { raw } = await client.runCommand({ command: commandLine(tokens) }, output);
    if (output === 'json') io.stdout.write(`${JSON.stringify(JSON.parse(raw.text), null, 2)}\n`);
    else io.stdout.write(raw.text.endsWith('\n') ? raw.text : `${raw.text}\n`);
    return 0;
  } catch (err) {
    printError(io, err, tokens[0]);
    if (err instanceof ApiError && err.status && (output === 'json' || output === 'ai')) {
      const body = { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
      io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    } else if (err instanceof ApiError && err.status && output === 'yaml') {
      io.stdout.write(stringify({ error: { code: err.code, message: err.message } }));
    }
    // Refused by the API: 1; not answered at all (network, or retryable trouble that outlasted the retries): 2.
    return err instanceof ApiError && err.status && !err.retryable ? 1 : EXIT.error;
  }
}

/** The process's own command line, stdio and signals (the bin calls this). */
export function cli(): void {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd(), signals: process }).then(
    (code) => {
      process.exitCode = code;
      // Nothing may keep the process alive once the answer is out (stdin, a keep-alive socket).
      setTimeout(() => process.exit(code), 50).unref();
      process.stdin.destroy();
    },
    (err: Error) => {
      process.stderr.write(`api-cli failed: ${err.stack ?? err.message}\n`);
      process.exit(EXIT.error);
    },
  );
}

if (require.main === module) cli();
