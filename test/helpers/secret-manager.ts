/**
 * A Secret Manager stand-in for tests: `versions/latest:access` for the secrets it holds (in the one
 * project it serves), Google-style 404 otherwise; every request recorded. The real client library
 * reaches it through SECRET_MANAGER_ENDPOINT (shared/stand-in.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecretName } from '../../shared/infra';

const ACCESS_PATH = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/latest:access$/;

export interface RecordedRequest {
  method: string;
  path: string;
  secret?: string;
}

/** A Secret Manager stand-in: `versions/latest:access` for the secrets it holds, Google-style 404 otherwise. */
export class FakeSecretManager {
  constructor(private readonly project: string) {}

  readonly values = new Map<string, string>();
  /** Answer every request with this HTTP status (e.g. 503) while set. */
  failWith: number | undefined;
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const m = ACCESS_PATH.exec(path);
      this.requests.push({ method: req.method ?? '', path, secret: m?.[2] });
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(body));
      };
      if (this.failWith !== undefined) {
        send(this.failWith, { error: { code: this.failWith, status: 'UNAVAILABLE', message: 'The service is currently unavailable.' } });
        return;
      }
      const value = m && req.method === 'GET' && m[1] === this.project ? this.values.get(m[2]) : undefined;
      if (value === undefined) {
        send(404, { error: { code: 404, status: 'NOT_FOUND', message: `Secret [${path}] not found or has no versions.` } });
        return;
      }
      send(200, {
        name: `projects/${this.project}/secrets/${m![2]}/versions/1`,
        payload: { data: Buffer.from(value, 'utf8').toString('base64') },
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  requestsFor(secret: SecretName): RecordedRequest[] {
    return this.requests.filter((r) => r.secret === secret);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
