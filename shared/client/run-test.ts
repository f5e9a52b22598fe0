/**
 * `api-cli run-test <file | ->` (and `run`, and `wait <run id>`): submit a definition, wait for the
 * run with progress, write the reports, print a summary with the Virtuoso links, and exit with a
 * code a CI step can act on:
 *
 *   0 passed (or built, with --no-execute) · 1 tests failed · 2 error or cancelled (or refused,
 *   or the API unreachable) · 3 still running at --timeout · 130 interrupted, run left going
 *
 * The submission carries an Idempotency-Key derived from the definition, the options and the CI
 * run (GitHub Actions, GitLab CI, Jenkins, CircleCI, or API_CLI_RUN_ID), so a CI step that is
 * retried gets the run it already started instead of building the test again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import type { TestRun, TestRunReport } from './api-types';
import type { RunOptions } from './argv';
import { ApiError, type ApiClient, type OutputFormat } from './http';
import { elapsed, liveProgress, plainProgress, type Out } from './progress';

export interface Io {
  stdout: Out;
  stderr: Out & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where SIGINT and SIGTERM arrive (the process). */
  signals: NodeJS.EventEmitter;
}

export const EXIT = { passed: 0, failed: 1, error: 2, timeout: 3, interrupted: 130 } as const;

type Ending = 'passed' | 'failed' | 'built' | 'error' | 'cancelled' | 'timeout' | 'interrupted';

const FINAL = new Set(['built', 'passed', 'failed', 'error', 'cancelled']);

/** The CI run this process belongs to, when it runs in a known CI (a retried step has the same). */
export function ciRunId(env: NodeJS.ProcessEnv): string | undefined {
  if (env.API_CLI_RUN_ID) return `explicit:${env.API_CLI_RUN_ID}`;
  if (env.GITHUB_RUN_ID) return `github:${env.GITHUB_REPOSITORY ?? ''}:${env.GITHUB_RUN_ID}:${env.GITHUB_RUN_ATTEMPT ?? '1'}:${env.GITHUB_JOB ?? ''}`;
  if (env.CI_PIPELINE_ID) return `gitlab:${env.CI_PROJECT_ID ?? ''}:${env.CI_PIPELINE_ID}:${env.CI_JOB_NAME ?? ''}`;
  if (env.BUILD_TAG && env.JENKINS_URL) return `jenkins:${env.BUILD_TAG}`;
  if (env.CIRCLE_WORKFLOW_ID) return `circleci:${env.CIRCLE_WORKFLOW_ID}:${env.CIRCLE_JOB ?? ''}`;
  return undefined;
}

/**
 * The submission's Idempotency-Key: in CI, a digest of the CI run, the definition and the options
 * (a retried step repeats it exactly); elsewhere a fresh one per invocation (two runs by hand are
 * two runs), which still makes this process's own retries of the POST harmless.
 */
export function idempotencyKey(env: NodeJS.ProcessEnv, definition: string, options: Pick<RunOptions, 'variables' | 'execute' | 'callbackUrl'>): string {
  const ci = ciRunId(env);
  if (!ci) return `api-cli-${randomUUID()}`;
  const digest = createHash('sha256').update(ci).update('\0').update(definition).update('\0').update(JSON.stringify([options.variables, options.execute, options.callbackUrl ?? null])).digest('hex');
  return `api-cli-ci-${digest.slice(0, 48)}`;
}

function readDefinition(file: string, io: Io): Promise<string> {
  if (file !== '-') return Promise.resolve(readFileSync(resolve(io.cwd, file), 'utf8'));
  return new Promise((resolveText, reject) => {
    let text = '';
    io.stdin.setEncoding('utf8');
    io.stdin.on('data', (c: string) => (text += c));
    io.stdin.on('end', () => resolveText(text));
    io.stdin.on('error', reject);
  });
}

const exitOf = (ending: Ending): number =>
  ending === 'passed' || ending === 'built' ? EXIT.passed : ending === 'failed' ? EXIT.failed : ending === 'timeout' ? EXIT.timeout : ending === 'interrupted' ? EXIT.interrupted : EXIT.error;

