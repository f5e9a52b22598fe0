/**
 * `./deploy.sh`: converges a Google Cloud project to shared/infra.ts through the plan of
 * scripts/deploy-plan.ts, prints that plan as a pasteable script, or rolls a function back.
 *
 *   ./deploy.sh [--project P] [--region R] [--project-number N] [--firestore-location L]
 *               [--domain D [--webhook-senders CIDR,…]] [--secondary-region R2]
 *               [--only NAME]... [--functions-only] [--dry-run]
 *   ./deploy.sh --rollback FUNCTION [--to REVISION | --to latest] [--project P] [--region R] [--dry-run]
 *
 * --project   default: $GOOGLE_CLOUD_PROJECT, else `gcloud config get-value project`
 * --region    default: `gcloud config get-value functions/region`, else us-central1
 * --only      a function (or a bundle: all its functions), repeatable or comma-separated; positional
 *             names mean the same. Deploys it and what it needs; nothing else changes.
 * --domain    the edge: a global HTTPS load balancer for this domain, Cloud Armor, CDN on health
 *             (default $EDGE_DOMAIN; none: no edge); --webhook-senders ($EDGE_WEBHOOK_SENDERS) the
 *             Virtuoso webhook sender's addresses, the only ones webhook intake then answers
 * --secondary-region  multi-region mode (default $SECONDARY_REGION): the public functions in both
 *             regions behind the load balancer, Firestore multi-region, secrets in both regions
 * --functions-only    only the build and the function deploys (the delivery pipeline, cloudbuild.yaml)
 * --dry-run   print the plan (nothing runs; no gcloud needed); the files it reads are written to
 *             .local/deploy/, where a real run writes them too
 * --rollback  send all of a function's traffic to an earlier revision (no rebuild): by default the
 *             one before the latest; `--to latest` undoes it (the next deploy does too)
 *
 * Environment: GCLOUD (gcloud binary, default `gcloud`), APP_VERSION (default: the git commit),
 * ALERT_NOTIFICATION_CHANNEL (an existing channel's resource name) or ALERT_EMAIL (deploy makes an
 * e-mail channel): where the alert policies notify; neither: they notify nobody.
 * Exit status: 0 done, 1 a step failed, 2 bad usage, 3 secret values to add first (listed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as infra from '../shared/infra';
import { formatPlan, shellJoin } from './deploy-format';
import { defaultInfra, deployPlan, planFiles, rollbackPlan, type PlanOptions, type PlanStep } from './deploy-plan';
import { edgeNote } from './deploy-plan-edge';
import { regionsNote } from './deploy-plan-regions';

const ROOT = resolve(__dirname, '..');
/** Where the files the plan reads are written, dry run or not, so a printed plan can be pasted. */
export const FILES_DIR = join(ROOT, '.local', 'deploy');
const GCLOUD = process.env.GCLOUD || 'gcloud';
// Cloud Armor answers a rule create on a taken priority with its own words (not ALREADY_EXISTS);
// "same priorit…" covers the forms seen for policy rules (unverified against a live project).
const EXISTS = /already exists|ALREADY_EXISTS|you already own it|same priorit/i;
const MISSING = /not found|NOT_FOUND/i;

class UsageError extends Error {}

interface Options {
  project: string;
  region: string;
  projectNumber?: string;
  firestoreLocation?: string;
  domain?: string;
  webhookSenders: string[];
  secondaryRegion?: string;
  functionsOnly: boolean;
  only: string[];
  dryRun: boolean;
  rollback?: string;
  to?: string;
}

