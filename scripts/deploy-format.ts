/**
 * A deploy plan (scripts/deploy-plan.ts) as a bash script that can be pasted as it is: one command
 * per line, lookups as `NAME=$(…)` and their values as `"${NAME}"`, values copied between services
 * as pipes, and what deploy.sh does on its own (run an update when a create finds the resource,
 * stop when a check fails) as comments. Pure.
 */
import type { PlanStep } from './deploy-plan';

const VARIABLE = /\$\{([A-Z_][A-Z0-9_]*)\}/g;
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX shell quoting of one literal word. */
export function shellQuote(arg: string): string {
  if (PLAIN.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * One argument as a shell word, with each `${NAME}` left for the shell to expand (in double quotes,
 * so a value with spaces stays one word) and everything else quoted literally.
 */
export function shellWord(arg: string): string {
  const parts: string[] = [];
  let last = 0;
  for (const m of arg.matchAll(VARIABLE)) {
    if (m.index > last) parts.push(shellQuote(arg.slice(last, m.index)));
    parts.push(`"\${${m[1]}}"`);
    last = m.index + m[0].length;
  }
  if (last < arg.length || !parts.length) parts.push(shellQuote(arg.slice(last)));
  return parts.join('');
}

export const shellJoin = (args: readonly string[]) => args.map(shellWord).join(' ');

/** The variables a step's commands use. */
export function variablesOf(step: PlanStep): string[] {
  const all = [step.args, step.update, step.stdinFrom, step.unlessSame, step.gate?.fix, step.find?.args].flatMap((a) => a ?? []).join('\n');
  return [...new Set([...all.matchAll(VARIABLE)].map((m) => m[1]))];
}

/** One step as the lines a person can paste. */
export function formatStep(s: PlanStep, n: number): string[] {
  const notes = [s.allowExists && 'may already exist', s.allowMissing && 'may already be gone', s.retries && `retried ${s.retries}×`].filter(Boolean);
  const lines = [`# [${n}] ${s.description}${notes.length ? ` [${notes.join(', ')}]` : ''}`];
  if (s.sets) lines.push(`${s.sets.name}=$(${shellJoin(s.args)})`);
  else if (s.find) {
    // Found by its display name: updated in place; else created.
    lines.push(`${s.find.name}=$(${shellJoin(s.find.args)})`, `if [ -n "\${${s.find.name}}" ]; then ${shellJoin(s.update!)}; else ${shellJoin(s.args)}; fi`);
    return lines;
  } else if (s.stdinFrom) lines.push(`${shellJoin(s.stdinFrom)} | ${shellJoin(s.args)}`);
  else lines.push(shellJoin(s.args));
  if (s.update) lines.push(`#   if it exists: ${shellJoin(s.update)}`);
  if (s.unlessSame) lines.push(`#   (deploy.sh skips it when ${shellJoin(s.unlessSame)} prints the same value)`);
  if (s.gate) {
    lines.push(`#   if it fails, ${s.gate.required ? 'add' : 'you may add'} ${s.gate.needs}:`, `#     printf '%s' "$VALUE" | ${shellJoin(s.gate.fix)}`);
  }
  return lines;
}

/** The plan as a bash script: a header, the files it reads, then every step. */
export function formatPlan(steps: readonly PlanStep[], header: { lines: readonly string[]; root: string; files: readonly string[] }): string {
  const lines = [
    ...header.lines.map((l) => `# ${l}`),
    '# Paste it into bash as it is. A `create` that finds the resource fails harmlessly; deploy.sh runs',
    '# the update shown under it instead, and stops before the functions if a check fails.',
    ...(header.files.length ? ['# Files it reads (written by this dry run):', ...header.files.map((f) => `#   ${f}`)] : []),
    `cd ${shellQuote(header.root)}`,
  ];
  steps.forEach((s, i) => lines.push('', ...formatStep(s, i + 1)));
  return `${lines.join('\n')}\n`;
}
