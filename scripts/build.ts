/**
 * Bundles every capability of shared/infra.ts with esbuild:
 * `functions/<bundle>/index.ts` → `dist/<bundle>/index.js` (+ `index.js.map` and a `package.json`
 * that lists only what stays external), ready to deploy as the function's source directory.
 *
 *   npm run build                 every bundle
 *   npm run build -- webhook      only the named bundles
 *
 * The esbuild pitfalls with our libraries (docs: LOCAL_STACK.md, "esbuild pitfalls"):
 * 1. `@google-cloud/functions-framework` stays external, or the framework's CLI cannot find the
 *    function registered inside the bundle's own copy of it.
 * 2. `@google-cloud/tasks` loads JSON at run time through `getJSON(path.join(dirname, ...))`;
 *    `tasksStaticJson` below rewrites those calls into static `require`s that esbuild inlines.
 * 3. CommonJS output: ESM bundles break on dynamic `require` and `__dirname` in google-gax/grpc-js.
 * 4. `@google-cloud/pubsub` 6 loads two static protobuf modules (its own and `pubsub-api`'s, 2.5 MiB
 *    together, on every cold start) only to re-export them as `protos`, which nothing here reads at
 *    run time; `unreadProtosExport` leaves them out of the bundle.
 * Not minified: minified bundles start slower (LOCAL_STACK.md, cold start).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build, formatMessages, type Plugin } from 'esbuild';
import { functions } from '../shared/infra';

export const ROOT = resolve(__dirname, '..');
export const DIST_DIR = join(ROOT, 'dist');

/** Packages left out of every bundle and installed beside it from its package.json (pitfall 1). */
export const EXTERNALS = ['@google-cloud/functions-framework'] as const;

export interface BundleResult {
  bundle: string;
  /** Absolute path of the bundle's index.js. */
  outfile: string;
  /** Size of index.js in bytes (the source map is not counted). */
  bytes: number;
}

