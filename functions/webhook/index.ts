/**
 * `webhook` — Virtuoso webhook intake (public, signature-verified).
 *
 * verify the signature on the raw body → parse (JSON or form `payload=`) → dedupe → publish to
 * `webhook-events` and wait for the confirmation → 202. A duplicate inside the dedupe window is
 * acknowledged with 200 and not published again; a publish that fails answers 503 with
 * Retry-After and leaves the delivery unseen, so the sender's retry gets through.
 */
import { getConfig } from '../../shared/config';
import { unauthenticated, unavailable } from '../../shared/errors';
import { httpFunction } from '../../shared/http';
import { secrets } from '../../shared/infra';
import { getSecretList } from '../../shared/secrets';
import { claimDelivery, dedupeKey, markFailed, markPublished, publishDelivery } from '../../shared/webhooks/deliveries';
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

httpFunction(
  'webhook',
  { methods: ['POST'], maxBodyBytes: config.webhookMaxBodyBytes, accepts: WEBHOOK_MEDIA_TYPES },
  async ({ headers, rawBody, mediaType, log }) => {
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