function parse(argv: string[]): Options | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        project: { type: 'string' },
        region: { type: 'string' },
        'project-number': { type: 'string' },
        'firestore-location': { type: 'string' },
        domain: { type: 'string' },
        'webhook-senders': { type: 'string' },
        'secondary-region': { type: 'string' },
        'functions-only': { type: 'boolean', default: false },
        only: { type: 'string', multiple: true },
        'dry-run': { type: 'boolean', default: false },
        rollback: { type: 'string' },
        to: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return 'help';
  const only = [...(v.only ?? []), ...positionals].flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (v.rollback && only.length) throw new UsageError('--rollback takes one function; --only is for deploys');
  if (v.to && !v.rollback) throw new UsageError('--to goes with --rollback');
  const domain = v.domain || process.env.EDGE_DOMAIN || undefined;
  const senders = (v['webhook-senders'] ?? process.env.EDGE_WEBHOOK_SENDERS ?? '').split(/[\s,]+/).filter(Boolean);
  if (senders.length && !domain) throw new UsageError('--webhook-senders goes with --domain (the allow-list is a Cloud Armor rule of the edge)');
  const project = v.project || process.env.GOOGLE_CLOUD_PROJECT || gcloudConfig('project');
  if (!project) throw new UsageError("no project: pass --project P, set GOOGLE_CLOUD_PROJECT, or run 'gcloud config set project P'");
  return {
    project,
    region: v.region || gcloudConfig('functions/region') || 'us-central1',
    projectNumber: v['project-number'],
    firestoreLocation: v['firestore-location'],
    domain,
    webhookSenders: senders,
    secondaryRegion: v['secondary-region'] || process.env.SECONDARY_REGION || undefined,
    functionsOnly: Boolean(v['functions-only']),
    only,
    dryRun: Boolean(v['dry-run']),
    rollback: v.rollback,
    to: v.to,
  };
}

/** A gcloud configuration value, or '' (no gcloud, not set). */
function gcloudConfig(key: string): string {
  const r = spawnSync(GCLOUD, ['config', 'get-value', key], { encoding: 'utf8', env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } });
  return r.status === 0 ? r.stdout.trim() : '';
}

function appVersion(): string {
  if (process.env.APP_VERSION) return process.env.APP_VERSION;
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return 'dev';
  const dirty = spawnSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  return `${head.stdout.trim()}${dirty ? '-dirty' : ''}`;
}

