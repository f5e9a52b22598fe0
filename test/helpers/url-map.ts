/**
 * A stand-in for the load balancer's URL map (scripts/deploy-plan-edge.ts `urlMap`), for tests: an
 * HTTP server that routes each request as the map's route rules say — the first rule by priority
 * whose `fullPathMatch` equals the path or whose `prefixMatch` starts it, the matched part replaced
 * by `pathPrefixRewrite` — to the backend service's stand-in URL, and otherwise to the default
 * service. It reads the same map the deploy plan imports; hosts are not checked (one host here).
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface RouteRule {
  priority: number;
  matchRules: { fullPathMatch?: string; prefixMatch?: string }[];
  service: string;
  routeAction?: { urlRewrite?: { pathPrefixRewrite?: string } };
}

export interface UrlMapLike {
  defaultService: string;
  pathMatchers: { defaultService: string; routeRules: RouteRule[] }[];
}

const backendOf = (serviceUrl: string) => serviceUrl.split('/').pop()!;

/** Where the map sends a path: the backend service's name and the path it forwards. */
export function route(map: UrlMapLike, pathAndQuery: string): { backend: string; path: string } {
  const [path, query] = [pathAndQuery.split('?')[0], pathAndQuery.includes('?') ? pathAndQuery.slice(pathAndQuery.indexOf('?')) : ''];
  const matcher = map.pathMatchers[0];
  for (const rule of [...matcher.routeRules].sort((a, b) => a.priority - b.priority)) {
    for (const m of rule.matchRules) {
      const matched = m.fullPathMatch !== undefined ? (path === m.fullPathMatch ? m.fullPathMatch : undefined) : m.prefixMatch !== undefined && path.startsWith(m.prefixMatch) ? m.prefixMatch : undefined;
      if (matched === undefined) continue;
      const rewrite = rule.routeAction?.urlRewrite?.pathPrefixRewrite;
      return { backend: backendOf(rule.service), path: `${rewrite === undefined ? path : rewrite + path.slice(matched.length)}${query}` };
    }
  }
  return { backend: backendOf(matcher.defaultService), path: pathAndQuery };
}

export interface UrlMapServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the map on a free port; `backends` maps each backend service name to its function's local URL. */
export async function startUrlMap(map: UrlMapLike, backends: Record<string, string>): Promise<UrlMapServer> {
  const server: Server = createServer((req, res) => {
    const { backend, path } = route(map, req.url ?? '/');
    const target = backends[backend];
    if (!target) {
      res.writeHead(502).end(`no stand-in for backend ${backend}`);
      return;
    }
    const url = new URL(path, target);
    const upstream = httpRequest(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => res.writeHead(502).end(String(err)));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
