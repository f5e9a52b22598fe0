/**
 * The Virtuoso sandbox: an in-memory simulator of the Virtuoso REST API subset the CLI uses
 * (VIRTUOSO_API.md §1), served over real HTTP. The functions talk to it exactly as to the real API:
 * base URL `http://127.0.0.1:<port>/api`, `Authorization: Bearer <token>`.
 *
 *   node --import tsx scripts/virtuoso-sandbox/server.ts --port 5100 \
 *     [--latency-ms 0] [--execution-ms 1500] [--webhook-url URL --webhook-secret S] [--org 2242] [--token T]
 *
 * Admin routes (outside /api, no auth): `POST /__sandbox/faults` `{latencyMs?, clear?, rules?:
 * [{kind:"429"|"5xx"|"5xx-after"|"hang"|"refuse", count?, method?, path?, status?, retryAfterSeconds?}]}`,
 * `GET /__sandbox/state` (objects, jobs, faults, request log, webhook deliveries),
 * `POST /__sandbox/reset` (empties everything, faults and log included).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Executions } from './executions';
import { FaultControl, type FaultRuleInput } from './faults';
import { isObject, parseJson, readBody, SandboxError, sendError, sendJson } from './http';
import { SandboxState } from './model';
import { findRoute } from './routes';
import { WebhookSender } from './webhooks';

export interface SandboxOptions {
  /** 0 or absent: any free port. */
  port?: number;
  host?: string;
  /** Added to every API request (also settable later through `faults`). */
  latencyMs?: number;
  /** LAUNCHED → FINISHED duration of a simulated execution (default 1500). */
  executionMs?: number;
  webhookUrl?: string;
  webhookSecret?: string;
  /** Delivery attempts per webhook (default 4) and the first backoff (default 200 ms, doubling). */
  webhookAttempts?: number;
  webhookBackoffMs?: number;
  /** When set, the only organization accepted (others: 403). */
  organizationId?: number;
  /** When set, the only bearer token accepted; otherwise any non-empty one. */
  token?: string;
}

export interface Sandbox {
  /** The base URL, ending in /api. */
  url: string;
  port: number;
  state: SandboxState;
  faults: FaultControl;
  readonly executions: Executions;
  webhooks?: WebhookSender;
  close(): Promise<void>;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const state = new SandboxState();
  const faults = new FaultControl(opts.latencyMs ?? 0);
  const webhooks = opts.webhookUrl ? new WebhookSender(opts.webhookUrl, opts.webhookSecret, { attempts: opts.webhookAttempts, backoffMs: opts.webhookBackoffMs }) : undefined;
  const executionMs = opts.executionMs ?? 1500;
  let executions = new Executions(state, executionMs, webhooks);
  const closing = new AbortController();

  const api = async (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, rawQuery: string) => {
    const method = req.method ?? 'GET';
    const { record, rule } = faults.take(method, path, rawQuery);
    const raw = await readBody(req);
    if (faults.latencyMs > 0) await sleep(faults.latencyMs, undefined, { signal: closing.signal });
    if (rule?.kind === 'hang') return; // answered never; the connection is dropped on close()
    if (rule?.kind === '429') {
      throw new SandboxError(429, '429', 'Too many requests', 'injected fault', { 'retry-after': String(rule.retryAfterSeconds) });
    }
    if (rule?.kind === '5xx') throw new SandboxError(rule.status, String(rule.status), 'Service unavailable', 'injected fault');
    if (rule?.kind === 'refuse') throw new SandboxError(400, '2605', 'Invalid test step command', 'injected fault');
    const auth = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S.*)$/i.exec(auth)?.[1]?.trim();
    if (!token || (opts.token !== undefined && token !== opts.token)) throw new SandboxError(401, '401', 'Unauthorized');
    const found = findRoute(method, path.slice('/api'.length) || '/');
    if (!found) throw new SandboxError(404, '404', `No route for ${method} ${path}`);
    const answer = found.handler({ params: found.params, query, body: parseJson(raw), state, executions, organizationId: opts.organizationId });
    if (rule?.kind === '5xx-after') throw new SandboxError(rule.status, String(rule.status), 'Service unavailable', 'injected fault after processing');
    record.answeredBy = 'api';
    if (faults.keepExchanges) Object.assign(record, { body: raw, answer: { status: answer.status, text: answer.body === undefined ? '' : JSON.stringify(answer.body) } });
    sendJson(res, answer.status, answer.body);
  };

  const admin = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/__sandbox/state') {
      return sendJson(res, 200, {
        ...state.dump(), jobs: [...executions.jobs.values()], faults: faults.snapshot(), received: faults.received,
        webhooks: webhooks?.deliveries ?? [],
      });
    }
    if (method === 'POST' && path === '/__sandbox/reset') {
      executions.close();
      executions = new Executions(state, executionMs, webhooks);
      state.clear();
      faults.clear().resetLog();
      return sendJson(res, 200, { success: true });
    }
    if (method === 'POST' && path === '/__sandbox/faults') {
      const b = parseJson(await readBody(req)) ?? {};
      if (!isObject(b)) throw new SandboxError(400, '400', 'Body must be a JSON object');
      try {
        if (b.clear === true) faults.clear();
        if (b.latencyMs !== undefined) faults.setLatency(Number(b.latencyMs));
        if (Array.isArray(b.rules)) for (const r of b.rules) faults.add(r as FaultRuleInput);
      } catch (err) {
        throw new SandboxError(400, '400', (err as Error).message);
      }
      return sendJson(res, 200, faults.snapshot());
    }
    throw new SandboxError(404, '404', `No route for ${method} ${path}`);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const work = path.startsWith('/__sandbox/')
      ? admin(req, res, path)
      : path === '/api' || path.startsWith('/api/')
        ? api(req, res, path, url.searchParams, url.search.slice(1))
        : Promise.reject(new SandboxError(404, '404', `No route for ${req.method} ${path} (the API is under /api)`));
    work.catch((err: unknown) => {
      if (closing.signal.aborted) return;
      if (err instanceof SandboxError) return sendError(res, err);
      console.error('[virtuoso-sandbox] internal error:', err);
      sendError(res, new SandboxError(500, '500', 'Internal server error'));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}/api`,
    port,
    state,
    faults,
    get executions() {
      return executions;
    },
    webhooks,
    close: async () => {
      if (closing.signal.aborted) return;
      closing.abort();
      executions.close();
      webhooks?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function parseArgs(argv: string[]): SandboxOptions {
  const opts: SandboxOptions = {};
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const v = argv[i + 1];
    switch (flag) {
      case '--port': opts.port = num(flag, v); break;
      case '--host': opts.host = v; break;
      case '--latency-ms': opts.latencyMs = num(flag, v); break;
      case '--execution-ms': opts.executionMs = num(flag, v); break;
      case '--webhook-url': opts.webhookUrl = v; break;
      case '--webhook-secret': opts.webhookSecret = v; break;
      case '--org': opts.organizationId = num(flag, v); break;
      case '--token': opts.token = v; break;
      default: throw new Error(`unknown argument ${flag}`);
    }
    i++;
  }
  return opts;
}

if (require.main === module) {
  startSandbox(parseArgs(process.argv.slice(2))).then(
    (sandbox) => {
      console.log(`Virtuoso sandbox: ${sandbox.url}`);
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void sandbox.close().then(() => process.exit(0)));
    },
    (err: unknown) => {
      console.error(`virtuoso-sandbox: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