/** Prints an API error the way every api-cli command does: its message on stderr. */
export function printError(io: Io, err: unknown, doing: string): void {
  if (err instanceof ApiError) {
    const where = err.status ? ` (HTTP ${err.status} ${err.code}${err.requestId ? `, request ${err.requestId}` : ''})` : '';
    io.stderr.write(`Error: ${doing}: ${err.message}${where}\n`);
    for (const d of Array.isArray(err.details) ? err.details.slice(0, 20) : []) {
      const item = d as { path?: string; message?: string; line?: number };
      if (item?.message) io.stderr.write(`  ${item.path ?? ''}${item.line ? ` (line ${item.line})` : ''}: ${item.message}\n`);
    }
  } else io.stderr.write(`Error: ${doing}: ${(err as Error).message}\n`);
}

export async function runTest(client: ApiClient, output: OutputFormat, options: RunOptions, io: Io): Promise<number> {
  const started = Date.now();
  let runId = options.runId;
  if (!runId) {
    let definition: string;
    try {
      definition = await readDefinition(options.file!, io);
    } catch (err) {
      io.stderr.write(`Error: cannot read ${options.file}: ${(err as Error).message}\n`);
      return EXIT.error;
    }
    const key = options.idempotencyKey ?? idempotencyKey(io.env, definition, options);
    let submitted: Awaited<ReturnType<ApiClient['submitTestRun']>>;
    try {
      submitted = await client.submitTestRun(
        {
          definition,
          ...(options.dryRun ? { dryRun: true } : {}),
          ...(options.execute ? {} : { execute: false }),
          ...(Object.keys(options.variables).length ? { variables: options.variables } : {}),
          ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}),
        },
        key,
      );
    } catch (err) {
      printError(io, err, `the test run was not accepted`);
      writeOutputs(options, { outcome: 'error', exitCode: EXIT.error });
      return EXIT.error;
    }
    if (submitted.plan) {
      io.stdout.write(output === 'human' ? planText(submitted.plan) : format(output, submitted.plan));
      return EXIT.passed;
    }
    const run = submitted.run!;
    runId = run.id;
    io.stderr.write(`${submitted.replayed ? 'Already submitted (same CI run and definition): following' : 'Submitted'} ${run.id} (${run.name})\n`);
    if (options.noWait) {
      io.stdout.write(output === 'human' ? `${run.id}\n` : format(output, run));
      writeOutputs(options, { runId: run.id, outcome: run.status, exitCode: 0 });
      return EXIT.passed;
    }
  }
  return follow(client, output, runId, options, io, started);
}

/** Waits for the run to end (or the timeout, or an interrupt), then reports. */
async function follow(client: ApiClient, output: OutputFormat, runId: string, options: RunOptions, io: Io, started: number): Promise<number> {
  const progress = io.stderr.isTTY ? liveProgress(io.stderr, started) : plainProgress(io.stderr, started);
  const deadline = options.timeoutSeconds ? started + options.timeoutSeconds * 1000 : Infinity;
  const interrupt = interrupts(io);
  let run: TestRun | undefined;
  let ending: Ending | undefined;
  let interval = options.intervalSeconds ? options.intervalSeconds * 1000 : 1000;
  try {
    while (!ending) {
      try {
        const next = await client.getTestRun(runId);
        // Back off while nothing changes (1 s → 5 s), and come back to 1 s when it does.
        if (!options.intervalSeconds) interval = run && next.updatedAt === run.updatedAt ? Math.min(5000, interval * 1.5) : 1000;
        run = next;
        progress.update(run);
        if (FINAL.has(run.status)) {
          ending = run.status as Ending;
          break;
        }
      } catch (err) {
        if (!(err instanceof ApiError) || !err.retryable) {
          progress.done();
          printError(io, err, `cannot follow run ${runId}`);
          writeOutputs(options, { runId, outcome: 'error', exitCode: EXIT.error });
          return EXIT.error;
        }
        // The client gave up retrying within its own deadline: keep trying until ours.
      }
      const wait = Math.min(interval, deadline - Date.now());
      if (wait <= 0) {
        ending = 'timeout';
        break;
      }
      const signal = await interrupt.sleep(wait);
      if (signal) ending = await onInterrupt(client, runId, options, io, progress, signal);
    }
  } finally {
    interrupt.stop();
  }
  if (ending === 'cancelled' && run?.status !== 'cancelled') {
    run = await client.getTestRun(runId).catch(() => run);
    if (run) progress.update(run);
  }
  progress.done();
  return finish(client, output, runId, run, ending, options, io, started);
}

