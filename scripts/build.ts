/**
 * Bundles every capability of shared/infra.ts with esbuild:
 * `functions/<bundle>/index.ts` → `dist/<bundle>/index.js`, the heavy client libraries each in a
 * file of its own under `dist/<bundle>/chunks/` (see `lazyChunks`), every file with its source map
 * beside it, and a `package.json` that lists only what stays external: a self-contained directory,
 * ready to deploy as the function's source.
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
 *    run time; `unreadProtosExport` leaves them out of the bundle (firestore-api's too).
 * 5. `@google-cloud/firestore` 9 evaluates google-gax and firestore-api's clients when it is
 *    required, for re-exports a request never reads; `firestoreLazyApi` defers them to first use.
 * 6. google-gax evaluates three static protobuf modules to re-export them; `gaxLazyProtos` defers them.
 * 7. @grpc/proto-loader describes every protobuf type up front for gRPC reflection;
 *    `protoLoaderLazyDescriptors` describes one when it is read.
 *
 * Cold start (issue 14): V8 reads, scans and keeps the source of every file a process requires, so a
 * 9–17 MiB single file cost 119–320 ms and 40–55 MiB of RSS before the first request even when
 * none of its modules ran. Hence `lazyChunks` (a library's file is read when code first requires
 * it: the liveness probe and a 401 read none), and minified output (`keepNames`, so stack traces
 * keep function and class names; the source maps sit beside, never inline). The older finding that
 * minified bundles start slower (LOCAL_STACK.md) was about evaluating every library at start.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build, formatMessages, type BuildOptions, type Message, type Plugin } from 'esbuild';
import { functions } from '../shared/infra';

export const ROOT = resolve(__dirname, '..');
export const DIST_DIR = join(ROOT, 'dist');

/** Packages left out of every bundle and installed beside it from its package.json (pitfall 1). */
export const EXTERNALS = ['@google-cloud/functions-framework'] as const;

