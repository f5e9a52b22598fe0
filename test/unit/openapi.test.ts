/**
 * The OpenAPI document (shared/openapi/): valid OpenAPI 3.1 by a maintained validator
 * (@readme/openapi-parser), each component a valid JSON Schema (ajv's 2020-12 meta-schema), made
 * of the very schema objects the functions validate with, and the client's generated types current.
 */
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate } from '@readme/openapi-parser';
import Ajv2020 from 'ajv/dist/2020';
import { clientTypes, CLIENT_TYPES_FILE, writeOpenApi } from '../../scripts/openapi';
import { componentName, components, openApiDocument } from '../../shared/openapi/document';
import { ROUTES } from '../../shared/openapi/routes';
import { SCHEMA_FILES } from '../../shared/openapi/schema-files';
import { schemas } from '../../shared/schemas';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('OpenAPI document (unit)', function () {
  this.timeout(30_000);

  for (const part of [undefined, ...ROUTES.map((r) => r.name)]) {
    it(`${part ?? 'the whole API'} is valid OpenAPI 3.1`, async () => {
      const doc = openApiDocument(part);
      assert.equal(doc.openapi, '3.1.0');
      const result = await validate(structuredClone(doc) as Json);
      assert.equal(result.valid, true, JSON.stringify(result));
    });
  }

  it('the validator does catch a broken document (a dangling reference, a missing response description)', async () => {
    const broken: Json = openApiDocument('testRuns');
    delete broken.components.schemas.TestRun.$defs;
    assert.equal((await validate(broken)).valid, false);
    const noDescription: Json = openApiDocument('health');
    delete noDescription.paths['/'].get.responses['200'].description;
    assert.equal((await validate(noDescription)).valid, false);
  });

  it('every component is a valid JSON Schema (2020-12), and compiles', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    const all = components();
    for (const [name, schema] of Object.entries(all)) {
      const ok = ajv.validateSchema(schema);
      assert.equal(ok, true, `${name}: ${ajv.errorsText(ajv.errors)}`);
    }
    // With the document as their root, every reference between components resolves.
    ajv.addSchema({ $id: 'doc', components: { schemas: all } } as Json);
    for (const name of Object.keys(all)) assert.ok(ajv.getSchema(`doc#/components/schemas/${name}`), name);
  });

  it('is made of the schemas the functions validate with: nothing is written twice', () => {
    for (const [key, schema] of Object.entries(schemas)) {
      const file = Object.entries(SCHEMA_FILES).find(([, s]) => s === schema)?.[0];
      if (['eventEnvelope', 'commandTask', 'testRunTask', 'logArchiveRequest', 'backupRequest'].includes(key)) continue; // private
      assert.ok(file, `${key} is a public body: it must be one of the document's schemas`);
    }
    const doc: Json = openApiDocument();
    const request = doc.paths['/commands/commands'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(request, { $ref: '#/components/schemas/CommandRequest' });
    const { $id, title, ...rest } = schemas.commandRequest as Json;
    assert.ok($id && title);
    assert.deepEqual(doc.components.schemas.CommandRequest, { title, ...rest });
    assert.equal(componentName('test-run-callback.json'), 'TestRunCallback');
  });

  it('documents every error status an operation can meet from its API key and its body', () => {
    const doc: Json = openApiDocument('testRuns');
    const submit = doc.paths['/test-runs'].post;
    for (const s of ['400', '401', '403', '409', '413', '415', '422', '429', '503']) assert.ok(submit.responses[s], s);
    assert.deepEqual(submit.responses['503'].headers['Retry-After'].schema, { type: 'integer', minimum: 1 });
    assert.ok(submit.callbacks.completion['{$request.query.callbackUrl}'].post.requestBody);
    const health: Json = openApiDocument('health');
    assert.equal(health.paths['/'].get.responses['503'].content['application/json'].schema.$ref, '#/components/schemas/HealthReport');
    assert.equal(health.paths['/'].get.responses['401'], undefined, 'health takes no key');
  });

  it('npm run build writes the whole document to dist/openapi.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
    try {
      const file = writeOpenApi(join(dir, 'openapi.json'));
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), openApiDocument());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.match(readFileSync(join(__dirname, '../../scripts/build.ts'), 'utf8'), /writeOpenApi\(\)/);
  });

  it('the client’s types (shared/client/api-types.ts) are generated from the current schemas: run `npm run openapi -- types` after changing one', async () => {
    assert.equal(readFileSync(CLIENT_TYPES_FILE, 'utf8'), await clientTypes());
  });
});
