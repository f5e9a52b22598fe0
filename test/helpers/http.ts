/**
 * Serves a registered function through the Functions Framework's own server (the same Express
 * stack, body parsers and front door as in production) on a free port, and sends requests to it.
 */
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';

export interface Served {
  url: string;
  close(): Promise<void>;
}

export async function serve(functionName: string, listenPort = 0): Promise<Served> {
  const server: Server = getTestServer(functionName);
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export interface JsonResponse<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function request<T = any>(url: string, init: RequestInit = {}): Promise<JsonResponse<T>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(url, init);
  const text = await res.text();
  let body: T = undefined as T;
  try {
    body = text ? (JSON.parse(text) as T) : (undefined as T);
  } catch {
    /* not JSON: tests assert on `text` and the content type */
  }
  return { status: res.status, headers: res.headers, body, text };
}

export interface RawAnswer {
  /** 0 when the connection closed without an answer. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** From the first byte sent to the connection's close. */
  ms: number;
}

/**
 * Sends bytes on a raw connection — what no HTTP client would send: malformed requests, a body
 * that stops short — and reads what comes back until the server closes the connection (or
 * `timeoutMs` passes: then it is closed here, and `ms` says so).
 */
export function rawExchange(url: string, chunks: readonly string[], timeoutMs = 30_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      for (const c of chunks) socket.write(c);
    });
    let received = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (d: Buffer) => (received += d.toString('utf8')));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const [head = '', ...rest] = received.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: rest.join('\r\n\r\n'), ms: performance.now() - started });
    });
  });
}