/** Ctrl-C (or SIGTERM): cancel with --cancel-on-interrupt; on a terminal, ask; otherwise leave the run going. */
async function onInterrupt(client: ApiClient, runId: string, options: RunOptions, io: Io, progress: { pause(): void }, signal: string): Promise<Ending | undefined> {
  progress.pause();
  let cancel = options.cancelOnInterrupt;
  if (!cancel && io.stdin.isTTY && signal === 'SIGINT') cancel = await ask(io, `Cancel run ${runId} too? [y/N] `);
  if (!cancel) {
    io.stderr.write(`Stopped waiting; run ${runId} goes on (api-cli wait ${runId}).\n`);
    return 'interrupted';
  }
  try {
    await client.cancelTestRun(runId);
    io.stderr.write(`Cancelled run ${runId}.\n`);
  } catch (err) {
    // 409: it finished meanwhile; the run's own state is reported.
    if (!(err instanceof ApiError && err.status === 409)) printError(io, err, `cannot cancel run ${runId}`);
  }
  return 'cancelled';
}

function ask(io: Io, question: string): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const rl = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream, terminal: true });
    let answered = false;
    const done = (yes: boolean) => {
      if (answered) return;
      answered = true;
      rl.close();
      io.stderr.write('\n');
      resolveAnswer(yes);
    };
    // A second Ctrl-C at the question means "no, just stop".
    rl.on('SIGINT', () => done(false));
    rl.on('close', () => done(false));
    rl.question(question, (a) => done(/^y(es)?$/i.test(a.trim())));
  });
}

/** SIGINT/SIGTERM turned into a value an interruptible sleep returns. */
function interrupts(io: Io) {
  let pending: string | undefined;
  let wake: (() => void) | undefined;
  const on = (signal: string) => () => {
    pending = signal;
    wake?.();
  };
  const handlers = { SIGINT: on('SIGINT'), SIGTERM: on('SIGTERM') };
  for (const [s, h] of Object.entries(handlers)) io.signals.on(s, h);
  return {
    async sleep(ms: number): Promise<string | undefined> {
      if (!pending) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, ms);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        wake = undefined;
      }
      const s = pending;
      pending = undefined;
      return s;
    },
    stop() {
      for (const [s, h] of Object.entries(handlers)) io.signals.off(s, h);
    },
  };
}

async function finish(client: ApiClient, output: OutputFormat, runId: string, run: TestRun | undefined, ending: Ending, options: RunOptions, io: Io, started: number): Promise<number> {
  let report: TestRunReport | undefined;
  let junit: string | undefined;
  if (run?.report) {
    try {
      [report, junit] = await Promise.all([client.report(runId, 'json').then((t) => JSON.parse(t) as TestRunReport), options.junit ? client.report(runId, 'junit') : undefined]);
    } catch (err) {
      printError(io, err, `cannot fetch the report of run ${runId}`);
    }
  }
  const written: { junit?: string; json?: string } = {};
  try {
    if (options.junit) written.junit = writeFile(io, options.junit, junit ?? syntheticJunit(run, runId, ending));
    if (options.json) written.json = writeFile(io, options.json, `${JSON.stringify({ run: run ?? { id: runId }, outcome: ending, report: report ?? null }, null, 2)}\n`);
  } catch (err) {
    io.stderr.write(`Error: cannot write a report: ${(err as Error).message}\n`);
    return EXIT.error;
  }
  const code = exitOf(ending);
  io.stdout.write(output === 'human' ? summary(run, runId, ending, report, written, started, options) : format(output, output === 'ai' ? aiSummary(run, runId, ending, report, code) : { run, outcome: ending, exitCode: code, reports: written }));
  writeOutputs(options, { runId, outcome: ending, exitCode: code, ...written });
  return code;
}

function writeFile(io: Io, path: string, contents: string): string {
  const full = resolve(io.cwd, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, contents);
  return full;
}

/** Key=value lines for a CI system's step outputs (GitHub Actions' $GITHUB_OUTPUT format). */
function writeOutputs(options: RunOptions, o: { runId?: string; outcome: string; exitCode: number; junit?: string; json?: string }): void {
  if (!options.outputsFile) return;
  const lines = [`run-id=${o.runId ?? ''}`, `outcome=${o.outcome}`, `exit-code=${o.exitCode}`, `junit=${o.junit ?? ''}`, `json=${o.json ?? ''}`];
  appendFileSync(options.outputsFile, `${lines.join('\n')}\n`);
}

