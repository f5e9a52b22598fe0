/**
 * Serves a registered function through the Functions Framework's own server (the same Express
 * stack, body parsers and front door as in production) on a free port, and sends requests to it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
