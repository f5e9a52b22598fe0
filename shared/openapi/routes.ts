/**
 * What each public function serves, operation by operation: the one table the OpenAPI document is
 * built from (document.ts). Bodies and answers name the JSON Schemas of shared/schemas/ by file, so
 * the document says exactly what the functions validate and answer; nothing is written twice.
 * test/integration/openapi.test.ts holds this table to the functions: every route their routers
 * serve is here, and every status here is one a request really gets from them.
 */

/** A schema of shared/schemas/ by file name, or an inline schema for a trivial shape. */
export type SchemaRef = `${string}.json` | { inline: Record<string, unknown> };

export interface Param {
  name: string;
  in: 'query' | 'path' | 'header';
  description: string;
  required?: boolean;
  schema: Record<string, unknown>;
}

export interface Answer {
  description: string;
  /** Media type → schema; none for an empty answer. */
  content?: Record<string, SchemaRef>;
  headers?: Record<string, string>;
}

export interface Operation {
  method: 'get' | 'head' | 'post' | 'delete';
  /** Relative to the function's root, in OpenAPI form (`/test-runs/{id}`). */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** API key with this scope: 401, 403 and 429 are then possible answers. */
  scope?: 'commands' | 'test-runs' | 'admin';
  params?: Param[];
  body?: { required: boolean; content: Record<string, SchemaRef>; description?: string };
  /** Success answers by status. */
  ok: Record<number, Answer>;
  /** Error statuses beyond what `scope` and `body` bring (those are added by document.ts), with when. */
  errors: Record<number, string>;
  /** OpenAPI callbacks (the completion callback of a test run). */
  callbacks?: Record<string, { expression: string; body: SchemaRef; description: string }>;
}

export interface FunctionRoutes {
  /** The function's name in shared/infra.ts (its URL's last segment on cloudfunctions.net). */
  name: 'health' | 'webhook' | 'commands' | 'testRuns';
  description: string;
  operations: Operation[];
}

const json = (schema: SchemaRef) => ({ 'application/json': schema });
const deliveryFilter: Param[] = [
  { name: 'status', in: 'query', description: 'Only deliveries in this state', schema: { enum: ['publishing', 'published', 'failed'] } },
  { name: 'event', in: 'query', description: "Only deliveries whose payload's event is this (e.g. EXECUTION)", schema: { type: 'string', maxLength: 100 } },
  { name: 'since', in: 'query', description: 'Received at or after this time (ISO 8601)', schema: { type: 'string', format: 'date-time' } },
  { name: 'until', in: 'query', description: 'Received before this time (ISO 8601)', schema: { type: 'string', format: 'date-time' } },
];
const deliveryId: Param = { name: 'id', in: 'path', required: true, description: 'The delivery id (64 hex digits)', schema: { type: 'string' } };
const replayKey: Param = { name: 'Idempotency-Key', in: 'header', description: 'The same key replays nothing twice', schema: { type: 'string' } };
const RETRY = 'Retryable trouble (a dependency is down or busy): retry after Retry-After seconds';
const idParam = (what: string): Param => ({ name: 'id', in: 'path', required: true, description: what, schema: { type: 'string' } });
const outputParam: Param = {
  name: 'output',
  in: 'query',
  description: "The CLI's output formats: json (default), yaml, human (one line of text), ai (JSON for assistants)",
  schema: { enum: ['json', 'yaml', 'human', 'ai'], default: 'json' },
};
/** A command's answer in each output format. */
const commandAnswer = (description: string): Answer => ({
  description,
  content: { 'application/json': 'command.json', 'application/yaml': { inline: { type: 'string' } }, 'text/plain': { inline: { type: 'string' } } },
});

