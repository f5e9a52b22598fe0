/**
 * The local Cloud Storage: a server speaking the subset of the GCS JSON API that the real
 * `@google-cloud/storage` client uses for shared/storage.ts — single-request uploads
 * (`uploadType=multipart` or `media`), downloads (`alt=media`, with the `x-goog-hash` header the
 * client verifies), object metadata, listing by prefix with `nextPageToken` paging, delete.
 * Objects live in a folder so they survive restarts and can be looked at:
 * `<dir>/<bucket>/<object name>` holds the bytes, `<dir>/.metadata/<bucket>/<object name>.json`
 * the resource (contentType, custom metadata, size, md5Hash, crc32c, generation, updated).
 * Any bucket name is accepted (created on first upload). Limits: no resumable uploads, no
 * `delimiter`; an object whose name is a "folder" of another (`a` and `a/b`) cannot both exist.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type Dirent } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative, sep } from 'node:path';

export interface StorageRequest {
  method: string;
  /** The path as sent (object names stay percent-encoded). */
  path: string;
  query: Record<string, string>;
  authorization?: string;
}

export interface StorageServer {
  url: string;
  port: number;
  dir: string;
  requests: StorageRequest[];
  /** Tests: answer every request with this HTTP status while set (e.g. 503). */
  failWith: number | undefined;
  /** Tests: corrupt uploads in flight — what is stored and reported is `tamper(received)`. */
  tamper: ((data: Buffer) => Buffer) | undefined;
  close(): Promise<void>;
}

interface ObjectResource {
  kind: 'storage#object';
  id: string;
  name: string;
  bucket: string;
  generation: string;
  metageneration: string;
  contentType: string;
  storageClass: string;
  size: string;
  md5Hash: string;
  crc32c: string;
  etag: string;
  timeCreated: string;
  updated: string;
  metadata?: Record<string, string>;
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
/** The bucket of a path; GCS's naming rules also keep `..` and slashes out of the folder. */
function bucketOf(raw: string): string {
  const bucket = decodeURIComponent(raw);
  if (!BUCKET.test(bucket) || bucket.includes('..')) throw new HttpError(400, `Invalid bucket name: '${bucket}'`, 'invalid');
  return bucket;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** CRC32C (Castagnoli), big-endian, base64: the `crc32c` of the JSON API. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
export function crc32c(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

/** One path segment per name segment; `%` is escaped first so `''`, `.` and `..` map injectively. */
const encodeSegment = (s: string) => {
  const e = s.replace(/%/g, '%25');
  return e === '' ? '%' : e === '.' ? '%2E' : e === '..' ? '%2E%2E' : e;
};
const decodeSegment = (s: string) => (s === '%' ? '' : s === '%2E' ? '.' : s === '%2E%2E' ? '..' : s.replace(/%25/g, '%'));

/** Splits a multipart/related body into its parts (headers lower-cased, body bytes untouched). */
function parseMultipart(body: Buffer, contentType: string): { headers: Record<string, string>; body: Buffer }[] {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) throw new HttpError(400, 'Missing multipart boundary', 'invalid');
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delimiter);
  while (pos !== -1) {
    let start = pos + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), start);
    if (next === -1) throw new HttpError(400, 'Unterminated multipart body', 'invalid');
    const part = body.subarray(start, next);
    const split = part.indexOf('\r\n\r\n');
    if (split === -1) throw new HttpError(400, 'Multipart part without headers', 'invalid');
    const headers: Record<string, string> = {};
    for (const line of part.subarray(0, split).toString('utf8').split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: part.subarray(split + 4) });
    pos = next + 2;
  }
  return parts;
}

