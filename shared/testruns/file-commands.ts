/**
 * The CLI's commands that read test files — `run-test`, `yaml validate|compile|run|generate|convert|
 * detect`, `load-template`, `generate-commands`, `get-templates` — over HTTPS. The files come with
 * the request (`files`: name → content; `stdin` for `-`): this service cannot read the caller's disk.
 * Every test file format the CLI took is read (shared/testruns/formats/), and the commands map onto
 * test runs:
 *
 * | command | here |
 * |---|---|
 * | `run-test <file> [--dry-run] [--execute] [--project-name N]` | a test run (built; executed with `--execute`, as the CLI's flag said); `--dry-run`: the converted definition and its plan |
 * | `yaml validate <files…> [--strict]` | each file checked as a dry run; 422 listing the problems of every invalid one |
 * | `yaml compile <file>`, `yaml convert <file>` | the native definition (YAML text and object) the file converts to |
 * | `yaml convert <checkpoint-id>` | an existing checkpoint's steps as native short forms |
 * | `yaml run <files…> [--var k=v]` | one test run per file, executed |
 * | `yaml generate <prompt> [--template T]` | a starting definition from the CLI's templates (login, registration, search, form, purchase) |
 * | `yaml detect <file>` | the file's format |
 * | `load-template`, `generate-commands`, `get-templates` | the CLI's journey templates: checked, turned into commands, listed |
 */
import { AppError, unprocessable } from '../errors';
import { def, f as flag, id, inputFile, noted, type Command, type CommandContext, type Param } from '../virtuoso/commands';
import { stepCommandLine } from '../virtuoso/step-commands';
import { quoteArg } from '../virtuoso/cli';
import { type DefinitionProblem, parseDefinition, type TestDefinition } from './definition';
import { detectFormat, FORMAT_DESCRIPTIONS, type Format } from './formats';
import { shortForm, type StoredStep } from './formats/from-virtuoso';
import { buildPlan } from './plan';
import { isMap } from './step-forms';
import { assertYamlBounds } from './yaml-bounds';
import { yaml } from '../yaml';

/** A file argument; a variadic one is a list of names (one per line in the structured form). */
const p = (name: string, required = true, variadic = false): Param => ({ name, required, type: 'file', ...(variadic ? { variadic, join: '\n' } : {}) });
const POST_ALTERNATIVE = ', or POST the file itself to /test-runs (Content-Type: application/yaml)';

/** A file's text, read and parsed as a test definition (400/422 as a dry run answers them). */
function definitionOf(ctx: Pick<CommandContext, 'files' | 'stdin'>, file: string, command: string, options: { projectName?: string; variables?: Record<string, string> } = {}): { text: string; def: TestDefinition } {
  const text = inputFile(ctx, file, command, POST_ALTERNATIVE);
  return { text, def: parseDefinition(text, options) };
}

/** What a dry run shows: the native definition the file converts to, and the plan of Virtuoso operations. */
function dryRunView(file: string, d: TestDefinition) {
  const plan = buildPlan(d, { execute: true });
  return {
    dry_run: true, file, format: d.format, name: d.name, steps: d.totalSteps,
    plan: { operations: plan.totals.operations, critical_path_calls: plan.criticalPathCalls, goals: plan.totals.goals, journeys: plan.totals.journeys, checkpoints: plan.totals.checkpoints },
    definition: d.document,
  };
}

