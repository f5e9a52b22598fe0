/**
 * firebase.json is valid for the Firebase CLI: it is checked against the CLI's own JSON Schema, and
 * the local stack's settings that the schema does not allow live in local-stack.json.
 *
 * The schema is a copy, vendored unchanged so the test needs no network and no 100+ MB dev
 * dependency: test/fixtures/firebase-config.schema.json is `schema/firebase-config.json` of the npm
 * package firebase-tools 15.37.0 (MIT), sha256 below. To refresh it:
 *   npm pack firebase-tools@<version> && tar xzf firebase-tools-<version>.tgz package/schema/firebase-config.json
 * then copy it over the fixture and update FIREBASE_TOOLS_VERSION and SCHEMA_SHA256.
 */
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { localPorts } from '../../scripts/start';

const ROOT = join(__dirname, '..', '..');
const FIREBASE_TOOLS_VERSION = '15.37.0';
const SCHEMA_SHA256 = 'f7bd0ff19767b2d115adea1b6caf1163b1ff144fa10a79b9392997025b005f4e';
const schemaText = readFileSync(join(ROOT, 'test', 'fixtures', 'firebase-config.schema.json'), 'utf8');
const readJson = (name: string) => JSON.parse(readFileSync(join(ROOT, name), 'utf8')) as Record<string, unknown>;

describe('firebase.json against the Firebase CLI schema', () => {
  // The schema uses keywords ajv's strict mode does not know (it was written for the CLI's own checks).
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(schemaText) as object);
  const problems = () => JSON.stringify(validate.errors, null, 2);

  it(`is the vendored schema of firebase-tools ${FIREBASE_TOOLS_VERSION}, unchanged`, () => {
    assert.equal(hash('sha256', schemaText, 'hex'), SCHEMA_SHA256);
  });

  it('accepts firebase.json', () => {
    assert.equal(validate(readJson('firebase.json')), true, problems());
  });

  it('refuses a key of our own in it, as the localStack key was', () => {
    const withOurs = { ...readJson('firebase.json'), localStack: readJson('local-stack.json') };
    assert.equal(validate(withOurs), false);
    assert.ok(validate.errors?.some((e) => e.keyword === 'additionalProperties' && e.params.additionalProperty === 'localStack'), problems());
    assert.equal(validate({ ...readJson('firebase.json'), emulators: { firestore: { port: 'eighty' } } }), false, 'a port must be a number');
  });

  it('keeps the emulator ports in firebase.json and the local stack ports in local-stack.json, as npm start reads them', () => {
    const fb = readJson('firebase.json') as { emulators: Record<string, { port: number }> };
    const local = readJson('local-stack.json') as { virtuosoSandbox: { port: number; organizationId: number }; cloudTasks: { port: number }; cloudStorage: { port: number; dir: string } };
    const ports = localPorts();
    assert.equal(ports.firestore, fb.emulators.firestore.port);
    assert.equal(ports.pubsub, fb.emulators.pubsub.port);
    assert.equal(ports.functionsBase, fb.emulators.functions.port);
    assert.equal(ports.sandbox, local.virtuosoSandbox.port);
    assert.equal(ports.organizationId, local.virtuosoSandbox.organizationId);
    assert.equal(ports.tasks, local.cloudTasks.port);
    assert.equal(ports.storage, local.cloudStorage.port);
    assert.equal(ports.storageDir, join(ROOT, local.cloudStorage.dir));
    const all = [ports.firestore, ports.pubsub, ports.functionsBase, ports.sandbox, ports.tasks, ports.storage];
    assert.equal(new Set(all).size, all.length, 'no port is used twice');
  });
});