/** Defence in depth: fail if a secret's local value (its env var, as shared/secrets.ts reads) shows up in the plan. */
export function assertNoSecretValues(steps: readonly PlanStep[], env: NodeJS.ProcessEnv): void {
  const text = JSON.stringify(steps);
  for (const secret of Object.values(infra.secrets)) {
    for (const v of (env[infra.secretEnvName(secret)] ?? '').split(/[\s,]+/)) {
      if (v.length >= 8 && text.includes(v)) throw new Error(`the plan contains the value of secret ${secret}; refusing to print it`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running commands.

interface Result {
  code: number;
  out: string;
}

/**
 * Runs one argument vector (`gcloud` is GCLOUD). `show`: its output is echoed as it comes (never for
 * commands that print secret values); it is captured either way, for the ALREADY_EXISTS checks.
 */
function run(args: readonly string[], options: { show: boolean; stdin?: string }): Promise<Result> {
  const [cmd, ...rest] = args;
  const bin = cmd === 'gcloud' ? GCLOUD : cmd;
  return new Promise((resolvePromise) => {
    // stdin only for a command that is given input (a secret's value): a command that exits without
    // reading it would otherwise break the pipe (EPIPE), an 'error' on the stream that ended deploy.sh.
    const piped = options.stdin !== undefined;
    const child = spawn(bin, rest, { cwd: ROOT, env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' }, stdio: [piped ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    let stdout = '';
    const take = (echo: NodeJS.WriteStream, isStdout: boolean) => (d: Buffer) => {
      out += d.toString();
      if (isStdout) stdout += d.toString();
      if (options.show) echo.write(d);
    };
    child.stdout!.on('data', take(process.stdout, true));
    child.stderr!.on('data', take(process.stderr, false));
    child.on('error', (err) => resolvePromise({ code: 127, out: `${bin}: ${err.message}` }));
    child.on('close', (code) => resolvePromise({ code: code ?? 1, out: options.show ? out : stdout }));
    if (piped) {
      child.stdin!.on('error', () => {}); // the command's exit code says what happened
      child.stdin!.end(options.stdin);
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => process.stdout.write(`${line}\n`);

/** With retries (IAM on a just-created service account can fail until it propagates); never retries "already exists". */
async function runRetrying(args: readonly string[], retries: number): Promise<Result> {
  for (let attempt = 0; ; attempt++) {
    say(`+ ${shellJoin(args)}`);
    const r = await run(args, { show: true });
    if (r.code === 0 || attempt >= retries || EXISTS.test(r.out)) return r;
    say(`   (retrying in ${(attempt + 1) * 5} s, ${attempt + 1} of ${retries})`);
    await sleep((attempt + 1) * 5000);
  }
}

const substitute = (args: readonly string[], vars: ReadonlyMap<string, string>) =>
  args.map((a) =>
    a.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_whole, name: string) => {
      const v = vars.get(name);
      if (v === undefined) throw new Error(`\${${name}} is used before a lookup sets it`);
      return v;
    }),
  );

class StepFailed extends Error {}

interface Tally {
  ran: number;
  updated: number;
  already: number;
  missing: PlanStep[];
  optional: PlanStep[];
}

/** Runs a plan, step by step. Returns the exit status. */
export async function runPlan(steps: readonly PlanStep[], vars = new Map<string, string>()): Promise<number> {
  const t: Tally = { ran: 0, updated: 0, already: 0, missing: [], optional: [] };
  for (const [i, step] of steps.entries()) {
    if (!step.gate && t.missing.length) return stopForSecrets(t.missing);
    say(`\n== [${i + 1}/${steps.length}] ${step.description}`);
    try {
      await runStep(step, vars, t);
    } catch (err) {
      if (!(err instanceof StepFailed)) throw err;
      process.stderr.write(`deploy: step ${i + 1} failed: ${step.description}${err.message ? ` (${err.message})` : ''}\n`);
      return 1;
    }
  }
  if (t.missing.length) return stopForSecrets(t.missing);
  say(`\n== done: ${steps.length} steps (${t.ran} ran, ${t.updated} updated in place, ${t.already} already as wanted)`);
  for (const s of t.optional) say(`   optional: ${s.description.replace(/^check: /, '')} has no value; to add ${s.gate!.needs}:\n     printf '%s' "$VALUE" | ${shellJoin(s.gate!.fix)}`);
  return 0;
}

async function runStep(step: PlanStep, vars: Map<string, string>, t: Tally): Promise<void> {
  const args = substitute(step.args, vars);
  if (step.sets) {
    say(`+ ${step.sets.name}=$(${shellJoin(args)})`);
    const r = await run(args, { show: false });
    const value = r.out.trim();
    if (r.code !== 0 || !value) throw new StepFailed(`the lookup printed nothing${r.code ? ` and exited ${r.code}` : ''}`);
    vars.set(step.sets.name, value);
    say(`   ${step.sets.name}=${value}`);
    return;
  }
  if (step.stdinFrom) {
    // The value is piped, never shown: it can be a password.
    const from = substitute(step.stdinFrom, vars);
    say(`+ ${shellJoin(from)} | ${shellJoin(args)}`);
    const value = await run(from, { show: false });
    if (value.code !== 0 || !value.out.trim()) throw new StepFailed('reading the value failed');
    if (step.unlessSame) {
      const current = await run(substitute(step.unlessSame, vars), { show: false });
      if (current.code === 0 && current.out.trim() === value.out.trim()) {
        say('   unchanged');
        t.already++;
        return;
      }
    }
    const r = await run(args, { show: true, stdin: value.out });
    if (r.code !== 0) throw new StepFailed('');
    t.ran++;
    return;
  }
  if (step.gate) {
    say(`+ ${shellJoin(args)}`);
    const r = await run(args, { show: true });
    if (r.code === 0) t.already++;
    else (step.gate.required ? t.missing : t.optional).push({ ...step, gate: { ...step.gate, fix: substitute(step.gate.fix, vars) } });
    return;
  }
  if (step.find) {
    const find = substitute(step.find.args, vars);
    say(`+ ${step.find.name}=$(${shellJoin(find)})`);
    const found = await run(find, { show: false });
    if (found.code !== 0) throw new StepFailed(`looking for it failed (exit ${found.code})`);
    const name = found.out.trim().split('\n')[0].trim();
    if (name) {
      vars.set(step.find.name, name);
      say(`   exists (${name}): updating`);
      const u = await runRetrying(substitute(step.update!, vars), step.retries ?? 0);
      if (u.code !== 0) throw new StepFailed('the update failed');
      t.updated++;
      return;
    }
  }
  if (step.kind === 'build') {
    say(`+ ${shellJoin(args)}`);
    const r = spawnSync(args[0], args.slice(1), { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new StepFailed('the build failed');
    t.ran++;
    return;
  }
  const r = await runRetrying(args, step.retries ?? 0);
  if (r.code === 0) t.ran++;
  else if (step.allowExists && EXISTS.test(r.out)) {
    if (!step.update) {
      say('   exists: nothing to update');
      t.already++;
      return;
    }
    say('   exists: updating');
    const u = await runRetrying(substitute(step.update, vars), step.retries ?? 0);
    if (u.code !== 0) throw new StepFailed('the update failed');
    t.updated++;
  } else if (step.allowMissing && MISSING.test(r.out)) {
    say('   already absent');
    t.already++;
  } else throw new StepFailed('');
}

function stopForSecrets(missing: readonly PlanStep[]): number {
  const lines = [
    '',
    '== Stopped before deploying any function: these secrets have no value yet. Add each, then run ./deploy.sh again',
    '   (everything done so far is kept; the run continues from where it stopped):',
  ];
  for (const s of missing) {
    lines.push('', `   ${s.description.replace(/^check: /, '')}`, `   value: ${s.gate!.needs}`, `     printf '%s' "$VALUE" | ${shellJoin(s.gate!.fix)}`);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  return 3;
}

/** What the plan does about the edge, the regions and the pipeline mode, said before it. */
function planNotes(opts: Options): string[] {
  return [
    edgeNote({ edge: opts.domain ? { domain: opts.domain } : undefined, only: opts.only }),
    regionsNote({ region: opts.region, secondaryRegion: opts.secondaryRegion, firestoreLocation: opts.firestoreLocation }),
    ...(opts.functionsOnly ? ['functions only: the build and the function deploys (the delivery pipeline); nothing else changes'] : []),
  ];
}

// ---------------------------------------------------------------------------------------------

const USAGE = `usage: ./deploy.sh [--project P] [--region R] [--project-number N] [--firestore-location L]
                   [--domain D [--webhook-senders CIDR,…]] [--secondary-region R2] [--only NAME]... [--functions-only] [--dry-run]
       ./deploy.sh --rollback FUNCTION [--to REVISION | --to latest] [--project P] [--region R] [--dry-run]`;

export async function main(argv: string[]): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`deploy: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    say(USAGE);
    return 0;
  }
  let steps: PlanStep[];
  let files: { path: string; content: string }[] = [];
  try {
    if (opts.rollback) {
      steps = rollbackPlan({ projectId: opts.project, region: opts.region, fn: opts.rollback, to: opts.to });
    } else {
      const planOpts: PlanOptions = {
        projectId: opts.project, region: opts.region, projectNumber: opts.projectNumber, firestoreLocation: opts.firestoreLocation, only: opts.only,
        version: appVersion(), filesDir: FILES_DIR, secondaryRegion: opts.secondaryRegion, functionsOnly: opts.functionsOnly,
        alerts: { channel: process.env[infra.alertRouting.channelEnv] || undefined, email: process.env[infra.alertRouting.emailEnv] || undefined },
        ...(opts.domain ? { edge: { domain: opts.domain, webhookSenders: opts.webhookSenders } } : {}),
      };
      steps = deployPlan(planOpts);
      files = planFiles(planOpts, defaultInfra());
    }
    assertNoSecretValues(steps, process.env);
  } catch (err) {
    process.stderr.write(`deploy: ${(err as Error).message}\n`);
    return 2;
  }
  for (const f of files) {
    mkdirSync(join(f.path, '..'), { recursive: true });
    writeFileSync(f.path, f.content);
  }
  const what = opts.rollback ? `rollback of ${opts.rollback}` : opts.only.length ? `deploy of ${opts.only.join(', ')} and what it needs` : 'deploy of everything in shared/infra.ts';
  if (opts.dryRun) {
    const header = [
      `${what}: project ${opts.project}, region ${opts.region} (./deploy.sh --dry-run, ${new Date().toISOString()}).`,
      ...(opts.rollback ? [] : planNotes(opts)),
    ];
    process.stdout.write(formatPlan(steps, { lines: header, root: ROOT, files: files.map((f) => relative(ROOT, f.path)) }));
    return 0;
  }
  if (spawnSync(GCLOUD, ['--version'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write(`deploy: '${GCLOUD}' not found. Install the Google Cloud SDK and run 'gcloud auth login', or use --dry-run to print the plan.\n`);
    return 1;
  }
  say(`== ${what}: project ${opts.project}, region ${opts.region}, ${steps.length} steps`);
  if (!opts.rollback) for (const note of planNotes(opts)) say(`   ${note}`);
  return runPlan(steps);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`deploy: ${err.stack ?? err.message}\n`);
      process.exitCode = 1;
    },
  );
}