/** `GET /openapi.json`: every public function serves its own part of the document. */
const openApiRoute = (fn: string): Operation => ({
  method: 'get',
  path: '/openapi.json',
  operationId: `${fn}OpenApi`,
  summary: "This function's part of the OpenAPI document",
  ok: { 200: { description: 'OpenAPI 3.1', content: json({ inline: { type: 'object', required: ['openapi', 'paths'] } }) } },
  errors: {},
});

export const ROUTES: readonly FunctionRoutes[] = [
  {
    name: 'health',
    description: 'Dependency checks',
    operations: [
      {
        method: 'get',
        path: '/',
        operationId: 'health',
        summary: 'Deep check of Firestore, Redis and Pub/Sub, or liveness (?probe=live)',
        params: [{ name: 'probe', in: 'query', description: 'live: answer without touching any dependency; deep (default): check them', schema: { enum: ['live', 'deep'] } }],
        ok: { 200: { description: 'Every required dependency answers (status ok or degraded); or the liveness answer', content: json({ inline: { oneOf: [{ $ref: 'health-report.json' }, { $ref: 'health-live.json' }] } }) } },
        errors: { 400: "probe is neither 'live' nor 'deep'", 503: 'A required dependency failed: the report (status down), with Retry-After' },
      },
      {
        method: 'head',
        path: '/',
        operationId: 'healthHead',
        summary: 'The deep check, status only',
        ok: { 200: { description: 'Every required dependency answers' } },
        errors: { 503: 'A required dependency failed' },
      },
      openApiRoute('health'),
    ],
  },
  {
    name: 'webhook',
    description: "Virtuoso's webhooks (and Standard Webhooks senders), verified and published on webhook-events; the inbox of recorded deliveries (admin keys)",
    operations: [
      {
        method: 'post',
        path: '/',
        operationId: 'webhook',
        summary: 'Take in a signed webhook delivery',
        description:
          'Signed with X-Virtuoso-Signature (sha1=<hex HMAC-SHA1 of the raw body>) or Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). Any JSON object is accepted.',
        params: [
          { name: 'X-Virtuoso-Signature', in: 'header', description: 'sha1=<hex HMAC-SHA1 of the raw body>', schema: { type: 'string' } },
          { name: 'webhook-id', in: 'header', description: 'Standard Webhooks message id', schema: { type: 'string' } },
          { name: 'webhook-timestamp', in: 'header', description: 'Standard Webhooks: Unix seconds, within ±5 minutes', schema: { type: 'string' } },
          { name: 'webhook-signature', in: 'header', description: 'Standard Webhooks: v1,<base64 HMAC-SHA256>, space-separated', schema: { type: 'string' } },
        ],
        body: {
          required: true,
          content: {
            'application/json': { inline: { type: 'object', description: "The sender's payload (Virtuoso's is only partly known: kept as is)" } },
            'application/x-www-form-urlencoded': { inline: { type: 'object', required: ['payload'], properties: { payload: { type: 'string', description: 'The JSON payload' } } } },
          },
        },
        ok: {
          202: { description: 'Published on webhook-events, confirmed by Pub/Sub', content: json('webhook-receipt.json') },
          200: { description: 'A duplicate of a delivery within the dedupe window: acknowledged, not published again', content: json('webhook-receipt.json') },
        },
        errors: {
          401: 'Missing or wrong signature, or a Standard Webhooks timestamp out of tolerance',
          503: `The publish or the delivery log failed: not marked as seen, so the retry gets through. ${RETRY}`,
        },
      },
      {
        method: 'get',
        path: '/deliveries',
        operationId: 'listDeliveries',
        summary: 'The inbox: recorded deliveries, newest first, filtered',
        scope: 'admin',
        params: [...deliveryFilter, { name: 'limit', in: 'query', description: '1 to 200 (default 50)', schema: { type: 'integer', minimum: 1, maximum: 200 } }, { name: 'pageToken', in: 'query', description: 'nextPageToken of the previous page', schema: { type: 'string' } }],
        ok: { 200: { description: 'One page', content: json('delivery-list.json') } },
        errors: { 400: 'A filter, limit or pageToken that is malformed', 503: RETRY },
      },
      {
        method: 'get',
        path: '/deliveries/{id}',
        operationId: 'getDelivery',
        summary: 'One delivery, with its history and body',
        scope: 'admin',
        params: [deliveryId],
        ok: { 200: { description: 'The delivery', content: json('delivery.json') } },
        errors: { 404: 'No such delivery (or it has expired)', 503: RETRY },
      },
      {
        method: 'post',
        path: '/deliveries/{id}/replay',
        operationId: 'replayDelivery',
        summary: 'Publish a delivery again (a new event, <deliveryId>.replay-<n>)',
        scope: 'admin',
        params: [deliveryId, replayKey],
        ok: { 200: { description: 'Replayed (or, the same Idempotency-Key again, what it replayed)', content: json('delivery-replay.json') } },
        errors: { 404: 'No such delivery (or it has expired)', 503: RETRY },
      },
      {
        method: 'post',
        path: '/deliveries/replay',
        operationId: 'bulkReplayDeliveries',
        summary: 'Replay the deliveries a filter matches (dryRun: list them)',
        scope: 'admin',
        params: [replayKey],
        body: { required: false, content: json('delivery-replay-request.json') },
        ok: { 200: { description: 'What was replayed, or would be', content: json('delivery-bulk-replay.json') } },
        errors: { 400: 'A malformed filter, or no Idempotency-Key for a replay that is not a dry run', 503: RETRY },
      },
      openApiRoute('webhook'),
    ],
  },
  {
    name: 'commands',
    description: 'Virtuoso API CLI commands over HTTPS, run now or queued',
    operations: [
      {
        method: 'post',
        path: '/commands',
        operationId: 'runCommand',
        summary: 'Run one command (a CLI string or structured), now or queued (async: true)',
        scope: 'commands',
        params: [outputParam, { name: 'Idempotency-Key', in: 'header', description: 'A repeat within 24 h returns the original command', schema: { type: 'string', maxLength: 200 } }],
        body: { required: true, content: json('command-request.json') },
        ok: { 200: commandAnswer('The command ran'), 202: { description: 'Queued (async: true): follow statusUrl', content: json('command.json') } },
        errors: {
          400: 'An output format that does not exist',
          404: 'Virtuoso does not know an id the command names',
          409: 'Virtuoso refused a duplicate name; or the Idempotency-Key was used with another body',
          503: `Virtuoso or a dependency is unavailable. ${RETRY}`,
        },
      },
      {
        method: 'post',
        path: '/commands/batch',
        operationId: 'runBatch',
        summary: 'Run an ordered list of commands (up to 200)',
        scope: 'commands',
        params: [{ name: 'Idempotency-Key', in: 'header', description: 'A repeat within 24 h returns the original batch', schema: { type: 'string', maxLength: 200 } }],
        body: { required: true, content: json('batch-request.json') },
        ok: { 200: { description: 'The batch ran: output {status: succeeded|partial|failed, results[]}', content: json('command.json') }, 202: { description: 'Queued (async: true)', content: json('command.json') } },
        errors: { 409: 'The Idempotency-Key was used with another body', 503: RETRY },
      },
      {
        method: 'get',
        path: '/commands',
        operationId: 'listCommands',
        summary: "The caller's command history, newest first",
        scope: 'commands',
        params: [
          { name: 'limit', in: 'query', description: '1 to 100 (default 20)', schema: { type: 'integer', minimum: 1, maximum: 100 } },
          { name: 'pageToken', in: 'query', description: 'nextPageToken of the previous page', schema: { type: 'string' } },
        ],
        ok: { 200: { description: 'One page of history', content: json('command-list.json') } },
        errors: { 503: RETRY },
      },
      {
        method: 'get',
        path: '/commands/{id}',
        operationId: 'getCommand',
        summary: "One command of the caller's tenant",
        scope: 'commands',
        params: [idParam('The command id'), outputParam],
        ok: { 200: commandAnswer('The command') },
        errors: { 400: 'An output format that does not exist', 404: "No such command in the caller's tenant", 503: RETRY },
      },
      {
        method: 'post',
        path: '/sessions',
        operationId: 'createSession',
        summary: 'A session: step commands with its id and no checkpoint use its checkpoint and next position',
        scope: 'commands',
        body: { required: true, content: json('session-request.json') },
        ok: { 201: { description: 'Created', content: json('session.json') } },
        errors: { 503: RETRY },
      },
      {
        method: 'get',
        path: '/sessions',
        operationId: 'listSessions',
        summary: "The caller's live sessions",
        scope: 'commands',
        ok: { 200: { description: 'The sessions', content: json('session-list.json') } },
        errors: { 503: RETRY },
      },
      {
        method: 'get',
        path: '/sessions/{id}',
        operationId: 'getSession',
        summary: 'One session',
        scope: 'commands',
        params: [idParam('The session id (sess_…)')],
        ok: { 200: { description: 'The session', content: json('session.json') } },
        errors: { 404: 'No such live session in the caller\'s tenant', 503: RETRY },
      },
      {
        method: 'delete',
        path: '/sessions/{id}',
        operationId: 'deleteSession',
        summary: 'End a session',
        scope: 'commands',
        params: [idParam('The session id (sess_…)')],
        ok: { 204: { description: 'Ended' } },
        errors: { 404: 'No such live session in the caller\'s tenant', 503: RETRY },
      },
      {
        method: 'get',
        path: '/usage',
        operationId: 'getUsage',
        summary: "The caller's tenant: every API key, its limits (per minute, per day) and its requests per UTC day",
        scope: 'admin',
        params: [{ name: 'days', in: 'query', description: 'How many UTC days, today included (1–31, 7 by default)', schema: { type: 'integer', minimum: 1, maximum: 31 } }],
        ok: { 200: { description: 'The usage', content: json('key-usage.json') } },
        errors: { 400: 'days is not an integer from 1 to 31', 503: RETRY },
      },
      openApiRoute('commands'),
    ],
  },
  {
    name: 'testRuns',
    description: 'Whole tests from a definition: built in Virtuoso, executed, followed to the end and reported',
    operations: [
      {
        method: 'post',
        path: '/test-runs',
        operationId: 'submitTestRun',
        summary: 'Submit a test definition (YAML or JSON), or JSON {definition, dryRun?, execute?, variables?, callbackUrl?}',
        scope: 'test-runs',
        params: [
          { name: 'dryRun', in: 'query', description: 'Validate and answer the plan; nothing is created', schema: { type: 'boolean' } },
          { name: 'execute', in: 'query', description: 'Start the execution once built (default true); false ends the run as built', schema: { type: 'boolean' } },
          { name: 'callbackUrl', in: 'query', description: 'Where to POST the summary when the run ends (for a YAML body; JSON bodies may carry it)', schema: { type: 'string' } },
          { name: 'Idempotency-Key', in: 'header', description: 'A repeat within 24 h returns the same run', schema: { type: 'string', maxLength: 200 } },
        ],
        body: {
          required: true,
          content: {
            'application/yaml': 'test-definition.json',
            'application/json': { inline: { oneOf: [{ $ref: 'test-run-request.json' }, { $ref: 'test-definition.json' }] } },
          },
          description: 'Also text/yaml, application/x-yaml, text/x-yaml and text/plain for YAML',
        },
        ok: {
          202: { description: 'Queued: follow statusUrl', content: json('test-run.json'), headers: { Location: 'The run' } },
          200: { description: 'dryRun: the plan', content: json('test-run-plan.json') },
        },
        errors: {
          400: 'A YAML or JSON syntax error (with line and column), or a query flag that is not true/false',
          409: 'The Idempotency-Key was used with another body',
          422: 'The definition breaks a rule: every problem at once, each with its place; or a callbackUrl that is refused',
          503: RETRY,
        },
        callbacks: {
          completion: {
            expression: '{$request.query.callbackUrl}',
            body: 'test-run-callback.json',
            description:
              'When the run ends: the summary, signed with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) with the tenant\'s secret (GET /callback-secret). Answer 2xx within 15 s; anything else is retried with backoff; 410 stops the retries. The same callback is made for callbackUrl in a JSON body.',
          },
        },
      },
      {
        method: 'get',
        path: '/test-runs',
        operationId: 'listTestRuns',
        summary: "The caller's runs, newest first",
        scope: 'test-runs',
        params: [
          { name: 'status', in: 'query', description: 'Only runs of this status', schema: { $ref: 'test-run.json#/$defs/status' } },
          { name: 'limit', in: 'query', description: '1 to 100 (default 20)', schema: { type: 'integer', minimum: 1, maximum: 100 } },
          { name: 'pageToken', in: 'query', description: 'nextPageToken of the previous page', schema: { type: 'string' } },
        ],
        ok: { 200: { description: 'One page of runs', content: json('test-run-list.json') } },
        errors: { 400: 'An unknown status, a limit out of range, or a pageToken this list did not give out', 503: RETRY },
      },
      {
        method: 'get',
        path: '/test-runs/{id}',
        operationId: 'getTestRun',
        summary: 'Status, progress, the Virtuoso ids with app links, the report links once finished, the callback attempts',
        scope: 'test-runs',
        params: [idParam('The run id (run_…)')],
        ok: { 200: { description: 'The run', content: json('test-run.json') } },
        errors: { 404: "No such run in the caller's tenant", 503: RETRY },
      },
      {
        method: 'post',
        path: '/test-runs/{id}/cancel',
        operationId: 'cancelTestRun',
        summary: 'Cancel a run that has not finished',
        scope: 'test-runs',
        params: [idParam('The run id (run_…)')],
        ok: { 200: { description: 'The cancelled run', content: json('test-run.json') } },
        errors: { 404: "No such run in the caller's tenant", 409: 'The run has already finished', 503: RETRY },
      },
      {
        method: 'get',
        path: '/test-runs/{id}/report',
        operationId: 'getTestRunReport',
        summary: "A finished run's report, JSON or JUnit XML",
        scope: 'test-runs',
        params: [idParam('The run id (run_…)'), { name: 'format', in: 'query', description: 'json (default) or junit', schema: { enum: ['json', 'junit'] } }],
        ok: { 200: { description: 'The report', content: { 'application/json': 'test-run-report.json', 'application/xml': { inline: { type: 'string', description: 'JUnit XML' } } } } },
        errors: { 400: "format is neither 'json' nor 'junit'", 404: "No such run in the caller's tenant", 409: 'The run has no report (yet)', 503: RETRY },
      },
      {
        method: 'get',
        path: '/callback-secret',
        operationId: 'revealCallbackSecret',
        summary: "The tenant's secret for verifying completion callbacks: shown once",
        scope: 'test-runs',
        ok: { 200: { description: 'The secret (created now if the tenant had none)', content: json('callback-secret.json') } },
        errors: { 409: 'The secret was shown already: rotate it to get a new one', 503: 'Callbacks are not configured (no signing key), or a dependency is down' },
      },
      {
        method: 'post',
        path: '/callback-secret/rotate',
        operationId: 'rotateCallbackSecret',
        summary: 'A new secret, shown once; callbacks carry a signature with the previous one too for 24 hours',
        scope: 'test-runs',
        ok: { 200: { description: 'The new secret', content: json('callback-secret.json') } },
        errors: { 503: 'Callbacks are not configured (no signing key), or a dependency is down' },
      },
      openApiRoute('testRuns'),
    ],
  },
];
