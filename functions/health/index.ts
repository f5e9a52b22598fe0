/**
 * `health` — dependency checks over HTTP.
 *
 *   GET /               deep check: 200 when every required dependency answers (ok or degraded),
 *                       503 with Retry-After when a required one fails
 *   GET /?probe=live    shallow: answers without touching any dependency (version, region, runtime)
 */
import { getConfig } from '../../shared/config';
import { badRequest } from '../../shared/errors';
import { httpFunction } from '../../shared/http';
import { cachedChecks } from './checks';

const config = getConfig();
const deepCheck = cachedChecks(config);
/** The Cloud Functions runtime id this process runs on (`nodejs24`), so an operator can confirm it. */
const runtime = `nodejs${process.versions.node.split('.')[0]}`;

httpFunction('health', { methods: ['GET', 'HEAD'] }, async ({ query }) => {
  const probe = query.get('probe');
  if (probe === 'live') {
    return { status: 200, body: { status: 'ok', probe: 'live', version: config.version, region: config.region, runtime } };
  }
  if (probe !== null && probe !== 'deep') throw badRequest("probe must be 'live' or 'deep'");
  const report = await deepCheck();
  if (report.status === 'down') {
    return { status: 503, body: report, headers: { 'Retry-After': String(Math.max(1, Math.ceil(config.healthCacheMs / 1000))) } };
  }
  return { status: 200, body: report };
});
