/**
 * The OpenAPI 3.1 document of the public functions, built from routes.ts and the JSON Schemas the
 * functions validate with (shared/schemas/*.json), so it cannot say something the code does not.
 *
 * - `openApiDocument()`: the whole API as deployed, each function under its name
 *   (`https://{region}-{project}.cloudfunctions.net/testRuns/test-runs/{id}`); `npm run build`
 *   writes it to dist/openapi.json.
 * - `openApiDocument('testRuns')`: one function's part, paths relative to the function's own URL
 *   (a relative server, resolved against where the document was fetched); each public function
 *   serves its part at `GET /openapi.json`.
 *
 * Each schema becomes a component named after its file (`test-run.json` → `TestRun`), its `$id`
 * and `$schema` dropped and its references rewritten to the component (`command.json` →
 * `#/components/schemas/Command`, `#/$defs/x` → `#/components/schemas/TestRun/$defs/x`).
 */
import type { ErrorCode } from '../errors';
import { SCHEMA_FILES } from './schema-files';
import { ROUTES, type Answer, type FunctionRoutes, type Operation, type SchemaRef } from './routes';

type Json = Record<string, unknown>;
export type PublicFunction = FunctionRoutes['name'];

/** `test-run.json` → `TestRun` */
export const componentName = (file: string) =>
  file.replace(/\.json$/, '').split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('');

/** A `$ref` of a schema file, rewritten to point into the document's components. */
function rewriteRef(ref: string, ownComponent: string): string {
  const [file, pointer = ''] = ref.split('#');
  const target = file ? componentName(file.split('/').pop()!) : ownComponent;
  return `#/components/schemas/${target}${pointer}`;
}

function rewrite(value: unknown, own: string): unknown {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, own));
  if (!value || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$id' || k === '$schema') continue;
    out[k] = k === '$ref' && typeof v === 'string' ? rewriteRef(v, own) : rewrite(v, own);
  }
  return out;
}

/** Every component a value refers to, transitively. */
function referenced(value: unknown, components: Json, seen = new Set<string>()): Set<string> {
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/')) {
        const name = x.slice('#/components/schemas/'.length).split('/')[0];
        if (!seen.has(name)) {
          seen.add(name);
          visit(components[name]);
        }
      } else visit(x);
    }
  };
  visit(value);
  return seen;
}

/** Every schema file as a component. */
export function components(): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [file, schema] of Object.entries(SCHEMA_FILES)) {
    const name = componentName(file);
    out[name] = rewrite(schema, name) as Json;
  }
  return out;
}

const schemaOf = (ref: SchemaRef): Json => (typeof ref === 'string' ? { $ref: `#/components/schemas/${componentName(ref)}` } : (rewrite(ref.inline, '') as Json));

const contentOf = (content: Record<string, SchemaRef>) => Object.fromEntries(Object.entries(content).map(([type, ref]) => [type, { schema: schemaOf(ref) }]));

/** Error statuses and the codes (shared/errors.ts) each stands for. */
const ERROR_CODES: Record<number, ErrorCode[]> = {
  400: ['bad_request', 'invalid_json'],
  401: ['unauthenticated'],
  403: ['forbidden'],
  404: ['not_found'],
  409: ['conflict'],
  413: ['payload_too_large'],
  415: ['unsupported_media_type'],
  422: ['unprocessable_entity'],
  429: ['rate_limited'],
  503: ['unavailable'],
};

/** Every error status an operation documents: its own, plus what its API key and its body bring. */
export function errorStatuses(op: Operation): Record<number, string> {
  const out: Record<number, string> = {};
  if (op.scope) {
    out[401] = 'No API key, or an invalid or revoked one';
    out[403] = `The API key lacks the '${op.scope}' scope`;
    out[429] = 'Over the rate limit (per user and endpoint, per minute): retry after Retry-After seconds';
  }
  if (op.body) {
    out[400] = 'A body that is not valid JSON';
    out[413] = 'A body over the limit';
    out[415] = `A body of another media type (${Object.keys(op.body.content).join(', ')}), without Content-Type, or compressed`;
    out[422] = 'Valid JSON of the wrong shape, with the problems in details';
  }
  for (const [status, why] of Object.entries(op.errors)) out[Number(status)] = out[Number(status)] && out[Number(status)] !== why ? `${why}; or: ${out[Number(status)]}` : why;
  return out;
}

