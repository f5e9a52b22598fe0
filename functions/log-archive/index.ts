/**
 * `logArchive` — private; Cloud Scheduler calls it hourly with an OIDC token (schedule
 * `log-archive` in shared/infra.ts).
 *
 *   POST /   {sources?, maxSeconds?} → 200 with what was archived: per source the records and the
 *            objects under logs/{source}/{yyyy-mm-dd}/{hh}/, and the manifests written
 *
 * Drains the archive subscriptions and ages out old command history into gzip NDJSON in Cloud
 * Storage (shared/archive/log-archive.ts). Trouble with Storage, Pub/Sub or Firestore answers 503:
 * nothing unarchived was acknowledged or deleted, and the next run (or Scheduler's retry) goes on.
 */
import { getConfig } from '../../shared/config';
import { badRequest } from '../../shared/errors';
import { httpFunction } from '../../shared/http';
import { parseJsonObject } from '../../shared/json';
import { archiveSources, runLogArchive } from '../../shared/archive/log-archive';
import { schemas, validateBody } from '../../shared/schemas';

const config = getConfig();

httpFunction('logArchive', { methods: ['POST'] }, async ({ rawBody, log }) => {
  const body = validateBody<{ sources?: string[]; maxSeconds?: number }>(schemas.logArchiveRequest, rawBody.length ? parseJsonObject(rawBody) : {}, 'log-archive request');
  const known = archiveSources();
  const unknown = (body.sources ?? []).filter((s) => !known.includes(s));
  if (unknown.length) throw badRequest(`Unknown source(s): ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const report = await runLogArchive({ sources: body.sources, budgetMs: (body.maxSeconds ?? config.archiveBudgetSeconds) * 1000, log });
  return { status: 200, body: report };
});
