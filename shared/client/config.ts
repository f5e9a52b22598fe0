/**
 * Where `api-cli` finds the API and its key: flags, then environment variables, then a config file
 * (the original CLI's `virtuoso-config.yaml` and keys where they fit), then defaults.
 *
 * The config file: `--config <file>` (or API_CLI_CONFIG); else the first of
 * `./config/virtuoso-config.yaml`, `~/.api-cli/virtuoso-config.yaml`, `./virtuoso-config.yaml`
 * (the original's search path) and `./.local/virtuoso-config.yaml` (written by `npm start`):
 *
 *   api:
 *     base_url: https://us-central1-my-project.cloudfunctions.net   # the functions' names are appended
 *     auth_token: vak_…                                             # an API key (npm run api-keys)
 *     commands_url: …     # optional: the commands function's own URL, when not under base_url
 *     test_runs_url: …    # optional: the testRuns function's own URL
 *   output:
 *     default_format: human    # json, yaml, human, ai
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import type { OutputFormat } from './http';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['human', 'json', 'yaml', 'ai'];
export const CONFIG_FILE = 'virtuoso-config.yaml';

export interface Flags {
  config?: string;
  baseUrl?: string;
  apiKey?: string;
  commandsUrl?: string;
  testRunsUrl?: string;
  output?: string;
}

export interface Settings {
  /** Each function's URL (a command line needs only `commands`, a test run only `testRuns`). */
  urls: { commands: string; testRuns: string };
  apiKey: string;
  output: OutputFormat;
  /** The config file read, if any. */
  configFile?: string;
}

/** A setting that is missing or wrong: the CLI prints it and exits 2. */
export class ConfigProblem extends Error {}

/** The config files looked for, in order, when none is named. */
export function searchPath(cwd: string, home = homedir()): string[] {
  return [join(cwd, 'config', CONFIG_FILE), join(home, '.api-cli', CONFIG_FILE), join(cwd, CONFIG_FILE), join(cwd, '.local', CONFIG_FILE)];
}

interface FileConfig {
  api?: { base_url?: unknown; auth_token?: unknown; commands_url?: unknown; test_runs_url?: unknown };
  output?: { default_format?: unknown };
}

function readConfig(file: string): FileConfig {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigProblem(`Cannot read the config file ${file}: ${(err as Error).message}`);
  }
  if (doc != null && (typeof doc !== 'object' || Array.isArray(doc))) throw new ConfigProblem(`The config file ${file} is not a YAML mapping`);
  return (doc ?? {}) as FileConfig;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : typeof v === 'number' ? String(v) : undefined);

function httpUrl(value: string, what: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigProblem(`${what} is not a URL: '${value}'`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ConfigProblem(`${what} must be an http(s) URL: '${value}'`);
  return value.replace(/\/+$/, '');
}

/**
 * Flags > environment > config file > defaults; throws ConfigProblem naming what is missing. `need`
 * is the function the command talks to: only its URL must be known.
 */
export function resolveSettings(flags: Flags, env: NodeJS.ProcessEnv, cwd: string, home = homedir(), need: 'commands' | 'testRuns' = 'commands'): Settings {
  const named = flags.config ?? text(env.API_CLI_CONFIG);
  let configFile: string | undefined;
  if (named) {
    configFile = isAbsolute(named) ? named : resolve(cwd, named);
    if (!existsSync(configFile)) throw new ConfigProblem(`The config file ${configFile} does not exist`);
  } else {
    configFile = searchPath(cwd, home).find((f) => existsSync(f));
  }
  const file = configFile ? readConfig(configFile) : {};
  const pick = (flag: string | undefined, envNames: string[], fromFile: unknown) => flag ?? envNames.map((n) => text(env[n])).find(Boolean) ?? text(fromFile);

  const base = pick(flags.baseUrl, ['API_CLI_BASE_URL'], file.api?.base_url);
  const commands = pick(flags.commandsUrl, ['API_CLI_COMMANDS_URL'], file.api?.commands_url);
  const testRuns = pick(flags.testRunsUrl, ['API_CLI_TEST_RUNS_URL'], file.api?.test_runs_url);
  const apiKey = pick(flags.apiKey, ['API_CLI_KEY', 'VIRTUOSO_API_TOKEN'], file.api?.auth_token);
  const output = pick(flags.output, ['API_CLI_OUTPUT'], file.output?.default_format) ?? 'human';
  if (!OUTPUT_FORMATS.includes(output as OutputFormat)) throw new ConfigProblem(`invalid output format: ${output} (must be one of: ${OUTPUT_FORMATS.join(', ')})`);

  const where = configFile ? ` (config file ${configFile})` : ` (no config file: looked for ${searchPath(cwd, home).join(', ')})`;
  const needs = need === 'commands' ? 'commands_url' : 'test_runs_url';
  const urlOf = (own: string | undefined, fn: string, what: string, needed: boolean) => {
    if (own) return httpUrl(own, what);
    if (base) return `${httpUrl(base, 'The base URL')}/${fn}`;
    if (needed) throw new ConfigProblem(`No API URL: pass --base-url, set API_CLI_BASE_URL, or api.base_url (or api.${needs}) in ${CONFIG_FILE}${where}`);
    return '';
  };
  const urls = { commands: urlOf(commands, 'commands', 'The commands URL', need === 'commands'), testRuns: urlOf(testRuns, 'testRuns', 'The testRuns URL', need === 'testRuns') };
  if (!apiKey) throw new ConfigProblem(`No API key: pass --api-key, set API_CLI_KEY (or VIRTUOSO_API_TOKEN), or api.auth_token in ${CONFIG_FILE}${where}`);
  return { urls, apiKey, output: output as OutputFormat, configFile };
}