export interface BundleResult {
  bundle: string;
  /** Absolute path of the bundle's index.js. */
  outfile: string;
  /** Size of index.js in bytes (the source map is not counted): what every cold start reads. */
  bytes: number;
  /** Size of index.js and every chunk (source maps not counted): all a bundle may read. */
  totalBytes: number;
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
 * The plumbing every edit of library code below shares: a plugin that hands the source of each file
 * `filter` matches to `edit` (which throws, naming the plugin, when a file no longer reads as
 * expected; undefined leaves the file as published) and bundles what it returns in its place.
 */
function librarySourceEdit(name: string, filter: RegExp, edit: (source: string, path: string) => string | undefined): Plugin {
  return {
    name,
    setup(b) {
      b.onLoad({ filter }, async (args) => {
        const contents = edit(await readFile(args.path, 'utf8'), args.path);
        return contents === undefined ? undefined : { contents, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

/**
 * Pitfall 2: `@google-cloud/tasks` 6.x reads `cloud_tasks_client_config.json`, `protos/protos.json`
 * and its `package.json` at run time, relative to its own directory, which does not exist beside a
 * bundle. Each such call becomes a static `require("./relative.json")` that esbuild inlines. Fails
 * the build, naming the file, if the library stops matching (better than a bundle that dies on load).
 */
export function tasksStaticJson(): Plugin {
  return librarySourceEdit('google-cloud-tasks-static-json', TASKS_CLIENT, (source, path) => {
    const dir = dirname(path);
    let rewritten = 0;
    const contents = source.replace(GET_JSON_CALL, (_call, argList: string) => {
      const parts = [...argList.matchAll(STRING_LITERAL)].map((m) => m[1] ?? m[2]);
      const target = join(dir, ...parts);
      if (!existsSync(target)) throw new Error(`@google-cloud/tasks: ${target} (loaded by ${path}) does not exist`);
      let rel = relative(dir, target).split(sep).join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      rewritten++;
      return `require(${JSON.stringify(rel)})`;
    });
    if (rewritten === 0 || /getJSON\)?\(/.test(contents)) {
      throw new Error(
        `@google-cloud/tasks: ${path} no longer loads its JSON the way scripts/build.ts expects ` +
          '(getJSON(path.join(dirname, ...))); update the tasksStaticJson plugin',
      );
    }
    // The ESM build derives `dirname` from import.meta.url, which is empty in a CommonJS bundle.
    return contents.replace(/fileURLToPath\(import\.meta\.url\)/g, '__filename');
  });
}

// The generated index of a Google client package: `const protos = require("../protos/protos");`
// then `exports.protos = protos;`. Firestore's serializer encodes with its own smaller module
// (`firestore_v1_proto_api`), not with firestore-api's; `firestoreLazyApi` keeps Firestore's own
// index from reading this export when it loads.
const PROTOS_INDEX = /[\\/]@google-cloud[\\/](?:pubsub-api|pubsub|firestore-api|secret-manager)[\\/]build[\\/]src[\\/]index\.js$|[\\/]@google-cloud[\\/]tasks[\\/]build[\\/]cjs[\\/]src[\\/]index\.cjs$/;
// Cloud Tasks' index is compiled by Babel: `var protos = _interopRequireWildcard(require("../../protos/protos.cjs"));`.
const PROTOS_EXPORT = /(?:const protos = require\("\.\.\/protos\/protos"\)|var protos = _interopRequireWildcard\(require\("\.\.\/\.\.\/protos\/protos\.cjs"\)\));\s*exports\.protos = protos;/;

/**
 * Pitfall 4: the index modules of Pub/Sub, firestore-api, Secret Manager and Cloud Tasks require
 * their static protobuf module (the generated `protos.js`, megabytes of code) just to re-export it
 * as `protos`, a namespace of message classes for callers that build raw requests. The clients
 * encode through `protos.json`, and our code reads `protos` only as types. The re-export becomes a
 * getter that throws a clear error, so the module is neither bundled nor evaluated. Fails the
 * build if a package stops matching.
 */
export function unreadProtosExport(): Plugin {
  return librarySourceEdit('google-cloud-unread-protos-export', PROTOS_INDEX, (source, path) => {
    if (!PROTOS_EXPORT.test(source)) {
      throw new Error(`${path} no longer re-exports its protos the way scripts/build.ts expects; update the unreadProtosExport plugin`);
    }
    return source.replace(
      PROTOS_EXPORT,
      'Object.defineProperty(exports, "protos", { enumerable: true, get() { ' +
        `throw new Error(${JSON.stringify(`${relative(ROOT, path)}: the protos namespace is left out of this bundle (scripts/build.ts, unreadProtosExport)`)}); } });`,
    );
  });
}

// gax's index and fallback modules re-export three static protobuf modules (IAM, locations,
// long-running operations) that no client of ours reads: `const X = __importStar(require("../protos/x"));`
// then `exports.X = X;`.
const GAX_ENTRY = /[\\/]google-gax[\\/]build[\\/]src[\\/](?:index|fallback)\.js$/;
const GAX_PROTOS_EXPORT = /const (IamProtos|LocationProtos|operationsProtos) = __importStar\(require\("(\.\.\/protos\/\w+)"\)\);\s*exports\.\1 = \1;/g;

/**
 * Pitfall 6: google-gax evaluates its IAM, locations and operations protobuf modules (~35 ms of
 * CPU on the first request of any Google client, issue 14) only to re-export them. Each export
 * becomes a getter that requires its module on first read. Fails the build if gax stops matching.
 */
export function gaxLazyProtos(): Plugin {
  return librarySourceEdit('gax-lazy-protos', GAX_ENTRY, (source, path) => {
    const found = [...source.matchAll(GAX_PROTOS_EXPORT)].map((m) => m[1]);
    if (found.length !== 3) throw new Error(`${path} re-exports ${found.length} of gax's 3 protos modules the way scripts/build.ts expects; update the gaxLazyProtos plugin`);
    return source.replace(
      GAX_PROTOS_EXPORT,
      (_, name: string, module: string) => `Object.defineProperty(exports, "${name}", { enumerable: true, configurable: true, get: () => __importStar(require("${module}")) });`,
    );
  });
}

// @grpc/proto-loader's `createPackageDefinition` (proto-loader 0.8), as published: the whole
// root's file descriptors encoded up front, then every message and enum type described.
const PROTO_LOADER_INDEX = /[\\/]@grpc[\\/]proto-loader[\\/]build[\\/]src[\\/]index\.js$/;
const PROTO_LOADER_EDITS: readonly (readonly [string, string])[] = [
  [
    `    const descriptorList = root.toDescriptor('proto3').file;
    const bufferList = descriptorList.map(value => Buffer.from(descriptor.FileDescriptorProto.encode(value).finish()));`,
    `    let encoded;
    const bufferList = () => (encoded ??= root.toDescriptor('proto3').file.map(value => Buffer.from(descriptor.FileDescriptorProto.encode(value).finish())));`,
  ],
  [
    `    const messageDescriptor = message.toDescriptor('proto3');
    return {
        format: 'Protocol Buffer 3 DescriptorProto',
        type: messageDescriptor.$type.toObject(messageDescriptor, descriptorOptions),
        fileDescriptorProtos: fileDescriptors,
        serialize: createSerializer(message),
        deserialize: createDeserializer(message, options)
    };`,
    `    return describedLazily({
        format: 'Protocol Buffer 3 DescriptorProto',
        serialize: createSerializer(message),
        deserialize: createDeserializer(message, options)
    }, message, fileDescriptors);`,
  ],
  [
    `    const enumDescriptor = enumType.toDescriptor('proto3');
    return {
        format: 'Protocol Buffer 3 EnumDescriptorProto',
        type: enumDescriptor.$type.toObject(enumDescriptor, descriptorOptions),
        fileDescriptorProtos: fileDescriptors,
    };`,
    `    return describedLazily({ format: 'Protocol Buffer 3 EnumDescriptorProto' }, enumType, fileDescriptors);`,
  ],
];
const PROTO_LOADER_HELPER = `
function describedLazily(definition, reflected, fileDescriptors) {
    let type;
    return Object.defineProperties(definition, {
        type: { enumerable: true, get: () => (type ??= ((d) => d.$type.toObject(d, descriptorOptions))(reflected.toDescriptor('proto3'))) },
        fileDescriptorProtos: { enumerable: true, get: fileDescriptors },
    });
}
`;

/**
 * Pitfall 7: when a Google client loads its protos, @grpc/proto-loader describes every message
 * and enum type of the root (a descriptor converted to a plain object each) and encodes the
 * root's file descriptors, eagerly; only gRPC server reflection reads them, and nothing here
 * serves gRPC. ~25 ms of CPU per client on its first request (issue 14). Both become getters
 * computed on first read, with the same values. Fails the build if proto-loader stops matching.
 */
export function protoLoaderLazyDescriptors(): Plugin {
  return librarySourceEdit('proto-loader-lazy-descriptors', PROTO_LOADER_INDEX, (source, path) => {
    let contents = source;
    for (const [from, to] of PROTO_LOADER_EDITS) {
      if (!contents.includes(from)) throw new Error(`${path} no longer reads as scripts/build.ts expects (${from.trim().split('\n')[0]}); update the protoLoaderLazyDescriptors plugin`);
      contents = contents.replace(from, () => to);
    }
    return contents + PROTO_LOADER_HELPER;
  });
}

// What Firestore's modules require at load time that only a request (or tracing) needs: each
// `const <name> = require("<module>");` of a file below becomes a proxy that requires on first use.
const FIRESTORE_SRC = /[\\/]@google-cloud[\\/]firestore[\\/]build[\\/]src[\\/](.+)\.js$/;
const FIRESTORE_LAZY_REQUIRES: Readonly<Record<string, readonly string[]>> = {
  'telemetry/enabled-trace-util': ['@google-cloud/firestore-api/build/src/v1'],
  watch: ['google-gax'],
  'pipelines/pipelines': ['protobufjs'],
  serializer: ['../protos/firestore_v1_proto_api'],
};
// The serializer reads one message class of that module at load time, for `Value.fromObject` only.
const FIRESTORE_SERIALIZER_VALUE = /var Value = firestore_v1_proto_api_1\.google\.firestore\.v1\.Value;/;
// Its index re-exports firestore-api's `protos` through a getter, then copies its exports, getter
// included, with Object.assign: the getter moves after the copy.
const FIRESTORE_API_REQUIRE = /const firestore_api_1 = require\("@google-cloud\/firestore-api"\);\s*Object\.defineProperty\(exports, "protos", \{ enumerable: true, get: function \(\) \{ return firestore_api_1\.protos; \} \}\);/;
const FIRESTORE_EXPORTS_COPY = /module\.exports = Object\.assign\(module\.exports, existingExports\);/;

/** `const name = require("module");` → a Proxy that requires the module on its first use. */
function lazyRequire(name: string, module: string): string {
  const load = `() => (${name}$loaded ??= require(${JSON.stringify(module)}))`;
  return (
    `let ${name}$loaded; const ${name} = new Proxy({}, { get: (_, key) => (${load})()[key], has: (_, key) => key in (${load})(), ` +
    `getOwnPropertyDescriptor: (_, key) => { const d = Object.getOwnPropertyDescriptor((${load})(), key); return d && { ...d, configurable: true }; }, ownKeys: () => Reflect.ownKeys((${load})()) });`
  );
}

/**
 * Pitfall 5: `require('@google-cloud/firestore')` evaluated google-gax, gRPC, protobuf.js, the auth
 * library and firestore-api's clients (about 190 ms of CPU here, issue 14) before any request,
 * for things a request may never need: the `protos` re-export, `FirestoreClient.port` in the
 * tracing helper, gax's error class and codes in the listener, protobuf.js in pipelines, and the
 * static protobuf module of every Firestore message (1.4 MiB, ~55 ms) that the serializer reads
 * only for `Value.fromObject` (pipelines), its requests being encoded from protos.json. Each
 * becomes a require on first use; the client itself Firestore already loads on its first request.
 * Fails the build if a rewritten line is no longer there.
 */
export function firestoreLazyApi(): Plugin {
  const edit = (path: string, source: string, re: RegExp, replacement: string) => {
    if (!re.test(source)) throw new Error(`${path} no longer matches ${re.source.slice(0, 60)}…; update the firestoreLazyApi plugin (scripts/build.ts)`);
    return source.replace(re, () => replacement);
  };
  return librarySourceEdit('firestore-lazy-api', FIRESTORE_SRC, (source, path) => {
    const file = FIRESTORE_SRC.exec(path)![1].split(sep).join('/');
    const lazy = FIRESTORE_LAZY_REQUIRES[file];
    if (file !== 'index' && !lazy) return undefined;
    let contents = source;
    if (file === 'index') {
      contents = edit(path, contents, FIRESTORE_API_REQUIRE, '');
      contents = edit(
        path,
        contents,
        FIRESTORE_EXPORTS_COPY,
        'module.exports = Object.assign(module.exports, existingExports);\n' +
          'Object.defineProperty(module.exports, "protos", { enumerable: true, configurable: true, get: () => require("@google-cloud/firestore-api").protos });',
      );
    }
    if (file === 'serializer') {
      if (/\bValue\.(?!fromObject\()/.test(contents.replace(FIRESTORE_SERIALIZER_VALUE, ''))) {
        throw new Error(`${path} uses more of Value than fromObject; update the firestoreLazyApi plugin (scripts/build.ts)`);
      }
      contents = edit(path, contents, FIRESTORE_SERIALIZER_VALUE, 'var Value = { fromObject: (value) => firestore_v1_proto_api_1.google.firestore.v1.Value.fromObject(value) };');
    }
    for (const module of lazy ?? []) {
      const re = new RegExp(`const (\\w+) = require\\(${JSON.stringify(module).replace(/[/.]/g, '\\$&')}\\);`);
      const name = re.exec(contents)?.[1] ?? '';
      contents = edit(path, contents, re, lazyRequire(name, module));
    }
    return contents;
  });
}

/**
 * Packages bundled as files of their own under `chunks/` (the rest is inlined where it is used):
 * the Google client libraries and what they share (gax, gRPC, protobuf.js, auth), Redis, ajv and
 * OpenTelemetry, and the YAML parser. Our code requires them lazily (shared/firestore.ts,
 * events.ts, yaml.ts, …), so a request that needs none of them reads none of their code; shared
 * dependencies are chunks too, so two clients in one process load one copy of gax and gRPC, as
 * from node_modules.
 */
export const CHUNKED_PACKAGES: readonly RegExp[] = [
  /^@google-cloud\/(?!functions-framework$)/,
  /^google-gax$/,
  /^google-auth-library$/,
  /^gaxios$/,
  /^gcp-metadata$/,
  /^@grpc\//,
  /^protobufjs$/,
  /^redis$/,
  /^ajv$/,
  /^@opentelemetry\//,
  /^yaml$/,
];

/** `@scope/name` or `name` of a bare specifier (`google-gax/build/src/fallback` → `google-gax`). */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const NODE_MODULES = `${sep}node_modules${sep}`;

/** The package a file inside node_modules belongs to (its innermost node_modules), else undefined. */
function packageOfFile(path: string): { name: string; root: string } | undefined {
  const at = path.lastIndexOf(NODE_MODULES);
  if (at < 0) return undefined;
  const name = packageNameOf(path.slice(at + NODE_MODULES.length).split(sep).join('/'));
  return { name, root: path.slice(0, at + NODE_MODULES.length) + name.split('/').join(sep) };
}

interface PackageChunk {
  /** File name under chunks/, without `.js`: the package's path under node_modules (`google-cloud.firestore`). */
  name: string;
  root: string;
  /** What the chunk is known by: its package's root, or the path of the one heavy file it holds. */
  key: string;
  /** The package's files other code requires (absolute) → their path inside the package. */
  entries: Map<string, string>;
}

/**
 * A file of a chunked package bigger than this is a chunk of its own: the generated protobuf
 * modules and descriptors (firestore-api's `protos.js` is 1.4 MiB) would otherwise be read and
 * parsed with every other file of their package (~30 ms for firestore-api's chunk, issue 14)
 * though a request may need none of them.
 */
export const HEAVY_FILE_BYTES = 200 * 1024;
const heavy = new Map<string, boolean>();
export function isHeavyFile(file: string): boolean {
  let is = heavy.get(file);
  if (is === undefined) heavy.set(file, (is = existsSync(file) && statSync(file).size > HEAVY_FILE_BYTES));
  return is;
}

const fileSafe = (text: string) => text.replace(/@/g, '').replace(/[^\w.~+-]/g, '_');

/**
 * The chunks one bundle is split into. A chunk holds one package, however many of its files other
 * code requires (`protobufjs` and `protobufjs/minimal`, `google-gax` and `google-gax/build/src/fallback`),
 * so each of its modules exists once, as in node_modules; a stub per required file
 * (`protobufjs@minimal.js`) hands out that file's exports from it.
 */
export class ChunkSet {
  private readonly packages = new Map<string, PackageChunk>();
  private readonly taken = new Set<string>();

  /** The stub file (under chunks/, without `.js`) through which code requires `file`, or undefined when it is not in a package. */
  stubFor(file: string): string | undefined {
    const pkg = packageOfFile(file);
    if (!pkg) return undefined;
    // A heavy file is a chunk of its own (keyed by its path), so requiring its package does not read it.
    const key = isHeavyFile(file) ? file : pkg.root;
    let chunk = this.packages.get(key);
    if (!chunk) {
      const at = pkg.root.indexOf(NODE_MODULES);
      const packageName = pkg.root.slice(at + NODE_MODULES.length).split(NODE_MODULES).join('~').split(sep).join('.');
      const base = fileSafe(key === file ? `${packageName}~${relative(pkg.root, file).split(sep).join('.').replace(/\.[cm]?js$/, '')}` : packageName);
      let name = base;
      for (let i = 2; this.taken.has(name); i++) name = `${base}-${i}`;
      this.taken.add(name);
      chunk = { name, root: pkg.root, key, entries: new Map() };
      this.packages.set(key, chunk);
    }
    let inner = chunk.entries.get(file);
    if (!inner) {
      inner = relative(chunk.root, file).split(sep).join('/');
      chunk.entries.set(file, inner);
    }
    return `${chunk.name}@${fileSafe(inner.replace(/\.[cm]?js$/, '').split('/').join('.'))}`;
  }

  /** Every package chunk, with the files required from it so far. */
  chunks(): PackageChunk[] {
    return [...this.packages.values()];
  }

  /** The source of a package chunk: a function from a file's path inside the package to its exports, each loaded on first call. */
  static chunkSource(chunk: PackageChunk): string {
    const table = [...chunk.entries].map(([file, inner]) => `  ${JSON.stringify(inner)}: () => require(${JSON.stringify(file)}),`).join('\n');
    return `const files = {\n${table}\n};\nmodule.exports = (file) => files[file]();\n`;
  }

  /** The stubs: each requires its file from its package's chunk. */
  stubs(): Map<string, string> {
    const out = new Map<string, string>();
    for (const chunk of this.packages.values()) {
      for (const [file, inner] of chunk.entries) {
        out.set(`${this.stubFor(file)}.js`, `"use strict";\nmodule.exports = require("./${chunk.name}.js")(${JSON.stringify(inner)});\n`);
      }
    }
    return out;
  }
}

export const CHUNKS_DIR = 'chunks';
const CHUNK_NAMESPACE = 'package-chunk';

/**
 * Every import or require of a package in CHUNKED_PACKAGES (from our code, or from another
 * library) becomes a `require` of its stub in chunks/, at the very place the code requires it: a
 * lazy `require('@google-cloud/firestore')` in `db()` stays lazy. `fromEntry`: the importer is the
 * bundle's index.js (chunks sit in `chunks/`), else a chunk (its stubs sit beside it).
 */
export function lazyChunks(chunks: ChunkSet, fromEntry: boolean): Plugin {
  return {
    name: 'lazy-chunks',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.kind === 'entry-point' || (args.pluginData as { lazyChunks?: boolean } | undefined)?.lazyChunks) return undefined;
        const pkg = packageNameOf(args.path);
        if (pkg.startsWith('node:') || !CHUNKED_PACKAGES.some((re) => re.test(pkg))) return undefined;
        const selfRequire = packageOfFile(args.importer)?.name === pkg; // a package requiring itself stays in its own chunk…
        const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { lazyChunks: true } });
        if (resolved.errors.length || resolved.external) return resolved;
        if (selfRequire && !isHeavyFile(resolved.path)) return undefined; // …but for its heavy files
        const stub = chunks.stubFor(resolved.path);
        if (!stub) return undefined;
        return { path: fromEntry ? `./${CHUNKS_DIR}/${stub}.js` : `./${stub}.js`, external: true };
      });
      // A heavy file its own package requires by a relative path: also a chunk of its own.
      b.onResolve({ filter: /^\.\.?\// }, async (args) => {
        if (args.kind === 'entry-point' || (args.pluginData as { lazyChunks?: boolean } | undefined)?.lazyChunks) return undefined;
        const pkg = packageOfFile(args.importer);
        if (!pkg || !CHUNKED_PACKAGES.some((re) => re.test(pkg.name))) return undefined;
        const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { lazyChunks: true } });
        if (resolved.errors.length || resolved.external || !isHeavyFile(resolved.path)) return undefined;
        return { path: `./${chunks.stubFor(resolved.path)!}.js`, external: true };
      });
      // A package chunk's entry: the table of its required files (ChunkSet.chunkSource).
      b.onResolve({ filter: new RegExp(`^${CHUNK_NAMESPACE}:`) }, (args) => ({ path: args.path.slice(CHUNK_NAMESPACE.length + 1), namespace: CHUNK_NAMESPACE }));
      b.onLoad({ filter: /.*/, namespace: CHUNK_NAMESPACE }, (args) => {
        const chunk = chunks.chunks().find((c) => c.key === args.path);
        if (!chunk) throw new Error(`no package chunk for ${args.path}`);
        return { contents: ChunkSet.chunkSource(chunk), loader: 'js', resolveDir: chunk.root };
      });
    },
  };
}