/** `yaml run`'s and `yaml validate`'s file list: names, or patterns (`tests/*.yaml`) matched against the files sent. */
function expandFiles(ctx: Pick<CommandContext, 'files'>, list: string): string[] {
  const names = Object.keys(ctx.files ?? {});
  return list.split('\n').filter(Boolean).flatMap((pattern) => {
    if (!/[*?[]/.test(pattern)) return [pattern];
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    const matched = names.filter((n) => re.test(n)).sort();
    if (!matched.length) {
      throw unprocessable(`'${pattern}' matches files on your machine, which this service cannot list over HTTPS: send the files in the request's "files" (name → content); the pattern is matched against their names`, [
        { path: '/files', flag: pattern, message: 'no file sent matches this pattern' },
      ]);
    }
    return matched;
  });
}

/** `--var k=v` (repeatable, or k=v,k2=v2) → variables. */
function pairs(value: string | boolean | undefined, flagName: string): Record<string, string> {
  if (typeof value !== 'string') return {};
  const out: Record<string, string> = {};
  for (const item of value.split(',').filter((x) => x.trim())) {
    const eq = item.indexOf('=');
    if (eq < 1) throw unprocessable(`--${flagName} takes name=value pairs, not '${item}'`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

function ports(ctx: CommandContext) {
  if (!ctx.testRuns) throw new AppError('unavailable', 'Test runs cannot be started here', { retryAfterSeconds: 5 });
  return ctx.testRuns;
}

const queued = (file: string, run: { id: string; name: string; status: string; statusUrl: string; totals: { operations: number; steps: number } }) => ({
  file, test_run_id: run.id, name: run.name, status: run.status, status_url: run.statusUrl, operations: run.totals.operations, steps: run.totals.steps,
});

// --- yaml generate: the CLI's templates, written as native definitions ------------------------------------
const TEMPLATES: Readonly<Record<string, { keywords: string[]; steps: string }>> = {
  login: { keywords: ['login', 'signin', 'sign in', 'auth'], steps: '- write: {selector: "#email", text: "${username}"}\n- write: {selector: "#password", text: "${password}"}\n- click: Sign In\n- wait: .dashboard\n- assert: Welcome' },
  registration: { keywords: ['registration', 'register', 'sign up', 'signup'], steps: '- write: {selector: "#email", text: "${email}"}\n- write: {selector: "#password", text: "${password}"}\n- write: {selector: "#confirm-password", text: "${password}"}\n- click: "#terms"\n- click: Sign Up\n- wait: .dashboard\n- assert: Welcome\n- store: {selector: .user-id, as: userId}' },
  search: { keywords: ['search', 'find'], steps: '- click: "#search"\n- write: {selector: "#search", text: "${query}"}\n- key: Enter\n- wait: .results\n- assert: "${query}"' },
  form: { keywords: ['form', 'submit', 'contact'], steps: '- wait: form\n- write: {selector: "#name", text: Test User}\n- write: {selector: "#email", text: test@example.com}\n- click: Submit\n- wait: .success-message\n- assert: Thank you' },
  purchase: { keywords: ['purchase', 'buy', 'checkout', 'shop', 'cart'], steps: '- write: {selector: "#search", text: "${product}"}\n- key: Enter\n- wait: .products\n- click: "${product}"\n- click: Add to Cart\n- click: Cart\n- click: Checkout\n- assert: Total' },
};
const TEMPLATE_VARIABLES: Readonly<Record<string, Record<string, string>>> = {
  login: { username: 'test@example.com', password: 'change-me' },
  registration: { email: 'new.user@example.com', password: 'change-me' },
  search: { query: 'test product' },
  form: {},
  purchase: { product: 'Wireless Headphones' },
};

function generated(prompt: string, template?: string): { template: string; yaml: string } {
  const lower = prompt.toLowerCase();
  const name = template ?? Object.entries(TEMPLATES).find(([, t]) => t.keywords.some((k) => lower.includes(k)))?.[0] ?? 'form';
  const t = TEMPLATES[name];
  const vars = TEMPLATE_VARIABLES[name];
  const title = prompt.trim().replace(/\s+/g, ' ').slice(0, 200) || name;
  const variables = Object.keys(vars).length ? `variables:\n${Object.entries(vars).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}\n` : '';
  const steps = t.steps.split('\n').map((l) => `              ${l}`).join('\n');
  const text = `name: ${JSON.stringify(title)}\nproject: My project\n${variables}goals:\n  - name: ${JSON.stringify(title)}\n    url: https://example.com\n    journeys:\n      - name: ${JSON.stringify(title)}\n        checkpoints:\n          - name: Steps\n            steps:\n${steps}\n`;
  return { template: name, yaml: text };
}

// --- journey templates (load-template, generate-commands, get-templates) ----------------------------------
interface TemplateStep {
  command?: string;
  args?: unknown[];
  description?: string;
  options?: Record<string, unknown>;
  condition?: { command?: string; args?: unknown[] };
  then?: TemplateStep[];
  else?: TemplateStep[];
  try?: TemplateStep[];
  catch?: TemplateStep[];
  finally?: TemplateStep[];
}
interface Template {
  journey: { name?: string; project_id?: unknown; description?: string; config?: unknown; variables?: { name: string; value: string }[]; checkpoints?: { name?: string; position?: number; steps?: TemplateStep[] }[] };
}

function readTemplate(text: string, file: string): Template {
  let data: unknown;
  try {
    assertYamlBounds(text);
    data = yaml().parse(text, { maxAliasCount: 100 });
  } catch (err) {
    throw unprocessable(`'${file}' is not valid YAML: ${(err as Error).message}`);
  }
  if (!isMap(data) || !isMap(data.journey)) throw unprocessable(`'${file}' is not a journey template: it needs a top-level 'journey'`);
  return data as unknown as Template;
}

/** The CLI's checks of a template (journey name, project_id, checkpoints with names and steps with commands). */
function templateProblem(t: Template): string | undefined {
  const j = t.journey;
  if (!j.name) return 'journey name is required';
  if (j.project_id === undefined || j.project_id === null) return 'project_id is required';
  if (!Array.isArray(j.checkpoints) || !j.checkpoints.length) return 'at least one checkpoint is required';
  for (const [i, c] of j.checkpoints.entries()) {
    if (!c?.name) return `checkpoint ${i + 1}: name is required`;
    if (!Array.isArray(c.steps) || !c.steps.length) return `checkpoint '${c.name}': at least one step is required`;
    for (const [k, s] of c.steps.entries()) if (!s?.command) return `checkpoint '${c.name}', step ${k + 1}: command is required`;
  }
  return undefined;
}

const countSteps = (steps: TemplateStep[] = []): number => steps.length + steps.reduce((n, s) => n + countSteps(s.then) + countSteps(s.else) + countSteps(s.try) + countSteps(s.catch) + countSteps(s.finally), 0);
const hasConditionals = (steps: TemplateStep[] = []): boolean => steps.some((s) => !!s.condition || !!s.then?.length || !!s.try?.length || hasConditionals(s.then) || hasConditionals(s.else) || hasConditionals(s.try) || hasConditionals(s.catch) || hasConditionals(s.finally));

function templateInfo(t: Template) {
  const cps = t.journey.checkpoints ?? [];
  return {
    valid: true, journey_name: t.journey.name, project_id: t.journey.project_id, checkpoint_count: cps.length,
    total_steps: cps.reduce((n, c) => n + countSteps(c.steps), 0), has_config: t.journey.config !== undefined, variable_count: t.journey.variables?.length ?? 0,
    checkpoints: cps.map((c, i) => ({ name: c.name, position: c.position ?? i + 1, step_count: countSteps(c.steps), has_conditionals: hasConditionals(c.steps) })),
  };
}

const joinArgs = (args: unknown[] = []) => args.map((x) => quoteArg(String(x))).join(' ');

/** The CLI's generate-commands: the template as the command lines a shell script would run. */
function templateCommands(t: Template): string[] {
  const out = [`# Create journey: ${t.journey.name}`, `api-cli create-journey ${String(t.journey.project_id)} ${quoteArg(String(t.journey.name))}`, 'JOURNEY_ID=$LAST_ID  # Capture from response', ''];
  const steps = (list: TemplateStep[] = [], indent = ''): void => {
    for (const s of list) {
      if (s.command === 'conditional' && s.condition?.command) {
        out.push(`${indent}# Conditional block`, `${indent}if api-cli ${s.condition.command} ${joinArgs(s.condition.args)} --output json | jq -e '.success' > /dev/null; then`);
        steps(s.then, `${indent}  `);
        if (s.else?.length) {
          out.push(`${indent}else`);
          steps(s.else, `${indent}  `);
        }
        out.push(`${indent}fi`);
      } else if (s.command === 'try-catch') {
        out.push(`${indent}# Try-catch block`, `${indent}set +e  # Allow errors`);
        steps(s.try, indent);
        out.push(`${indent}if [ $? -ne 0 ]; then`);
        steps(s.catch, `${indent}  `);
        out.push(`${indent}fi`);
        steps(s.finally, indent);
        out.push(`${indent}set -e  # Re-enable error handling`);
      } else {
        if (s.description) out.push(`${indent}# ${s.description}`);
        const options = Object.entries(s.options ?? {}).map(([k, v]) => ` --${k} ${quoteArg(String(v))}`).join('');
        out.push(`${indent}api-cli ${s.command}${s.args?.length ? ` ${joinArgs(s.args)}` : ''}${options}`);
      }
    }
  };
  (t.journey.checkpoints ?? []).forEach((c, i) => {
    out.push(`# Checkpoint ${c.position ?? i + 1}: ${c.name}`, `api-cli create-checkpoint $JOURNEY_ID ${quoteArg(String(c.name))} ${c.position ?? i + 1}`, 'CHECKPOINT_ID=$LAST_ID', 'export VIRTUOSO_SESSION_ID=$CHECKPOINT_ID', '');
    steps(c.steps);
    out.push('');
  });
  return out;
}

function definitionProblems(file: string, err: unknown): (DefinitionProblem & { file: string })[] {
  if (!(err instanceof AppError) || (err.status !== 400 && err.status !== 422)) throw err;
  const details = Array.isArray(err.details) ? (err.details as DefinitionProblem[]) : [{ path: '', message: err.message }];
  return details.map((d) => ({ file, ...d }));
}

export const TEST_FILE_COMMANDS: readonly Command[] = [
  def('run-test', [p('file', false)], false, async (ctx, { file }, fl) => {
    const projectName = typeof fl['project-name'] === 'string' ? fl['project-name'] : undefined;
    const { text, def: d } = definitionOf(ctx, file ?? '-', 'run-test', { projectName });
    if (fl['dry-run'] === true) return noted(dryRunView(file ?? '-', d), d.notes);
    const run = await ports(ctx).queue(text, { execute: fl.execute === true, variables: {}, projectName });
    const notes = [...d.notes, ...(fl.execute === true ? [] : ['built without executing it, as run-test does without --execute (the run ends as built)'])];
    return noted({ format: d.format, ...queued(file ?? '-', run) }, notes);
  }, { 'dry-run': flag('boolean'), execute: flag('boolean'), 'project-name': flag('text') }, (ctx, { file }, fl) => {
    definitionOf(ctx, file ?? '-', 'run-test', { projectName: typeof fl['project-name'] === 'string' ? fl['project-name'] : undefined });
  }),
  def('yaml validate', [p('files', true, true)], false, async (ctx, { files }, fl) => {
    // Every file first: one that was not sent is refused as such, not as an invalid definition.
    const texts = expandFiles(ctx, files).map((file) => [file, inputFile(ctx, file, 'yaml validate', POST_ALTERNATIVE)] as const);
    const results = [];
    const problems: (DefinitionProblem & { file: string })[] = [];
    for (const [file, text] of texts) {
      try {
        const d = parseDefinition(text);
        if (fl.strict === true && d.notes.length) problems.push(...d.notes.map((message) => ({ file, path: '', message: `(--strict) ${message}` })));
        results.push({ file, valid: !(fl.strict === true && d.notes.length), format: d.format, name: d.name, steps: d.totalSteps, ...(d.notes.length ? { notes: d.notes } : {}) });
      } catch (err) {
        problems.push(...definitionProblems(file, err));
        results.push({ file, valid: false });
      }
    }
    const invalid = results.filter((r) => !r.valid);
    if (invalid.length) {
      const first = problems[0];
      throw unprocessable(`${invalid.length} of ${results.length} file(s) are not valid test definitions; the first problem: ${first.file}${first.path ? ` ${first.path}` : ''}: ${first.message}`, problems);
    }
    return { status: 'valid', files: results };
  }, { strict: flag('boolean') }),
  def('yaml compile', [p('file')], false, async (ctx, { file }, fl) => {
    const { def: d } = definitionOf(ctx, file, 'yaml compile');
    const commands = d.goals.flatMap((g) => g.journeys.flatMap((j) => j.checkpoints.flatMap((c) => c.steps.map((s) => stepCommandLine(s.command, s.args)))));
    return noted({ file, format: d.format, name: d.name, steps: d.totalSteps, yaml: yaml().stringify(d.document), definition: d.document, ...(fl.output === 'commands' ? { commands } : {}) }, d.notes);
  }, { output: flag('text', 'o') }),
  def('yaml convert', [p('source')], false, async (ctx, { source }) => {
    const isFile = Object.hasOwn(ctx.files ?? {}, source) || !/^(cp_|checkpoint_)?\d+$/.test(source);
    if (isFile) {
      const { def: d } = definitionOf(ctx, source, 'yaml convert');
      return noted({ file: source, format: d.format, name: d.name, yaml: yaml().stringify(d.document), definition: d.document }, d.notes);
    }
    const checkpointId = id(source, 'checkpointId');
    const cp = await ctx.api.item<{ id?: number; title?: string; steps?: StoredStep[] }>('GET', `/testcases/${checkpointId}`);
    const notes: string[] = [];
    const steps = (cp.steps ?? []).flatMap((s, i) => {
      const form = shortForm(s);
      if (!form) notes.push(`step ${i + 1} (${s.action ?? 'no action'}) has no short form and is left out`);
      return form ? [form] : [];
    });
    return noted({ checkpoint_id: String(checkpointId), name: cp.title, steps: steps.length, yaml: yaml().stringify({ steps }) }, notes);
  }),
  def('yaml run', [p('files', true, true)], false, async (ctx, { files }, fl) => {
    const variables = { ...pairs(fl.env, 'env'), ...pairs(fl.var, 'var') };
    const notes: string[] = [];
    if (fl.env !== undefined) notes.push('--env values are used as variables, as --var (a test definition has no separate environment)');
    if (fl.parallel !== undefined) notes.push('--parallel is accepted: test runs are built and executed in parallel anyway');
    if (typeof fl.output === 'string') notes.push(`-o ${fl.output}: each run's report is at GET /test-runs/{id}/report?format=json|junit`);
    const runs = [];
    for (const file of expandFiles(ctx, files)) {
      const { text, def: d } = definitionOf(ctx, file, 'yaml run', { variables });
      notes.push(...d.notes.map((n) => `${file}: ${n}`));
      runs.push(queued(file, await ports(ctx).queue(text, { execute: true, variables })));
    }
    return noted({ status: 'queued', runs }, notes);
  }, { var: flag('pairs'), env: flag('pairs'), parallel: flag('int'), output: flag('text', 'o') }, (ctx, { files }, fl) => {
    const variables = { ...pairs(fl.env, 'env'), ...pairs(fl.var, 'var') };
    for (const file of expandFiles(ctx, files)) definitionOf(ctx, file, 'yaml run', { variables });
  }),
  def('yaml generate', [{ name: 'prompt', required: true, type: 'text', variadic: true }], false, async (_ctx, { prompt }, fl) => {
    const template = typeof fl.template === 'string' ? fl.template : undefined;
    if (template !== undefined && !Object.hasOwn(TEMPLATES, template)) throw unprocessable(`unknown template '${template}'; templates: ${Object.keys(TEMPLATES).join(', ')}`);
    const g = generated(prompt, template);
    return noted({ template: g.template, yaml: g.yaml, definition: parseDefinition(g.yaml).document }, ['a starting point from a fixed template (as the CLI generated it): adjust the selectors, the URL and the project']);
  }, { template: flag('text'), strict: flag('boolean') }),
  def('yaml detect', [p('file')], false, async (ctx, { file }) => {
    const text = inputFile(ctx, file, 'yaml detect', POST_ALTERNATIVE);
    let data: unknown;
    try {
      assertYamlBounds(text);
      data = yaml().parse(text, { maxAliasCount: 100 });
    } catch (err) {
      return { file, format: 'unknown', supported: false, reason: `not valid YAML or JSON: ${(err as Error).message}` };
    }
    const format: Format = detectFormat(data);
    return { file, format, description: FORMAT_DESCRIPTIONS[format], supported: format !== 'template', ...(format === 'template' ? { use: 'load-template, generate-commands' } : { use: 'POST /test-runs, run-test, yaml run' }) };
  }, { output: flag('text', 'o'), verbose: flag('boolean', 'v') }),
  def('load-template', [p('file')], false, async (ctx, { file }) => {
    const t = readTemplate(inputFile(ctx, file, 'load-template'), file);
    const problem = templateProblem(t);
    if (problem) throw unprocessable(`template validation failed: ${problem}`, [{ path: '/journey', flag: file, message: problem }]);
    return templateInfo(t);
  }),
  def('generate-commands', [p('file')], false, async (ctx, { file }, fl) => {
    const t = readTemplate(inputFile(ctx, file, 'generate-commands'), file);
    const commands = templateCommands(t);
    if (fl.script !== true) return { file, commands };
    const exports = (t.journey.variables ?? []).map((v) => `export ${v.name}=${quoteArg(String(v.value))}`);
    return { file, script: ['#!/bin/bash', `# Generated from: ${file}`, `# Journey: ${t.journey.name}`, '', ...exports, '', ...commands].join('\n') };
  }, { script: flag('boolean') }),
  def('get-templates', [p('directory', false)], false, async (ctx, { directory }) => {
    const dir = (directory ?? './examples').replace(/^\.\//, '').replace(/\/$/, '');
    const names = Object.keys(ctx.files ?? {});
    if (!names.length) {
      throw unprocessable(`get-templates lists the templates in a directory on your machine ('${directory ?? './examples'}'), which this service cannot read over HTTPS: send them in the request's "files" (name → content)`, [
        { path: '/files', flag: directory ?? './examples', message: 'no files were sent' },
      ]);
    }
    const inDir = names.filter((n) => /\.ya?ml$/i.test(n) && (n.replace(/^\.\//, '').startsWith(`${dir}/`) || !n.includes('/')));
    return inDir.sort().flatMap((name) => {
      try {
        const t = readTemplate(ctx.files![name], name);
        return [{ file: name.split('/').at(-1), path: name, name: t.journey.name, description: t.journey.description ?? '', checkpoints: t.journey.checkpoints?.length ?? 0, steps: (t.journey.checkpoints ?? []).reduce((n, c) => n + countSteps(c.steps), 0) }];
      } catch {
        return []; // not a template: skipped, as the CLI did
      }
    });
  }),
];
