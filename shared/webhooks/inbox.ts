/**
 * The webhook inbox: what an operator sees of webhook intake, over HTTPS (the admin routes of the
 * `webhook` function, for API keys with the `admin` scope):
 *
 *   GET  /deliveries?status=&event=&since=&until=&limit=&pageToken=   newest first, filtered
 *   GET  /deliveries/{id}                                            one, with its attempts and body
 *   POST /deliveries/{id}/replay                                     publish it again
 *   POST /deliveries/replay  {status?, event?, since?, until?, limit?, dryRun?}   many, by filter
 *
 * Deliveries belong to the deployment, not to a tenant: they come from the one Virtuoso
 * organization the deployment serves and carry no tenant, so an admin key sees all of them.
 *
 * A replay is exactly-once per request: its `Idempotency-Key` (required for a bulk replay that is not
 * a dry run) is recorded on each delivery it replays before the publish (shared/webhooks/deliveries.ts
 * `replayDelivery`), so a retried or concurrent copy of the request publishes nothing twice.
 */
import { badRequest } from '../errors';
import {
  DELIVERY_STATUSES,
  listDeliveries,
  replayDelivery,
  retentionHours,
  type DeliveryCursor,
  type DeliveryFilter,
  type DeliveryRecord,
  type DeliveryStatus,
  type ReplayResult,
} from './deliveries';

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
/** A bulk replay publishes at most this many deliveries per request (the rest: narrow the filter or page by time). */
export const MAX_BULK_REPLAY = 500;
const DEFAULT_BULK_REPLAY = 100;
/** Replays published at once by a bulk replay. */
const REPLAY_CONCURRENCY = 10;

export interface InboxPage {
  items: ReturnType<typeof brief>[];
  nextPageToken?: string;
}

/** A delivery in a listing: no body, no history. */
export function brief(d: DeliveryRecord) {
  return {
    deliveryId: d.key,
    receivedAt: d.receivedAt.toISOString(),
    status: d.status,
    scheme: d.scheme,
    ...(d.webhookId ? { webhookId: d.webhookId } : {}),
    /** What the payload says (event, status, execution, project, goal); `status` above is the delivery's. */
    summary: d.summary,
    ...(d.messageId ? { messageId: d.messageId } : {}),
    attempts: d.attempts,
    duplicates: d.duplicates,
    replays: d.replays,
    ...(d.lastError ? { lastError: d.lastError } : {}),
    expiresAt: d.expiresAt.toISOString(),
  };
}

/** One delivery: its attempts (claims, publishes, failures, replays) and the body as received. */
export function detail(d: DeliveryRecord) {
  const text = d.rawBody.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(d.rawBody);
  return {
    ...brief(d),
    ...(d.publishedAt ? { publishedAt: d.publishedAt.toISOString() } : {}),
    ...(d.lastReplayAt ? { lastReplayAt: d.lastReplayAt.toISOString(), lastReplayMessageId: d.lastReplayMessageId } : {}),
    history: d.history.map((h) => ({ ...h, at: h.at.toISOString() })),
    contentType: d.contentType,
    ...(isText ? { body: text } : { bodyBase64: d.rawBody.toString('base64') }),
  };
}

/** The filter of a listing's query string (or of a bulk replay's body); 400 for anything malformed. */
export function parseFilter(input: { status?: string | null; event?: string | null; since?: string | null; until?: string | null }): DeliveryFilter {
  const filter: DeliveryFilter = {};
  if (input.status) {
    if (!DELIVERY_STATUSES.includes(input.status as DeliveryStatus)) throw badRequest(`status must be one of ${DELIVERY_STATUSES.join(', ')}`);
    filter.status = input.status as DeliveryStatus;
  }
  if (input.event) {
    if (input.event.length > 100) throw badRequest('event is at most 100 characters');
    filter.event = input.event;
  }
  for (const bound of ['since', 'until'] as const) {
    const raw = input[bound];
    if (!raw) continue;
    const t = Date.parse(raw);
    if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(t)) throw badRequest(`${bound} must be an ISO 8601 time (e.g. 2026-12-07T10:00:00Z)`);
    filter[bound] = new Date(t);
  }
  if (filter.since && filter.until && filter.since >= filter.until) throw badRequest('since must be before until');
  return filter;
}