export interface EntryBuild {
  /** Names the bundle (and its package.json). */
  name: string;
  /** The TypeScript (or JavaScript) entry file. */
  entry: string;
  /** Directory that receives index.js, chunks/, their source maps and package.json. */
  outdir: string;
}

/**
 * What every file of a bundle is built with (esbuild options). BUILD_MINIFY=false builds readable
 * bundles, for a CPU profile whose frames carry the source's names (`npm run bench` with
 * BENCH_NODE_ARGS=--cpu-prof); deployments are minified.
 */
const COMMON: BuildOptions & { write: false } = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minify: process.env.BUILD_MINIFY !== 'false',
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  external: [...EXTERNALS],
  write: false,
  logLevel: 'silent',
};

async function warnAbout(name: string, warnings: Message[]): Promise<void> {
  if (!warnings.length) return;
  const text = await formatMessages(warnings, { kind: 'warning', color: false });
  console.warn(`Bundle ${name}: ${warnings.length} esbuild warning(s):\n${text.join('\n')}`);
}

/**
 * Bundles one entry file the way every function bundle is built: index.js, then the package
 * chunks it requires, which may require more (or more files of a package already built, which is
 * then built again), until nothing new is asked for.
 */
export async function buildEntry({ name, entry, outdir }: EntryBuild): Promise<BundleResult> {
  if (!existsSync(entry)) throw new Error(`Bundle ${name}: entry file ${entry} does not exist`);
  const outfile = join(outdir, 'index.js');
  const chunks = new ChunkSet();
  const plugins = (fromEntry: boolean) => [tasksStaticJson(), unreadProtosExport(), firestoreLazyApi(), gaxLazyProtos(), protoLoaderLazyDescriptors(), lazyChunks(chunks, fromEntry)];
  const main = await build({ ...COMMON, entryPoints: [entry], outfile, plugins: plugins(true) });
  await warnAbout(name, main.warnings);
  const outputs = new Map<string, Uint8Array | string>(main.outputFiles.map((f) => [f.path, f.contents]));
  const builtWith = new Map<string, number>(); // package chunk → how many of its files it was built with
  for (;;) {
    const todo = chunks.chunks().filter((c) => builtWith.get(c.name) !== c.entries.size);
    if (!todo.length) break;
    for (const c of todo) builtWith.set(c.name, c.entries.size);
    const result = await build({
      ...COMMON,
      entryPoints: Object.fromEntries(todo.map((c) => [c.name, `${CHUNK_NAMESPACE}:${c.key}`])),
      outdir: join(outdir, CHUNKS_DIR),
      plugins: plugins(false),
    });
    await warnAbout(name, result.warnings);
    for (const f of result.outputFiles) outputs.set(f.path, f.contents);
  }
  for (const [file, text] of chunks.stubs()) outputs.set(join(outdir, CHUNKS_DIR, file), text);
  // Each file is written beside its place and renamed over it, so a concurrent build or a test
  // copying the bundle never reads half a file.
  mkdirSync(join(outdir, CHUNKS_DIR), { recursive: true });
  const staging = `${outdir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(join(staging, CHUNKS_DIR), { recursive: true });
  const place = (file: string, contents: Uint8Array | string) => {
    writeFileSync(join(staging, file), contents);
    renameSync(join(staging, file), join(outdir, file));
  };
  const written = new Set<string>(['package.json', CHUNKS_DIR]);
  try {
    for (const [path, contents] of outputs) {
      const rel = relative(outdir, path);
      place(rel, contents);
      written.add(rel);
    }
    place('package.json', `${JSON.stringify(packageJson(name), null, 2)}\n`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  // Leftovers of an earlier build must not be deployed with this one.
  for (const stale of readdirSync(outdir)) if (!written.has(stale)) rmSync(join(outdir, stale), { recursive: true, force: true });
  for (const stale of readdirSync(join(outdir, CHUNKS_DIR))) {
    if (!written.has(join(CHUNKS_DIR, stale))) rmSync(join(outdir, CHUNKS_DIR, stale), { recursive: true, force: true });
  }
  const js = [...outputs].filter(([path]) => path.endsWith('.js'));
  return { bundle: name, outfile, bytes: statSync(outfile).size, totalBytes: js.reduce((n, [, c]) => n + (typeof c === 'string' ? Buffer.byteLength(c) : c.length), 0) };
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
    humanBytes(r.totalBytes),
    relative(ROOT, r.outfile),
  ]);
  console.log(formatTable(['bundle', 'entry points', 'bytes', 'index.js', 'with chunks', 'output'], rows, ['bytes', 'index.js', 'with chunks']));
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
