/**
 * The data commands (`create-environment`, `manage-test-data`): as CLI strings against the Virtuoso
 * sandbox over HTTP (real client, the bodies sent recorded), then through the commands function
 * (`POST /commands`: JSON Schema checks, the structured form, Virtuoso's refusals mapped).
 * The bodies are the documented guesses ([C] in VIRTUOSO_API.md §1.4), never run against the live API.
 */
import assert from 'node:assert/strict';
import '../../functions/commands';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { AppError } from '../../shared/errors';
import { VirtuosoApiError, VirtuosoClient, type CallOptions, type Method } from '../../shared/virtuoso/client';
import { runCommandLine } from '../../shared/commands/parse';
import { parseCsv, toCsv, type CommandContext } from '../../shared/virtuoso/commands';
import { virtuosoToAppError } from '../../shared/virtuoso/errors';
import { request, serve, type Served } from '../helpers/http';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Out = any;

/** A shell single-quoted token: everything literal, `'` written as `'\''`. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Remembers each request's method, path and body. */
class RecordingClient extends VirtuosoClient {
  readonly calls: { method: Method; path: string; body?: unknown }[] = [];
  override call(method: Method, path: string, options: CallOptions = {}): Promise<unknown> {
    this.calls.push({ method, path, body: options.body });
    return super.call(method, path, options);
  }
}

/** Quotes, commas and line breaks (LF and CRLF) inside quoted fields; the header in another order than the table's columns. */
const CSV = [
  'name,email,note',
  '"Smith, J",j@example.com,"said ""hi""\nthen left"',
  'Ann,ann@example.com,',
  '"Bo ""B"" Li",bo@example.com,"two\r\nlines, one comma"',
].join('\r\n');
/** The same rows in the table's column order (email, name, note). */
const ROWS = [
  ['j@example.com', 'Smith, J', 'said "hi"\nthen left'],
  ['ann@example.com', 'Ann', ''],
  ['bo@example.com', 'Bo "B" Li', 'two\r\nlines, one comma'],
];
/** As the export answers them: objects keyed by column (the command history cannot hold arrays in arrays). */
const asObjects = (rows: string[][]) => rows.map(([email, name, note]) => ({ email, name, note }));