export async function startStorageServer(options: { port?: number; dir: string; maxPageSize?: number }): Promise<StorageServer> {
  const { dir } = options;
  const maxPageSize = options.maxPageSize ?? 1000;
  let generations = 0;

  const dataPath = (bucket: string, name: string) => join(dir, bucket, ...name.split('/').map(encodeSegment));
  const metaPath = (bucket: string, name: string) => `${join(dir, '.metadata', bucket, ...name.split('/').map(encodeSegment))}.json`;

  async function readMeta(bucket: string, name: string): Promise<ObjectResource> {
    try {
      return JSON.parse(await readFile(metaPath(bucket, name), 'utf8')) as ObjectResource;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
      throw new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
    }
  }

  /** Writes to a temporary file, then renames: a reader never sees half an object. */
  async function atomicWrite(path: string, data: Buffer | string): Promise<void> {
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new HttpError(409, `Object name clashes with an existing object (the local stand-in keeps objects as files): ${path}`, 'conflict');
      }
      throw err;
    }
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, data);
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new HttpError(409, `Object name clashes with a folder of other objects: ${path}`, 'conflict');
      throw err;
    }
  }

  async function store(bucket: string, name: string, data: Buffer, resource: Record<string, unknown>, query: Record<string, string>) {
    if (!name || name.length > 1024 || /[\r\n]/.test(name) || name === '.' || name === '..') {
      throw new HttpError(400, `Invalid object name: ${JSON.stringify(name)}`, 'invalid');
    }
    if (query.ifGenerationMatch !== undefined) {
      const current = await readMeta(bucket, name).then((m) => m.generation, () => '0');
      if (current !== query.ifGenerationMatch) throw new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
    }
    const md5Hash = createHash('md5').update(data).digest('base64');
    const crc = crc32c(data);
    if (typeof resource.md5Hash === 'string' && resource.md5Hash !== md5Hash) {
      throw new HttpError(400, `Provided MD5 hash "${resource.md5Hash}" doesn't match calculated MD5 hash "${md5Hash}".`, 'invalid');
    }
    if (typeof resource.crc32c === 'string' && resource.crc32c !== crc) {
      throw new HttpError(400, `Provided CRC32C "${resource.crc32c}" doesn't match calculated CRC32C "${crc}".`, 'invalid');
    }
    const stored = state.tamper ? state.tamper(data) : data;
    const now = new Date().toISOString();
    const generation = String(Date.now() * 1000 + (generations++ % 1000));
    const meta: ObjectResource = {
      kind: 'storage#object',
      id: `${bucket}/${name}/${generation}`,
      name,
      bucket,
      generation,
      metageneration: '1',
      contentType: typeof resource.contentType === 'string' ? resource.contentType : 'application/octet-stream',
      storageClass: 'STANDARD',
      size: String(stored.length),
      md5Hash: createHash('md5').update(stored).digest('base64'),
      crc32c: crc32c(stored),
      etag: createHash('md5').update(generation).digest('base64'),
      timeCreated: now,
      updated: now,
      ...(resource.metadata && typeof resource.metadata === 'object' ? { metadata: resource.metadata as Record<string, string> } : {}),
    };
    await atomicWrite(dataPath(bucket, name), stored);
    await atomicWrite(metaPath(bucket, name), JSON.stringify(meta, null, 2) + '\n');
    return meta;
  }

  /** Every object name in the bucket, in the API's order (UTF-8 bytes). */
  async function names(bucket: string): Promise<string[]> {
    const root = join(dir, '.metadata', bucket);
    let entries: Dirent[];
    try {
      entries = await readdir(root, { recursive: true, withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return entries
      .filter((e) => e.isFile() && e.name.endsWith('.json'))
      .map((e) => relative(root, join(e.parentPath, e.name)).slice(0, -'.json'.length).split(sep).map(decodeSegment).join('/'))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  async function route(req: IncomingMessage, res: ServerResponse, body: Buffer, path: string, query: Record<string, string>) {
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(json));
    };
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (upload && req.method === 'POST') {
      const bucket = bucketOf(upload[1]);
      const contentType = req.headers['content-type'] ?? '';
      if (query.uploadType === 'multipart') {
        const [metaPart, media] = parseMultipart(body, contentType);
        if (!metaPart || !media) throw new HttpError(400, 'A multipart upload needs a metadata part and a media part', 'invalid');
        const resource = JSON.parse(metaPart.body.toString('utf8') || '{}') as Record<string, unknown>;
        const name = typeof resource.name === 'string' ? resource.name : query.name;
        return send(200, await store(bucket, name ?? '', media.body, { contentType: media.headers['content-type'], ...resource }, query));
      }
      if (query.uploadType === 'media') return send(200, await store(bucket, query.name ?? '', body, { contentType: contentType || undefined }, query));
      throw new HttpError(400, `uploadType ${query.uploadType ?? '(none)'} is not supported by the local stand-in`, 'invalid');
    }
    const object = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (object) {
      const bucket = bucketOf(object[1]);
      const name = decodeURIComponent(object[2]);
      const meta = await readMeta(bucket, name);
      if (req.method === 'DELETE') {
        await rm(metaPath(bucket, name), { force: true });
        await rm(dataPath(bucket, name), { force: true });
        res.writeHead(204).end();
        return;
      }
      if (req.method !== 'GET') throw new HttpError(405, `Method ${req.method} is not supported`, 'methodNotAllowed');
      if (query.alt !== 'media') return send(200, meta);
      const data = await readFile(dataPath(bucket, name));
      res.writeHead(200, {
        'content-type': meta.contentType,
        'content-length': data.length,
        'x-goog-hash': `crc32c=${meta.crc32c},md5=${meta.md5Hash}`,
        'x-goog-stored-content-encoding': 'identity',
        'x-goog-generation': meta.generation,
        etag: meta.etag,
      });
      res.end(data);
      return;
    }
    const list = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (list && req.method === 'GET') {
      if (query.delimiter) throw new HttpError(400, 'delimiter is not supported by the local stand-in', 'invalid');
      const bucket = bucketOf(list[1]);
      const prefix = query.prefix ?? '';
      const after = query.pageToken ? Buffer.from(query.pageToken, 'base64url').toString('utf8') : undefined;
      const pageSize = Math.min(Number(query.maxResults) || maxPageSize, maxPageSize);
      const matching = (await names(bucket)).filter(
        (n) => n.startsWith(prefix) && (after === undefined || Buffer.compare(Buffer.from(n), Buffer.from(after)) > 0),
      );
      const page = matching.slice(0, pageSize);
      const items = await Promise.all(page.map((n) => readMeta(bucket, n)));
      const more = matching.length > page.length;
      return send(200, {
        kind: 'storage#objects',
        ...(items.length ? { items } : {}),
        ...(more ? { nextPageToken: Buffer.from(page[page.length - 1]).toString('base64url') } : {}),
      });
    }
    throw new HttpError(404, `No route ${req.method} ${path}`, 'notFound');
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://local');
      const query = Object.fromEntries(u.searchParams);
      state.requests.push({ method: req.method ?? '', path: u.pathname, query, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const fail = (status: number, message: string, reason: string) => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(JSON.stringify({ error: { code: status, message, errors: [{ message, domain: 'global', reason }] } }));
      };
      if (state.failWith !== undefined) return fail(state.failWith, 'The service is currently unavailable.', 'backendError');
      route(req, res, Buffer.concat(chunks), u.pathname, query).catch((err: unknown) =>
        err instanceof HttpError ? fail(err.status, err.message, err.reason) : fail(500, `Local storage failed: ${String(err)}`, 'backendError'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const state: StorageServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    requests: [],
    failWith: undefined,
    tamper: undefined,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return state;
}
