/**
 * The build's edits of library code (scripts/build.ts, pitfalls 5–7) change when a library
 * evaluates what, never what it computes: each edited module is bundled with its plugin, in
 * memory, and compared with the published module it replaces.
 */
import assert from 'node:assert/strict';
import Module from 'node:module';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { firestoreLazyApi, gaxLazyProtos, protoLoaderLazyDescriptors, ROOT } from '../../scripts/build';

/** `specifier` bundled with `plugins` (everything it requires inlined) and evaluated as a fresh module. */
async function bundled<T>(specifier: string, plugins: Plugin[]): Promise<T> {
  const out = await build({
    stdin: { contents: `module.exports = require(${JSON.stringify(specifier)});`, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
    plugins,
  });
  const filename = join(ROOT, 'node_modules', `.bundled-${specifier.replace(/\W/g, '_')}.js`);
  const m = new Module(filename);
  m.filename = filename;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(ROOT);
  (m as unknown as { _compile(code: string, file: string): void })._compile(out.outputFiles[0].text, filename);
  return m.exports as T;
}

type Definition = Record<string, { format?: string; type?: unknown; fileDescriptorProtos?: Buffer[] } & Record<string, unknown>>;
type ProtoLoader = { fromJSON(json: object, options?: object): Definition };

describe('the build’s edits of library code (unit)', function () {
  this.timeout(60_000);

  it('proto-loader: every type describes itself on first read exactly as the published module describes it up front', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const published = require('@grpc/proto-loader') as ProtoLoader;
    const edited = await bundled<ProtoLoader>('@grpc/proto-loader', [protoLoaderLazyDescriptors()]);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const json = require('@google-cloud/firestore-api/build/protos/protos.json') as object;
    const before = published.fromJSON(json, { keepCase: false });
    const after = edited.fromJSON(json, { keepCase: false });
    assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
    let messages = 0;
    for (const [name, def] of Object.entries(before)) {
      if (typeof def.format !== 'string') {
        // A service: each method's request and response types, described lazily too.
        for (const [method, m] of Object.entries(def)) {
          const a = (after[name] as Record<string, { requestType: { type: unknown }; path: string }>)[method];
          const b = m as unknown as { requestType: { type: unknown }; path: string };
          assert.equal(a.path, b.path);
          assert.deepEqual(a.requestType.type, b.requestType.type, `${name}.${method}`);
        }
        continue;
      }
      messages++;
      assert.equal(after[name].format, def.format, name);
      assert.deepEqual(after[name].type, def.type, name);
      assert.deepEqual(after[name].fileDescriptorProtos, def.fileDescriptorProtos, name);
    }
    assert.ok(messages > 100, `${messages} message and enum types compared`);
    // And the serializers still round-trip a message.
    const doc = { name: 'projects/p/databases/(default)/documents/c/d', fields: { a: { stringValue: 'x' } } };
    const type = after['google.firestore.v1.Document'] as unknown as { serialize(v: object): Buffer; deserialize(b: Buffer): object };
    assert.deepEqual(type.deserialize(type.serialize(doc)), (before['google.firestore.v1.Document'] as unknown as { deserialize(b: Buffer): object }).deserialize(type.serialize(doc)));
  });

  it('gax: its protos re-exports are still there, read on first use', async () => {
    type Gax = { IamProtos: { google: { iam: object } }; LocationProtos: { google: { cloud: object } }; operationsProtos: { google: { longrunning: object } } };
    const edited = await bundled<Gax>('google-gax', [gaxLazyProtos()]);
    assert.equal(typeof edited.IamProtos.google.iam, 'object');
    assert.equal(typeof edited.LocationProtos.google.cloud, 'object');
    assert.equal(typeof edited.operationsProtos.google.longrunning, 'object');
  });

  it('Firestore: its client, codes and v1 export work when first used (that it loads without gax: bundles.test.ts)', async () => {
    type Fs = { Firestore: new (o: object) => { collection(n: string): { doc(id: string): { path: string } } }; GrpcStatus: { ABORTED: number }; v1: { FirestoreClient: { port: number } } };
    const edited = await bundled<Fs>('@google-cloud/firestore', [firestoreLazyApi()]);
    const db = new edited.Firestore({ projectId: 'p' });
    assert.equal(db.collection('c').doc('d').path, 'c/d');
    assert.equal(edited.GrpcStatus.ABORTED, 10);
    assert.equal(edited.v1.FirestoreClient.port, 443);
  });
});
