/**
 * Which functions a change needs deployed, for the delivery pipeline (cloudbuild.yaml):
 * `node --import tsx scripts/changed-functions.ts [--base REV]` prints their names, comma-separated
 * (nothing: no function changed), from `git diff --name-only REV HEAD` (REV default: HEAD~1);
 * `--public` keeps only the public HTTP ones (those the second region runs too).
 *
 * Decision, kept simple: a file under `functions/<bundle>/` changes that bundle's functions; a
 * file every bundle may include (shared/ but the client, package.json, package-lock.json,
 * tsconfig.json, scripts/build.ts) changes every function; tests, docs, the client, the other
 * scripts and CI files change none. When git cannot tell (no history, an unknown revision), every
 * function is deployed: deploying an unchanged function is harmless, missing a changed one is not.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as infra from '../shared/infra';

interface Fn {
  name: string;
  bundle: string;
}

/** Files whose change reaches every bundle. */
const EVERY_BUNDLE = [/^shared\/(?!client\/)/, /^package(-lock)?\.json$/, /^tsconfig\.json$/, /^scripts\/build\.ts$/];

export function changedFunctions(files: readonly string[], fns: readonly Fn[] = infra.functions): string[] {
  if (files.some((f) => EVERY_BUNDLE.some((re) => re.test(f)))) return fns.map((f) => f.name);
  const bundles = new Set(files.flatMap((f) => /^functions\/([^/]+)\//.exec(f)?.[1] ?? []));
  return fns.filter((f) => bundles.has(f.bundle)).map((f) => f.name);
}

/** The files changed since `base`, or undefined when git cannot tell. */
export function changedFiles(base: string, cwd: string): string[] | undefined {
  const r = spawnSync('git', ['diff', '--name-only', base, 'HEAD'], { cwd, encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

if (require.main === module) {
  let values: { base?: string; public: boolean };
  try {
    ({ values } = parseArgs({ options: { base: { type: 'string' }, public: { type: 'boolean', default: false } } }));
  } catch (err) {
    process.stderr.write(`changed-functions: ${(err as Error).message}\nusage: node --import tsx scripts/changed-functions.ts [--base REV] [--public]\n`);
    process.exit(2);
  }
  const base = values.base || 'HEAD~1';
  const files = changedFiles(base, process.cwd());
  const all = files ? changedFunctions(files) : infra.functions.map((f) => f.name);
  // --public: only those the second region runs too (the public HTTP functions), for its rollbacks.
  const isPublic = (name: string) => infra.functions.some((f) => f.name === name && f.trigger.kind === 'http' && f.trigger.public);
  const names = values.public ? all.filter(isPublic) : all;
  process.stderr.write(files ? `changed since ${base}: ${files.length} files → ${names.length ? names.join(', ') : 'no function'}\n` : `git cannot tell what changed since ${base}: every function\n`);
  process.stdout.write(`${names.join(',')}\n`);
}