const RETRY_AFTER = { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } };

function responseOf(answer: Answer): Json {
  return {
    description: answer.description,
    ...(answer.content ? { content: contentOf(answer.content) } : {}),
    ...(answer.headers ? { headers: Object.fromEntries(Object.entries(answer.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) } : {}),
  };
}

function operationObject(fn: PublicFunction, op: Operation): Json {
  const responses: Json = {};
  for (const [status, answer] of Object.entries(op.ok)) responses[status] = responseOf(answer);
  for (const [status, why] of Object.entries(errorStatuses(op)).sort(([a], [b]) => Number(a) - Number(b))) {
    const codes = ERROR_CODES[Number(status)];
    // health answers its report, not the error body, when a dependency is down.
    const body = fn === 'health' && status === '503' ? { $ref: '#/components/schemas/HealthReport' } : { $ref: '#/components/schemas/Error' };
    responses[status] = {
      description: `${why}${codes ? ` (error.code ${codes.join(' or ')})` : ''}`,
      ...(op.method === 'head' ? {} : { content: { 'application/json': { schema: body } } }),
      ...(status === '429' || status === '503' ? { headers: { 'Retry-After': RETRY_AFTER } } : {}),
    };
  }
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [fn],
    ...(op.scope ? { security: [{ bearerKey: [] }, { headerKey: [] }] } : {}),
    ...(op.params?.length
      ? { parameters: op.params.map((p) => ({ name: p.name, in: p.in, description: p.description, required: p.in === 'path' ? true : (p.required ?? false), schema: rewrite(p.schema, '') })) }
      : {}),
    ...(op.body ? { requestBody: { required: op.body.required, ...(op.body.description ? { description: op.body.description } : {}), content: contentOf(op.body.content) } } : {}),
    responses,
    ...(op.callbacks
      ? {
          callbacks: Object.fromEntries(
            Object.entries(op.callbacks).map(([name, cb]) => [
              name,
              {
                [cb.expression]: {
                  post: {
                    description: cb.description,
                    parameters: ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => ({ name: h, in: 'header', required: true, schema: { type: 'string' } })),
                    requestBody: { required: true, content: contentOf({ 'application/json': cb.body }) },
                    responses: { '2XX': { description: 'Delivered' }, '410': { description: 'Stop: no more attempts' }, default: { description: 'Retried with backoff' } },
                  },
                },
              },
            ]),
          ),
        }
      : {}),
  };
}

const INFO = {
  title: 'Virtuoso API CLI backend',
  version: '1',
  description:
    'Cloud Functions that drive the Virtuoso test-automation platform: CLI commands, whole test runs, webhook intake and health. ' +
    'Errors are always JSON {error: {code, message, details?}}; every answer carries X-Request-Id. The client is `api-cli` (this repository).',
};

const SECURITY_SCHEMES = {
  bearerKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer vak_… (npm run api-keys -- create)' },
  headerKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same key in X-API-Key' },
};

/** The whole API (no argument), or one public function's part. */
export function openApiDocument(only?: PublicFunction): Json {
  const all = components();
  const paths: Record<string, Json> = {};
  for (const fn of ROUTES) {
    if (only && fn.name !== only) continue;
    for (const op of fn.operations) {
      const path = only ? op.path : `/${fn.name}${op.path === '/' ? '' : op.path}`;
      (paths[path] ??= {})[op.method] = operationObject(fn.name, op);
    }
  }
  const used = referenced(paths, all);
  return {
    openapi: '3.1.0',
    info: only ? { ...INFO, title: `${INFO.title}: ${only}` } : INFO,
    servers: only
      ? [{ url: '.', description: `The ${only} function (relative to where this document was fetched)` }]
      : [{ url: 'https://{region}-{project}.cloudfunctions.net', description: 'Cloud Functions (2nd gen) as deploy.sh deploys them', variables: { region: { default: 'us-central1' }, project: { default: 'my-project' } } }],
    tags: ROUTES.filter((f) => !only || f.name === only).map((f) => ({ name: f.name, description: f.description })),
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(all).filter(([name]) => used.has(name)).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

/** Whether a function (by its name in shared/infra.ts) serves a part of the document. */
export const servesOpenApi = (name: string): name is PublicFunction => ROUTES.some((f) => f.name === name);