describe('data commands × Virtuoso sandbox (CLI strings)', () => {
  let sandbox: Sandbox;
  let api: RecordingClient;
  let ctx: CommandContext;
  const run = async (line: string): Promise<Out> => (await runCommandLine(ctx, line)).output;
  const refused = async (line: string, status: number, message?: RegExp): Promise<AppError> => {
    const err = await run(line).then(
      (out) => assert.fail(`expected ${status}, got ${JSON.stringify(out)}`),
      (e: unknown) => (e instanceof VirtuosoApiError ? virtuosoToAppError(e) : e),
    );
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.status, status, err.message);
    if (message) assert.match(err.message, message);
    return err;
  };

  before(async () => {
    sandbox = await startSandbox({ organizationId: 2242 });
    api = new RecordingClient({ baseUrl: sandbox.url, token: async () => 't', baseBackoffMs: 5 });
    ctx = { api, organizationId: 2242 };
  });
  after(() => sandbox.close());

  it('create-environment: sends {name, description, variables}, parses k=v lists, copies another environment first', async () => {
    const staging = await run('create-environment --name Staging --description "Pre-prod" --variables "BASE_URL=https://staging.example.com/?a=b, USER=qa,"');
    assert.deepEqual(Object.keys(staging), ['status', 'environment_id', 'name', 'variables']);
    assert.equal(staging.status, 'success');
    assert.match(staging.environment_id, /^\d+$/);
    assert.equal(staging.name, 'Staging');
    // A value runs to the next comma, so it may hold '='; spaces around pairs and a trailing comma are dropped.
    assert.deepEqual(staging.variables, { BASE_URL: 'https://staging.example.com/?a=b', USER: 'qa' });
    assert.deepEqual(api.calls.at(-1), {
      method: 'POST', path: '/environments',
      body: { name: 'Staging', description: 'Pre-prod', variables: { BASE_URL: 'https://staging.example.com/?a=b', USER: 'qa' } },
    });
    assert.equal(sandbox.state.environments.get(Number(staging.environment_id))?.description, 'Pre-prod');

    // --copy-from: the source's variables first, the given ones win.
    const copy = await run(`create-environment --name "Staging 2" --copy-from ${staging.environment_id} --variables USER=admin,_EXTRA1=`);
    assert.deepEqual(copy.variables, { BASE_URL: 'https://staging.example.com/?a=b', USER: 'admin', _EXTRA1: '' });
    assert.deepEqual(api.calls.at(-1)?.body, { name: 'Staging 2', description: '', variables: { USER: 'admin', _EXTRA1: '' }, copyFromId: Number(staging.environment_id) });
    assert.deepEqual(sandbox.state.environments.get(Number(staging.environment_id))?.variables, staging.variables, 'the source is unchanged');

    const bare = await run('create-environment --name Empty');
    assert.deepEqual(bare.variables, {});
    assert.notEqual(bare.environment_id, copy.environment_id);
  });

  it('create-environment: refuses --variables-file, bad variable names and a missing --name before any request; an unknown --copy-from is 404', async () => {
    const sent = sandbox.faults.count('POST', '/environments$');
    await refused('create-environment --name X --variables-file vars.json', 422, /--variables-file reads the file 'vars\.json' on your machine, which this service cannot reach over HTTPS: send its content in the request's "files".*--variables k=v/);
    await refused('create-environment --name X --variables 1ST=a', 422, /Variable name '1ST' is not valid/);
    await refused('create-environment --name X --variables "A-B=1"', 422, /Variable name 'A-B'/);
    await refused('create-environment --name X --variables A=1,B', 422, /'B' has no '='/);
    await refused('create-environment --name X --variables A=1,A=2', 422, /'A' is given twice/);
    await refused('create-environment --name X --variables __X__=1', 422, /'__X__' is reserved/);
    await refused('create-environment --description "no name"', 422, /needs --name/);
    await refused('create-environment --name X --copy-from abc', 422, /numeric id/);
    assert.equal(sandbox.faults.count('POST', '/environments$'), sent, 'nothing was sent');
    await refused('create-environment --name X --copy-from 999999', 404, /Environment not found/);
  });

  it('manage-test-data: create a table → import a CSV with quotes, commas and line breaks → export gives the rows back → get counts them', async () => {
    const table = await run('manage-test-data --create-table --table-name Users --columns "email, name,note" --description "Login users"');
    assert.deepEqual(table, { status: 'success', table_id: table.table_id, name: 'Users', columns: ['email', 'name', 'note'] });
    assert.match(table.table_id, /^\d+$/);
    assert.deepEqual(api.calls.at(-1), {
      method: 'POST', path: '/testdata/tables/create', body: { name: 'Users', description: 'Login users', columns: ['email', 'name', 'note'] },
    });

    const imported = await run(`manage-test-data --import-csv ${sq(CSV)} --table-id ${table.table_id}`);
    assert.deepEqual(imported, { status: 'success', table_id: table.table_id, rows_imported: 3 });
    // The documented body: no header, the rows in the table's column order.
    assert.deepEqual(api.calls.at(-1), {
      method: 'POST', path: `/testdata/tables/${table.table_id}/import`, body: { tableId: Number(table.table_id), data: ROWS, format: 'csv' },
    });

    const exported = await run(`manage-test-data --export-csv --table-id ${table.table_id}`);
    assert.equal(exported.table_id, table.table_id);
    assert.deepEqual(exported.columns, ['email', 'name', 'note']);
    assert.deepEqual(exported.rows, asObjects(ROWS));
    assert.equal(
      exported.csv,
      'email,name,note\r\n' +
        'j@example.com,"Smith, J","said ""hi""\nthen left"\r\n' +
        'ann@example.com,Ann,\r\n' +
        'bo@example.com,"Bo ""B"" Li","two\r\nlines, one comma"\r\n',
    );
    assert.deepEqual(parseCsv(exported.csv), [exported.columns, ...ROWS]);

    // The exported CSV imports as is into another table with the same columns.
    const copy = await run('manage-test-data --create-table --table-name "Users copy" --columns email,name,note');
    await run(`manage-test-data --import-csv ${sq(exported.csv)} --table-id ${copy.table_id}`);
    assert.deepEqual((await run(`manage-test-data --export-csv --table-id ${copy.table_id}`)).rows, asObjects(ROWS));

    const got = await run(`manage-test-data --get --table-id ${table.table_id}`);
    assert.deepEqual(got, { table_id: table.table_id, name: 'Users', columns: ['email', 'name', 'note'], row_count: 3 });
    // Import appends.
    await run(`manage-test-data --import-csv ${sq('note,name,email\nx,y,z')} --table-id ${table.table_id}`);
    assert.equal((await run(`manage-test-data --get --table-id ${table.table_id}`)).row_count, 4);
    assert.deepEqual(sandbox.state.tables.get(Number(table.table_id))?.rows.at(-1), ['z', 'y', 'x']);
  });

  it('manage-test-data: one action only, its own flags only, and CSV that fits the table; unknown tables are 404', async () => {
    const t = await run('manage-test-data --create-table --table-name T --columns a,b');
    const imports = () => sandbox.faults.count('POST', '/import$');
    const before = imports();
    await refused(`manage-test-data --get --export-csv --table-id ${t.table_id}`, 422, /exactly one of --create-table, --import-csv, --export-csv, --get \(got --export-csv, --get\)/);
    await refused('manage-test-data --table-name T', 422, /exactly one of .* \(got none\)/);
    // --table-id alone reads the table, as the CLI did.
    assert.equal((await run(`manage-test-data --table-id tbl_${t.table_id}`)).name, 'T');
    await refused(`manage-test-data --get --table-id ${t.table_id} --columns a`, 422, /--get does not take --columns/);
    await refused('manage-test-data --create-table --columns a,b', 422, /needs --table-name/);
    await refused('manage-test-data --create-table --table-name T --columns a,,b', 422, /none empty/);
    await refused('manage-test-data --create-table --table-name T --columns a,b,a', 422, /'a' is given twice/);
    await refused('manage-test-data --create-table --table-name T --columns a,__b__', 422, /Column name '__b__' is reserved/);
    await refused('manage-test-data --get --table-id abc', 422, /--table-id must be a numeric id/);
    await refused('manage-test-data --export-csv', 422, /needs --table-id/);
    // The header must name the table's columns.
    await refused(`manage-test-data --import-csv ${sq('a,c\n1,2')} --table-id ${t.table_id}`, 422, /header \(a, c\) does not match the columns of table \d+ \(a, b\)/);
    await refused(`manage-test-data --import-csv ${sq('a,b,a\n1,2,3')} --table-id ${t.table_id}`, 422, /does not match/);
    await refused(`manage-test-data --import-csv ${sq('a,b\n1,2\n3')} --table-id ${t.table_id}`, 422, /CSV row 2 has 1 fields but the header has 2/);
    await refused(`manage-test-data --import-csv ${sq('a,b\n"1,2')} --table-id ${t.table_id}`, 422, /line 2: a quoted field is never closed/);
    await refused(`manage-test-data --import-csv ${sq('a,b\n1,x"y')} --table-id ${t.table_id}`, 422, /quote inside an unquoted field/);
    await refused(`manage-test-data --import-csv users.csv --table-id ${t.table_id}`, 422, /--import-csv reads the file 'users\.csv' on your machine.*"files".*or pass the CSV text itself/);
    await refused(`manage-test-data --import-csv a,b --table-id ${t.table_id}`, 422, /a header and no rows/);
    assert.equal(imports(), before, 'no import was sent');
    assert.equal(sandbox.state.tables.get(Number(t.table_id))?.rows.length, 0);

    for (const action of ['--get', '--export-csv', `--import-csv ${sq('a,b\n1,2')}`]) {
      const err = await refused(`manage-test-data ${action} --table-id 999999`, 404, /Test data table not found/);
      assert.deepEqual((err.details as Out).virtuoso, { status: 404, code: '404' });
    }
  });

  it('sandbox: an import whose rows do not fit the columns is 400 (mapped to 422), and nothing is imported', async () => {
    const t = await run('manage-test-data --create-table --table-name Narrow --columns a,b');
    const id = Number(t.table_id);
    const cases: [unknown, RegExp][] = [
      [{ tableId: id, data: [['1', '2'], ['only one']], format: 'csv' }, /Row 2 has 1 values but table \d+ has 2 columns/],
      [{ tableId: id, data: [[1, 2]], format: 'csv' }, /each an array of strings/],
      [{ tableId: id, data: [['1', '2']], format: 'json' }, /format must be "csv"/],
      [{ tableId: id + 1, data: [['1', '2']], format: 'csv' }, /tableId must be the table's id/],
    ];
    for (const [body, message] of cases) {
      const err = await api.item('POST', `/testdata/tables/${id}/import`, { body }).catch((e: unknown) => e);
      assert.ok(err instanceof VirtuosoApiError, String(err));
      assert.equal(err.status, 400);
      assert.match(err.message, message);
      const mapped = virtuosoToAppError(err);
      assert.equal(mapped.status, 422);
      assert.match(mapped.message, /^Virtuoso refused the request/);
    }
    assert.equal(sandbox.state.tables.get(id)?.rows.length, 0);
    const dupe = await api.item('POST', '/testdata/tables/create', { body: { name: 'D', columns: ['x', 'x'] } }).catch((e: unknown) => e);
    assert.ok(dupe instanceof VirtuosoApiError && dupe.status === 400, String(dupe));
    // The state dump and reset include environments and tables.
    const dump = sandbox.state.dump();
    assert.ok(dump.testDataTables.some((x) => x.id === id));
    assert.ok(Array.isArray(dump.environments));
  });

  it('CSV: RFC 4180 both ways (CRLF or LF, a BOM, blank lines, a lone empty field)', () => {
    assert.deepEqual(parseCsv('\uFEFFa,b\r\n1,"x\r\ny"\n\n"",""\n'), [['a', 'b'], ['1', 'x\r\ny'], ['', '']]);
    assert.deepEqual(parseCsv('a\r"b"\r'), [['a'], ['b']]);
    assert.deepEqual(parseCsv(''), []);
    assert.throws(() => parseCsv('"a"b'), (e: AppError) => e.status === 422 && /'b' after a closing quote/.test(e.message));
    // A lone empty field is quoted, or it would read back as a blank line.
    const records = [['only'], [''], ['x']];
    assert.equal(toCsv(records), 'only\r\n""\r\nx\r\n');
    assert.deepEqual(parseCsv(toCsv(records)), records);
  });
});

describe('data commands through POST /commands (schema, structured form, Virtuoso refusals)', () => {
  useStack();
  let fn: Served;
  let sandbox: Sandbox;
  let key: string;

  before(async () => {
    fn = await serve('commands');
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
  });
  after(async () => {
    await fn.close();
    await sandbox.close();
  });
  beforeEach(async () => {
    clearKeyCache();
    const a = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] });
    await storeApiKey(a.record);
    key = a.key;
  });

  const call = (body: object) =>
    request<Out>(`${fn.url}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const ok = async (body: object): Promise<Out> => {
    const res = await call(body);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'succeeded');
    return res.body.output;
  };

  it('checks the new flags against the JSON Schema, in both forms, before any request', async () => {
    const before = sandbox.faults.received.length;
    const cases: [object, RegExp][] = [
      [{ command: 'manage-test-data --get --table-id 5 --colour red' }, /"flag":"--colour","message":"unknown flag --colour; manage-test-data takes --create-table/],
      [{ command: 'manage-test-data', args: { get: true, 'table-id': 5, colour: 'red' } }, /unknown flag --colour/],
      [{ command: 'manage-test-data --get --table-id abc' }, /--table-id must be a numeric id \(e\.g\. 12345 or tbl_12345\), not 'abc'/],
      [{ command: 'manage-test-data', args: { 'export-csv': true, 'table-id': 'abc' } }, /--table-id must be a numeric id/],
      [{ command: 'manage-test-data', args: { 'create-table': 'yes', 'table-name': 'T', columns: 'a' } }, /--create-table must be a flag without a value/],
      [{ command: 'create-environment --name Prod --copy-from abc' }, /--copy-from must be a numeric id \(e\.g\. 12345 or env_12345\)/],
      [{ command: 'create-environment', args: { name: 'Prod', vars: 'A=1' } }, /unknown flag --vars/],
    ];
    for (const [body, message] of cases) {
      const res = await call(body);
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.error.code, 'unprocessable_entity');
      assert.match(JSON.stringify(res.body.error.details), message, JSON.stringify(body));
    }
    const flagsFile = await call({ command: 'create-environment', args: { name: 'Prod', 'variables-file': 'vars.json' } });
    assert.equal(flagsFile.status, 422, flagsFile.text);
    assert.match(flagsFile.body.error.message, /"files"/);
    assert.equal(flagsFile.body.error.details[0].flag, 'vars.json');
    const two = await call({ command: 'manage-test-data --get --export-csv --table-id 5' });
    assert.equal(two.status, 422, two.text);
    assert.match(two.body.error.message, /exactly one of --create-table, --import-csv, --export-csv, --get/);
    assert.equal(sandbox.faults.received.length, before, 'nothing reached Virtuoso');
  });

  it('runs the structured form and CLI strings alike: environment, table, CSV import and export, get', async () => {
    const env = await ok({ command: 'create-environment', args: { name: 'QA', description: 'for QA', variables: 'BASE_URL=https://qa.example.com,RETRIES=3' } });
    assert.deepEqual(env.variables, { BASE_URL: 'https://qa.example.com', RETRIES: '3' });
    const copy = await ok({ command: `create-environment --name QA2 --copy-from ${env.environment_id} --variables RETRIES=5` });
    assert.deepEqual(copy.variables, { BASE_URL: 'https://qa.example.com', RETRIES: '5' });

    const table = await ok({ command: 'manage-test-data', args: { 'create-table': true, 'table-name': 'Users', columns: 'email,name,note' } });
    assert.deepEqual(table.columns, ['email', 'name', 'note']);
    const imported = await ok({ command: 'manage-test-data', args: { 'import-csv': CSV, 'table-id': Number(table.table_id) } });
    assert.equal(imported.rows_imported, 3);
    // The CLI string carries the CSV quoted, line breaks and all.
    const more = await ok({ command: `manage-test-data --import-csv ${sq('email,name,note\n"d@example.com","D, d","x\ny"')} --table-id ${table.table_id}` });
    assert.equal(more.rows_imported, 1);

    const exported = await ok({ command: 'manage-test-data', args: { 'export-csv': true, 'table-id': table.table_id } });
    const all = [...ROWS, ['d@example.com', 'D, d', 'x\ny']];
    assert.deepEqual(exported.rows, asObjects(all));
    assert.deepEqual(parseCsv(exported.csv), [['email', 'name', 'note'], ...all]);
    // Kept in the history as answered (rows as objects: Firestore refuses arrays in arrays).
    const history = await request<Out>(`${fn.url}/commands?limit=1`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(history.body.items[0].command, 'manage-test-data');
    assert.deepEqual(history.body.items[0].output.rows, asObjects(all));
    const got = await ok({ command: `manage-test-data --get --table-id ${table.table_id}` });
    assert.equal(got.row_count, 4);
    assert.equal(got.name, 'Users');
    // Not served from the read cache: a second import shows at once.
    await ok({ command: `manage-test-data --import-csv ${sq('email,name,note\ne,f,g')} --table-id ${table.table_id}` });
    assert.equal((await ok({ command: `manage-test-data --get --table-id ${table.table_id}` })).row_count, 5);
  });

  it("keeps Virtuoso's refusals: unknown table 404, unknown environment 404; a CSV that does not fit is 422", async () => {
    const missing = await call({ command: 'manage-test-data --export-csv --table-id 999999' });
    assert.equal(missing.status, 404, missing.text);
    assert.ok(missing.body.error.details.commandId);
    const noEnv = await call({ command: 'create-environment --name X --copy-from 999999' });
    assert.equal(noEnv.status, 404, noEnv.text);

    const table = await ok({ command: 'manage-test-data --create-table --table-name T --columns a,b' });
    const imports = sandbox.faults.count('POST', '/import$');
    const mismatch = await call({ command: 'manage-test-data', args: { 'import-csv': 'a,c\n1,2', 'table-id': table.table_id } });
    assert.equal(mismatch.status, 422, mismatch.text);
    assert.match(mismatch.body.error.message, /does not match the columns/);
    assert.equal(sandbox.faults.count('POST', '/import$'), imports, 'no import was sent');
  });
});
