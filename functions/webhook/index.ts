/**
 * `webhook` — Virtuoso webhook intake (public, signature-verified), and its inbox.
 *
 * `POST /`: verify the signature on the raw body → parse (JSON or form `payload=`) → dedupe →
 * publish to `webhook-events` and wait for the confirmation → 202. A duplicate inside the dedupe
 * window is acknowledged with 200 and not published again; a publish that fails answers 503 with
 * Retry-After and leaves the delivery unseen, so the sender's retry gets through.
 *
 * `/deliveries…`: the inbox for operators, with an API key of the `admin` scope
 * (shared/webhooks/inbox.ts).
 */
import { authenticate, rateLimit } from '../../shared/auth';
import { getConfig } from '../../shared/config';
import { methodNotAllowed, notFound, unauthenticated, unavailable } from '../../shared/errors';
import { httpFunction, type HttpRequestContext, type HttpResult } from '../../shared/http';
import { secrets } from '../../shared/infra';
import { parseJsonObject } from '../../shared/json';
import { schemas, validateBody } from '../../shared/schemas';
import { getSecretList } from '../../shared/secrets';
import { claimDelivery, dedupeKey, getDelivery, markFailed, markPublished, publishDelivery, replayDelivery } from '../../shared/webhooks/deliveries';
import { bulkReplay, detail, keptFor, listPage, type BulkReplayRequest } from '../../shared/webhooks/inbox';
import { parseWebhookBody, summarize, WEBHOOK_MEDIA_TYPES } from '../../shared/webhooks/payload';
import {
  schemeOf,
  usableStandardSecrets,
  VIRTUOSO_HEADER,
  verifyStandard,
  verifyVirtuoso,
  type VerifiedDelivery,
} from '../../shared/webhooks/signature';
import type { IncomingHttpHeaders } from 'node:http';

const config = getConfig();

async function verify(headers: IncomingHttpHeaders, rawBody: Buffer): Promise<VerifiedDelivery> {
  const scheme = schemeOf(headers);
  if (scheme === 'standard') {
    const keys = usableStandardSecrets(await getSecretList(secrets.webhookSigningSecret));
    if (!keys.length) throw unauthenticated('Standard Webhooks signatures are not accepted by this endpoint');
    return verifyStandard(rawBody, headers, keys, config.webhookToleranceSeconds);
  }
  if (scheme === 'virtuoso') {
    const keys = await getSecretList(secrets.virtuosoWebhookSecret);
    // Without a secret nothing can be verified: a deployment fault, so the sender should retry later.
    if (!keys.length) throw unavailable('Webhook secret is not configured', 60);
    return verifyVirtuoso(rawBody, headers[VIRTUOSO_HEADER] as string, keys);
  }
  throw unauthenticated('Missing webhook signature (X-Virtuoso-Signature or webhook-signature)');
}

/** A delivery id: the SHA-256 of its webhook id or body. */
const DELIVERY_ID = /^[0-9a-f]{64}$/;
const ADMIN_SCOPE = 'admin';

/** The inbox routes (shared/webhooks/inbox.ts). */
async function inbox(ctx: HttpRequestContext): Promise<HttpResult> {
  const principal = await authenticate(ctx.headers, ADMIN_SCOPE);
  const { headers } = await rateLimit(principal, 'deliveries');
  const [, , id, action, extra] = ctx.path.split('/');
  const found = async () => {
    const d = DELIVERY_ID.test(id) ? await getDelivery(id) : undefined;
    if (!d) throw notFound(`No delivery ${id.slice(0, 80)} (${keptFor()})`);
    return d;
  };
  const idempotencyKey = typeof ctx.headers['idempotency-key'] === 'string' ? ctx.headers['idempotency-key'].trim() || undefined : undefined;
  const route = `${ctx.method} /deliveries${id === undefined ? '' : id === 'replay' ? '/replay' : '/:id'}${action === undefined ? '' : `/${action}`}`;
  if (extra !== undefined) throw notFound(`No route ${ctx.method} ${ctx.path}`);
  switch (route) {
    case 'GET /deliveries':
      return { status: 200, body: await listPage(ctx.query), headers };
    case 'GET /deliveries/:id':
      return { status: 200, body: detail(await found()), headers };
    case 'POST /deliveries/:id/replay': {
      await found();
      return { status: 200, body: await replayDelivery(id, idempotencyKey), headers };
    }
    case 'POST /deliveries/replay': {
      const body = validateBody<BulkReplayRequest>(schemas.deliveryReplayRequest, ctx.rawBody.length ? parseJsonObject(ctx.rawBody) : {}, 'replay request');
      return { status: 200, body: await bulkReplay(body, idempotencyKey), headers };
    }
    default:
      if (['GET /deliveries/replay', 'POST /deliveries', 'POST /deliveries/:id', 'GET /deliveries/:id/replay'].includes(route)) {
        throw methodNotAllowed(ctx.method === 'GET' ? ['POST'] : ['GET']);
      }
      throw notFound(`No route ${ctx.method} ${ctx.path}`);
  }
}

httpFunction(
  'webhook',
  { methods: ['GET', 'POST'], maxBodyBytes: config.webhookMaxBodyBytes, accepts: WEBHOOK_MEDIA_TYPES },
  async (ctx) => {
    if (ctx.path === '/deliveries' || ctx.path.startsWith('/deliveries/')) return inbox(ctx);
    // Anything else is intake, on whatever path the sender was given (the load balancer may add one).
    if (ctx.method !== 'POST') throw methodNotAllowed(['POST']);
    const { headers, rawBody, mediaType, log } = ctx;
    const verified = await verify(headers, rawBody);
    const contentType = mediaType ?? 'application/json';
    const payload = parseWebhookBody(rawBody, contentType);
    const summary = summarize(payload);
    const key = dedupeKey(verified, rawBody);
    const dlog = log.child({ deliveryId: key });

    const claim = await claimDelivery({ key, verified, summary, contentType, rawBody });
    if (claim.outcome === 'duplicate') {
      dlog.info('duplicate webhook delivery acknowledged', { event: summary.event });
      return {
        status: 200,
        body: { status: 'duplicate', deliveryId: key, eventId: claim.record.eventId, messageId: claim.record.messageId },
      };
    }

    let published: { messageId: string; eventId: string };
    try {
      const record = { key, ...verified, summary, rawBody, contentType, receivedAt: claim.receivedAt };
      published = await publishDelivery(record, payload);
    } catch (err) {
      await markFailed(key, claim.version, (err as Error).message).catch((e) =>
        dlog.warn('could not release the delivery claim; it lapses with its lease', { error: e }),
      );
      throw err;
    }
    if (!(await markPublished(key, claim.version, published.messageId, published.eventId))) {
      dlog.warn('delivery claim was taken over while publishing; the other owner records it', { messageId: published.messageId });
    }
    dlog.info('webhook accepted', { scheme: verified.scheme, ...summary, messageId: published.messageId });
    return { status: 202, body: { status: 'accepted', deliveryId: key, ...published } };
  },
);
