/**
 * HTTP plumbing of the Virtuoso sandbox: Virtuoso's error envelope, JSON answers, body reading.
 * Errors follow VIRTUOSO_API.md §1.2: `{success:false, error:{code:"<string>", message}}` with a 4xx.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class SandboxError extends Error {
  constructor(
    readonly status: number,
    /** Virtuoso's code where the spec records one (1403, 1501, 2500, 2605), else the HTTP status. */
    readonly code: string,
    message: string,
    /** Why, for people debugging: sent as the `X-Sandbox-Detail` header, never in the body. */
    readonly detail?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new SandboxError(400, '400', message);
export const notFound = (what: string) => new SandboxError(404, '404', `${what} not found`);
/** Unknown project — and, as observed live, an unknown checkpoint on step creation. */
export const projectNotFound = () => new SandboxError(404, '1403', 'Project not found');
export const checkpointNotFound = () => new SandboxError(404, '2500', 'Checkpoint not found');
export const invalidStep = (detail: string) => new SandboxError(400, '2605', 'Invalid test step command', detail);

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: SandboxError): void {
  const headers: Record<string, string> = { ...err.headers };
  if (err.detail) headers['x-sandbox-detail'] = encodeURIComponent(err.detail).slice(0, 500);
  sendJson(res, err.status, { success: false, error: { code: err.code, message: err.message } }, headers);
}

const MAX_BODY = 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new SandboxError(413, '413', 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function parseJson(text: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('Request body is not valid JSON');
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A numeric id from a path segment or a body field (number or numeric string), else undefined. */
export function numericId(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v.trim()) && Number(v) > 0) return Number(v);
  return undefined;
}