function parseLimit(raw: string | null, fallback: number, max: number): number {
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw badRequest(`limit must be an integer from 1 to ${max}`);
  return n;
}

/** The page token is the last listed delivery (its time and key), opaque to callers. */
export function encodePageToken(c: DeliveryCursor): string {
  return Buffer.from(JSON.stringify([c.receivedAt.toISOString(), c.key])).toString('base64url');
}

export function decodePageToken(token: string): DeliveryCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const [at, key] = Array.isArray(parsed) ? parsed : [];
  const t = typeof at === 'string' ? Date.parse(at) : NaN;
  if (Number.isNaN(t) || typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) throw badRequest('pageToken is not one this API returned');
  return { receivedAt: new Date(t), key };
}

/** GET /deliveries. */
export async function listPage(query: URLSearchParams): Promise<InboxPage> {
  const filter = parseFilter({ status: query.get('status'), event: query.get('event'), since: query.get('since'), until: query.get('until') });
  const limit = parseLimit(query.get('limit'), DEFAULT_PAGE, MAX_PAGE);
  const token = query.get('pageToken');
  const after = token ? decodePageToken(token) : undefined;
  // One more than asked: whether there is a next page.
  const found = await listDeliveries(filter, limit + 1, after);
  const items = found.slice(0, limit);
  const last = items.at(-1);
  return { items: items.map(brief), ...(found.length > limit && last ? { nextPageToken: encodePageToken({ receivedAt: last.receivedAt, key: last.key }) } : {}) };
}

export interface BulkReplayRequest {
  status?: DeliveryStatus;
  event?: string;
  since?: string;
  until?: string;
  limit?: number;
  dryRun?: boolean;
}

export interface BulkReplayResult {
  dryRun: boolean;
  /** Deliveries the filter matched (at most `limit`). */
  matched: number;
  /** True when more deliveries match than `limit`: replay again with a narrower window. */
  truncated: boolean;
  /** A dry run: what would be replayed. */
  deliveries?: ReturnType<typeof brief>[];
  /** A replay: what was published, and what this request had already replayed before (`repeated`). */
  replayed?: ReplayResult[];
  /** Deliveries not replayed: their original publish is still in flight. */
  skipped?: { deliveryId: string; reason: string }[];
}

/** POST /deliveries/replay: `requestId` is the request's Idempotency-Key (required unless a dry run). */
export async function bulkReplay(body: BulkReplayRequest, requestId: string | undefined): Promise<BulkReplayResult> {
  const filter = parseFilter(body);
  const limit = body.limit ?? DEFAULT_BULK_REPLAY;
  const found = await listDeliveries(filter, limit + 1);
  const matched = found.slice(0, limit);
  const truncated = found.length > limit;
  if (body.dryRun) return { dryRun: true, matched: matched.length, truncated, deliveries: matched.map(brief) };
  if (!requestId) throw badRequest('A bulk replay needs an Idempotency-Key header, so that retrying it replays nothing twice (or send dryRun: true)');
  const replayable = matched.filter((d) => d.status !== 'publishing');
  const skipped = matched.filter((d) => d.status === 'publishing').map((d) => ({ deliveryId: d.key, reason: 'its publish is in flight' }));
  const replayed: ReplayResult[] = new Array(replayable.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(REPLAY_CONCURRENCY, replayable.length) }, async () => {
      while (next < replayable.length) {
        const i = next++;
        replayed[i] = await replayDelivery(replayable[i].key, requestId);
      }
    }),
  );
  return { dryRun: false, matched: matched.length, truncated, replayed, ...(skipped.length ? { skipped } : {}) };
}

/** Where deliveries that are gone went, for 404 messages. */
export const keptFor = () => `deliveries are kept ${retentionHours()} hours`;
