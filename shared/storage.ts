/**
 * Cloud Storage: objects in the data bucket (`<project>-virtuoso-data`, shared/infra.ts) with the
 * real `@google-cloud/storage` client. Uploads are one request (multipart, not resumable: the
 * objects are logs, reports and backups, small enough to hold in memory) and verified twice: the
 * service checks the MD5 we send, the library checks the CRC32C it returns (deleting a mismatch),
 * and we check the size. Every call is idempotent (an upload rewrites the same bytes), so all are
 * retried on transient failures (twice, within 30 s: `withRetries`), then answer 503. Locally
 * STORAGE_ENDPOINT points the client at the stand-in of scripts/local-stack/storage-server.ts; with
 * a custom endpoint the library sends no credentials.
 */
import { hash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bucket } from '@google-cloud/storage';
import { getConfig } from './config';
import { withDeadline } from './deadline';
import { AppError, dependencyError, isTransient, notFound, unavailable } from './errors';
import { bucketName } from './infra';
import { traced, type SpanSpec } from './telemetry';

/** Attempts per call, the first included, and the time they may take together. */
const ATTEMPTS = 3;
const RETRY_BUDGET_MS = 30_000;
/** Backoff before the n-th retry: BASE × 2^(n-1), jittered to 50–100 %. */
const BASE_BACKOFF_MS = 1000;

let bucketRef: Bucket | undefined;

function bucket(): Bucket {
  if (!bucketRef) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Storage } = require('@google-cloud/storage') as typeof import('@google-cloud/storage');
    const { projectId, storageEndpoint } = getConfig();
    // The library's own retries are off: on Node 22+ a retried download throws
    // ERR_STREAM_UNABLE_TO_PIPE outside any promise and kills the process (teeny-request pipes the
    // next response into the stream the retry destroyed; googleapis/google-cloud-node#8670, open).
    // `withRetries` retries each whole call instead.
    const retryOptions = { autoRetry: false, maxRetries: 0 };
    const storage = storageEndpoint
      ? new Storage({ apiEndpoint: storageEndpoint.replace(/\/+$/, ''), projectId, retryOptions })
      : new Storage({ retryOptions });
    bucketRef = storage.bucket(bucketName(projectId));
  }
  return bucketRef;
}

function storageError(err: unknown, name: string): AppError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 404) return notFound(`Object ${name} does not exist`);
  // The library's integrity check failed (it deleted the object): sending it again may well work.
  if (typeof code === 'string' && code.startsWith('FILE_NO_UPLOAD')) return unavailable(`Cloud Storage upload of ${name} did not verify`, 5, err);
  return dependencyError('Cloud Storage', err);
}

/**
 * Runs one idempotent Storage call, again after a transient failure (ATTEMPTS in all, within
 * RETRY_BUDGET_MS, jittered backoff), and maps what it finally throws. An upload that did not
 * verify is not resent here: the caller's own retry (a queue's) sends it again later.
 */
async function withRetries<T>(name: string, call: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + RETRY_BUDGET_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const wait = BASE_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      if (attempt >= ATTEMPTS || !isTransient(err) || Date.now() + wait >= giveUpAt) throw storageError(err, name);
      await sleep(wait);
    }
  }
}

/**
 * One span per Storage call (its retries included), named after the JSON API method; the bucket
 * and the object's name (or the listed prefix) as attributes.
 */
function storageSpan(method: string, object: string): () => SpanSpec {
  return () => {
    const { projectId, storageEndpoint } = getConfig();
    return {
      name: `storage.objects.${method}`,
      kind: 'client',
      attributes: {
        'rpc.service': 'storage',
        'rpc.method': `objects.${method}`,
        'server.address': storageEndpoint ? new URL(storageEndpoint).hostname : 'storage.googleapis.com',
        'gcp.storage.bucket': bucketName(projectId),
        'gcp.storage.object': object,
      },
    };
  };
}

export interface StoredObject {
  name: string;
  size: number;
  /** Base64 MD5, as the service reports it. */
  md5?: string;
}

export interface ObjectInfo {
  name: string;
  size: number;
  contentType?: string;
  /** RFC 3339. */
  updated?: string;
}

/** Uploads (creating or replacing) an object in one request and verifies what was stored. */
export async function putObject(
  name: string,
  data: string | Buffer,
  options: { contentType: string; metadata?: Record<string, string> },
): Promise<StoredObject> {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const md5 = hash('md5', body, 'base64');
  const file = bucket().file(name);
  await traced(storageSpan('insert', name), () =>
    withRetries(name, () =>
      file.save(body, {
        resumable: false,
        validation: 'crc32c',
        metadata: { contentType: options.contentType, md5Hash: md5, ...(options.metadata ? { metadata: options.metadata } : {}) },
      }),
    ),
  );
  const size = Number(file.metadata.size);
  const storedMd5 = file.metadata.md5Hash;
  if (size !== body.length || (storedMd5 !== undefined && storedMd5 !== md5)) {
    throw unavailable(`Cloud Storage stored ${size} bytes (md5 ${storedMd5}) of ${name}, sent ${body.length} (md5 ${md5})`);
  }
  return { name, size, ...(storedMd5 ? { md5: storedMd5 } : {}) };
}

/**
 * The object's bytes (CRC32C-checked by the library); not_found when it does not exist. With
 * `deadlineMs` (a request waiting for it), `unavailable` past that time, retries included.
 */
export async function getObject(name: string, options: { deadlineMs?: number } = {}): Promise<Buffer> {
  const download = traced(storageSpan('get', name), () => withRetries(name, () => bucket().file(name).download()));
  const [data] =
    options.deadlineMs === undefined
      ? await download
      : await withDeadline(download, options.deadlineMs, () => unavailable(`Cloud Storage did not answer within ${options.deadlineMs} ms`, 5));
  return data;
}

/** Whether the object exists (one metadata request). */
export async function objectExists(name: string): Promise<boolean> {
  const [exists] = await traced(storageSpan('get', name), () => withRetries(name, () => bucket().file(name).exists()));
  return exists;
}

/** Every object whose name starts with `prefix`, in name order (all pages). */
export async function listObjects(prefix: string): Promise<ObjectInfo[]> {
  const [files] = await traced(storageSpan('list', prefix), () => withRetries(prefix, () => bucket().getFiles({ prefix, autoPaginate: true })));
  return files.map((f) => ({
    name: f.name,
    size: Number(f.metadata.size),
    ...(f.metadata.contentType ? { contentType: f.metadata.contentType } : {}),
    ...(f.metadata.updated ? { updated: f.metadata.updated } : {}),
  }));
}