interface RootPackage {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

function rootPackage(): RootPackage {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as RootPackage;
}

/** The distinct bundles declared in shared/infra.ts, in declaration order. */
export function bundleNames(): string[] {
  return [...new Set(functions.map((f) => f.bundle as string))];
}

/** The entry points (function names) a bundle exports. */
export function entryPointsOf(bundle: string): string[] {
  return functions.filter((f) => f.bundle === bundle).map((f) => f.name as string);
}

/** `dependencies` for a bundle's package.json: the externals, at the root package.json's exact versions. */
export function externalDependencies(): Record<string, string> {
  const deps = rootPackage().dependencies ?? {};
  const out: Record<string, string> = {};
  for (const name of EXTERNALS) {
    const version = deps[name];
    if (!version) throw new Error(`External package ${name} is not in the root package.json "dependencies"`);
    out[name] = version;
  }
  return out;
}

// `(0, _jsonHelper.getJSON)(_path["default"].join(dirname, 'a', 'b'))` in the CommonJS build and
// `getJSON(path.join(dirname, 'a', 'b'))` in the ESM build; the arguments are string literals.
const GET_JSON_CALL =
  /(?:\(0,\s*)?(?:[\w$]+\.)?getJSON\)?\(\s*[\w$]+(?:\["default"\]|\.default)?\.join\(\s*dirname((?:\s*,\s*(?:'[^']*'|"[^"]*"))+)\s*\)\s*\)/g;
const STRING_LITERAL = /'([^']*)'|"([^"]*)"/g;
const TASKS_CLIENT = /[\\/]@google-cloud[\\/]tasks[\\/]build[\\/](?:cjs|esm)[\\/]src[\\/][^\\/]+[\\/]cloud_tasks_client\.c?js$/;

/**
 * Pitfall 2: `@google-cloud/tasks` 6.x reads `cloud_tasks_client_config.json`, `protos/protos.json`
 * and its `package.json` at run time, relative to its own directory, which does not exist beside a
 * bundle. Each such call becomes a static `require("./relative.json")` that esbuild inlines. Fails
 * the build, naming the file, if the library stops matching (better than a bundle that dies on load).
 */
export function tasksStaticJson(): Plugin {
  return {
    name: 'google-cloud-tasks-static-json',
    setup(b) {
      b.onLoad({ filter: TASKS_CLIENT }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        const dir = dirname(args.path);
        let rewritten = 0;
        let contents = source.replace(GET_JSON_CALL, (_call, argList: string) => {
          const parts = [...argList.matchAll(STRING_LITERAL)].map((m) => m[1] ?? m[2]);
          const target = join(dir, ...parts);
          if (!existsSync(target)) throw new Error(`@google-cloud/tasks: ${target} (loaded by ${args.path}) does not exist`);
          let rel = relative(dir, target).split(sep).join('/');
          if (!rel.startsWith('.')) rel = `./${rel}`;
          rewritten++;
          return `require(${JSON.stringify(rel)})`;
        });
        if (rewritten === 0 || /getJSON\)?\(/.test(contents)) {
          throw new Error(
            `@google-cloud/tasks: ${args.path} no longer loads its JSON the way scripts/build.ts expects ` +
              '(getJSON(path.join(dirname, ...))); update the tasksStaticJson plugin',
          );
        }
        // The ESM build derives `dirname` from import.meta.url, which is empty in a CommonJS bundle.
        contents = contents.replace(/fileURLToPath\(import\.meta\.url\)/g, '__filename');
        return { contents, loader: 'js', resolveDir: dir };
      });
    },
  };
}

// The generated index of a Google client package: `const protos = require("../protos/protos");`
// then `exports.protos = protos;`. Not `firestore-api`: Firestore copies every export of it when it
// loads (Object.assign), and its serializer needs those protos anyway.
const PROTOS_INDEX = /[\\/]@google-cloud[\\/](?:pubsub-api|pubsub)[\\/]build[\\/]src[\\/]index\.js$/;
const PROTOS_EXPORT = /const protos = require\("\.\.\/protos\/protos"\);\s*exports\.protos = protos;/;

/**
 * Pitfall 4: Pub/Sub's index modules require their static protobuf module (the generated
 * `protos.js`, megabytes of code) just to re-export it as `protos`, a namespace of message classes
 * for callers that build raw requests. The clients encode through `protos.json`, and our code
 * reads `protos` only as types. The re-export becomes a getter that throws a clear error, so the
 * module is neither bundled nor evaluated. Fails the build if a package stops matching.
 */
export function unreadProtosExport(): Plugin {
  return {
    name: 'google-cloud-unread-protos-export',
    setup(b) {
      b.onLoad({ filter: PROTOS_INDEX }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        if (!PROTOS_EXPORT.test(source)) {
          throw new Error(`${args.path} no longer re-exports its protos the way scripts/build.ts expects; update the unreadProtosExport plugin`);
        }
        const contents = source.replace(
          PROTOS_EXPORT,
          'Object.defineProperty(exports, "protos", { enumerable: true, get() { ' +
            `throw new Error(${JSON.stringify(`${relative(ROOT, args.path)}: the protos namespace is left out of this bundle (scripts/build.ts, unreadProtosExport)`)}); } });`,
        );
        return { contents, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

export interface EntryBuild {
  /** Names the bundle (and its package.json). */
  name: string;
  /** The TypeScript (or JavaScript) entry file. */
  entry: string;
  /** Directory that receives index.js, index.js.map and package.json. */
  outdir: string;
}

/** Bundles one entry file the way every function bundle is built. */
export async function buildEntry({ name, entry, outdir }: EntryBuild): Promise<BundleResult> {
  if (!existsSync(entry)) throw new Error(`Bundle ${name}: entry file ${entry} does not exist`);
  const outfile = join(outdir, 'index.js');
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: false,
    sourcemap: 'linked',
    sourcesContent: false,
    external: [...EXTERNALS],
    plugins: [tasksStaticJson(), unreadProtosExport()],
    write: false,
    logLevel: 'silent',
  });
  if (result.warnings.length) {
    const text = await formatMessages(result.warnings, { kind: 'warning', color: false });
    console.warn(`Bundle ${name}: ${result.warnings.length} esbuild warning(s):\n${text.join('\n')}`);
  }
  // Each file is written beside its place and renamed over it, so a concurrent build or a test
  // copying the bundle never reads half a file.
  mkdirSync(outdir, { recursive: true });
  const staging = `${outdir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(staging, { recursive: true });
  const place = (file: string, contents: Uint8Array | string) => {
    writeFileSync(join(staging, file), contents);
    renameSync(join(staging, file), join(outdir, file));
  };
  const written = new Set<string>(['package.json']);
  try {
    for (const file of result.outputFiles) {
      const rel = relative(outdir, file.path);
      place(rel, file.contents);
      written.add(rel);
    }
    place('package.json', `${JSON.stringify(packageJson(name), null, 2)}\n`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  // Leftovers of an earlier build must not be deployed with this one.
  for (const stale of readdirSync(outdir)) if (!written.has(stale)) rmSync(join(outdir, stale), { recursive: true, force: true });
  return { bundle: name, outfile, bytes: statSync(outfile).size };
}

/** The bundle's package.json: what the deployment installs (only the externals). */
export function packageJson(name: string) {
  const root = rootPackage();
  return {
    name: `${root.name}-${name}`,
    version: root.version,
    private: true,
    description: `Bundled Cloud Functions entry points: ${name}`,
    main: 'index.js',
    engines: { node: '24' },
    dependencies: externalDependencies(),
  };
}

/** Builds the named bundles (all of shared/infra.ts when none are given) into dist/. */
export async function buildBundles(names?: string[]): Promise<BundleResult[]> {
  const known = bundleNames();
  const wanted = names?.length ? [...new Set(names)] : known;
  const unknown = wanted.filter((n) => !known.includes(n));
  if (unknown.length) throw new Error(`Unknown bundle(s): ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return Promise.all(
    wanted.map((bundle) =>
      buildEntry({ name: bundle, entry: join(ROOT, 'functions', bundle, 'index.ts'), outdir: join(DIST_DIR, bundle) }).catch(
        (err: Error) => {
          throw new Error(`Bundle ${bundle} failed: ${err.message}`);
        },
      ),
    ),
  );
}

export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}

/** Plain-text table; columns named in `right` are right-aligned (numbers). */
export function formatTable(header: string[], rows: string[][], right: readonly string[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (right.includes(header[i]) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(args: string[]): Promise<void> {
  const started = Date.now();
  const results = await buildBundles(args.filter((a) => !a.startsWith('-')));
  const rows = results.map((r) => [
    r.bundle,
    entryPointsOf(r.bundle).join(', '),
    String(r.bytes),
    humanBytes(r.bytes),
    relative(ROOT, r.outfile),
  ]);
  console.log(formatTable(['bundle', 'entry points', 'bytes', 'size', 'output'], rows, ['bytes', 'size']));
  // The OpenAPI document of the public functions, made from the same schemas (scripts/openapi.ts).
  const { writeOpenApi } = await import('./openapi');
  console.log(`\n${results.length} bundle(s) built in ${Date.now() - started} ms; OpenAPI document: ${relative(ROOT, writeOpenApi())}`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    console.error(`build failed: ${err.message}`);
    process.exit(1);
  });
}