const xml = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** A run without a report (error, cancelled, timed out): one test case that says why, for the CI's test report. */
function syntheticJunit(run: TestRun | undefined, runId: string, ending: Ending): string {
  const name = xml(run?.name ?? runId);
  const why =
    ending === 'timeout' ? `still ${run?.status ?? 'running'} when api-cli stopped waiting (--timeout)` :
    ending === 'interrupted' ? `api-cli was interrupted while the run was ${run?.status ?? 'running'}` :
    run?.error?.message ?? `the run ended ${run?.status ?? ending}`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${name}" tests="1" failures="0" errors="1">`,
    `  <testsuite name="${name}" tests="1" failures="0" errors="1">`,
    `    <testcase name="test run ${xml(runId)}" classname="api-cli">`,
    `      <error type="${xml(ending)}" message="${xml(why)}">${xml(why)}</error>`,
    '    </testcase>',
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

function format(output: OutputFormat, value: unknown): string {
  return output === 'yaml' ? stringify(value) : `${JSON.stringify(value, null, 2)}\n`;
}

function planText(plan: { name: string; totals: Record<string, number>; criticalPathCalls: number; operations: { at: string; operation: string }[] }): string {
  const totals = Object.entries(plan.totals).map(([k, v]) => `${v} ${k}`).join(', ');
  return [`Plan for ${plan.name}: ${totals}; critical path ${plan.criticalPathCalls} calls`, ...plan.operations.map((o) => `  ${o.at}: ${o.operation}`), ''].join('\n');
}

const MARK: Record<Ending, string> = { passed: '✔', built: '✔', failed: '✘', error: '✘', cancelled: '■', timeout: '⧗', interrupted: '■' };

function summary(run: TestRun | undefined, runId: string, ending: Ending, report: TestRunReport | undefined, written: { junit?: string; json?: string }, started: number, options: RunOptions): string {
  const lines = [`${MARK[ending]} ${run?.name ?? runId}: ${ending === 'timeout' ? `still ${run?.status ?? 'unknown'} after ${options.timeoutSeconds} s (timeout)` : ending} (${runId}, ${elapsed(Date.now() - started)})`];
  if (run?.error) lines.push(`  ${run.error.code}: ${run.error.message}`);
  if (report) {
    const c = report.counts;
    lines.push(`  checkpoints: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}${c.unknown ? `, ${c.unknown} unknown` : ''} (${c.journeys} journeys, ${c.steps} steps)`);
    for (const g of report.goals) {
      for (const j of g.journeys) {
        for (const cp of j.checkpoints.filter((x) => x.outcome === 'failed' || x.outcome === 'unknown')) {
          lines.push(`  ✘ ${g.name} / ${j.name} / ${cp.name}: ${cp.failure?.message ?? cp.error ?? cp.outcome}${cp.failure?.stepLabel ? ` (step: ${cp.failure.stepLabel})` : ''}`);
          if (cp.link) lines.push(`    ${cp.link}`);
        }
      }
    }
  }
  const v = run?.virtuoso;
  if (v?.projectUrl) lines.push(`  project: ${v.projectUrl}`);
  for (const g of v?.goals ?? []) if (g.goalUrl) lines.push(`  goal ${g.name}: ${g.goalUrl}${g.jobId ? ` (job ${g.jobId})` : ''}`);
  if (written.junit) lines.push(`  JUnit: ${written.junit}`);
  if (written.json) lines.push(`  JSON: ${written.json}`);
  if (ending === 'timeout' || ending === 'interrupted') lines.push(`  The run goes on: api-cli wait ${runId}`);
  return `${lines.join('\n')}\n`;
}

function aiSummary(run: TestRun | undefined, runId: string, ending: Ending, report: TestRunReport | undefined, exitCode: number) {
  return {
    command: 'run-test',
    result: ending,
    exit_code: exitCode,
    message: `${run?.name ?? runId}: ${ending}${run?.error ? ` (${run.error.message})` : ''}`,
    run_id: runId,
    counts: report?.counts,
    links: { project: run?.virtuoso?.projectUrl, goals: run?.virtuoso?.goals.map((g) => g.goalUrl).filter(Boolean) },
    next_steps: ending === 'timeout' || ending === 'interrupted' ? [`api-cli wait ${runId}`] : ending === 'failed' ? [`open the failing checkpoints' links in Virtuoso`] : [],
  };
}
