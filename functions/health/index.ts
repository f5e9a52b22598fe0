/**
 * `health` — dependency checks over HTTP.
 *
 *   GET /               deep check: 200 when every required dependency answers (ok or degraded),
 *                       503 with Retry-After when a required one fails
 *   GET /?probe=live    shallow: answers without touching any dependency (version, region, runtime);
 *                       the one answer a shared cache may keep (Cache-Control: public, a few seconds):
 *                       Cloud CDN serves it at the edge (shared/infra.ts `edge.cdn`)
 *
 * Any other path is 404: behind the load balancer health is also the URL map's default route.
 */
import { getConfig } from '../../shared/config';
import { badRequest, notFound } from '../../shared/errors';
import { httpFunction, type HttpResult } from '../../shared/http';
import { cachedChecks } from './checks';

const config = getConfig();
const deepCheck = cachedChecks(config);
/** The Cloud Functions runtime id this process runs on (`nodejs24`), so an operator can confirm it. */
const runtime = `nodejs${process.versions.node.split('.')[0]}`;

/** How long a shared cache (Cloud CDN) may serve a liveness answer. */
const LIVENESS_MAX_AGE_SECONDS = 5;

httpFunction('health', { methods: ['GET', 'HEAD'] }, async ({ path, query }): Promise<HttpResult> => {
  if (path !== '/') throw notFound(`No route ${path.slice(0, 100)}: health answers at its root`);
  const probe = query.get('probe');
  if (probe === 'live') {
    const body = { status: 'ok', probe: 'live', version: config.version, region: config.region, runtime };
    return { status: 200, body, headers: { 'Cache-Control': `public, max-age=${LIVENESS_MAX_AGE_SECONDS}` } };
  }
  if (probe !== null && probe !== 'deep') throw badRequest("probe must be 'live' or 'deep'");
  const report = await deepCheck();
  if (report.status === 'down') {
    return { status: 503, body: report, headers: { 'Retry-After': String(Math.max(1, Math.ceil(config.healthCacheMs / 1000))) } };
  }
  return { status: 200, body: report };
});
