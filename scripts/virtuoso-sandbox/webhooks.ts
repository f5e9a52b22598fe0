/**
 * Outgoing webhooks, as Virtuoso sends them (VIRTUOSO_API.md §1.7): a JSON POST signed with
 * `X-Virtuoso-Signature: sha1=<hex HMAC-SHA1 of the raw body>` when a secret is set. Deliveries go
 * out one at a time, in order; a target that is down or answers non-2xx is retried with backoff,
 * then the delivery is given up and logged to stderr — it never takes the sandbox down.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { signVirtuoso } from '../../shared/webhooks/signature';

export interface WebhookDelivery {
  body: string;
  attempts: number;
  /** The target's last status; undefined when it could not be reached. */
  status?: number;
  outcome: 'pending' | 'delivered' | 'failed';
}

export class WebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  private chain: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(
    private readonly url: string,
    private readonly secret: string | undefined,
    private readonly options: { attempts?: number; backoffMs?: number; timeoutMs?: number } = {},
  ) {}

  /** Queues a delivery behind the earlier ones; resolves when it is delivered or given up. */
  send(payload: Record<string, unknown>): Promise<void> {
    const delivery: WebhookDelivery = { body: JSON.stringify(payload), attempts: 0, outcome: 'pending' };
    this.deliveries.push(delivery);
    this.chain = this.chain.then(() => this.deliver(delivery));
    return this.chain;
  }

  /** Waits for every queued delivery. */
  idle(): Promise<void> {
    return this.chain;
  }

  close(): void {
    this.abort.abort();
  }

  private async deliver(d: WebhookDelivery): Promise<void> {
    const attempts = this.options.attempts ?? 4;
    const backoffMs = this.options.backoffMs ?? 200;
    let lastError = '';
    while (d.attempts < attempts && !this.abort.signal.aborted) {
      if (d.attempts > 0) await sleep(backoffMs * 2 ** (d.attempts - 1), undefined, { signal: this.abort.signal }).catch(() => undefined);
      if (this.abort.signal.aborted) break;
      d.attempts++;
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'User-Agent': 'virtuoso-sandbox',
            ...(this.secret ? { 'X-Virtuoso-Signature': signVirtuoso(d.body, this.secret) } : {}),
          },
          body: d.body,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 5000)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        d.status = res.status;
        if (res.ok) {
          d.outcome = 'delivered';
          return;
        }
        lastError = `HTTP ${res.status}`;
      } catch (err) {
        d.status = undefined;
        const e = err as Error & { cause?: { code?: string } };
        lastError = e.cause?.code ?? e.message;
      }
    }
    d.outcome = 'failed';
    if (!this.abort.signal.aborted) {
      console.error(`[virtuoso-sandbox] webhook to ${this.url} given up after ${d.attempts} attempt(s): ${lastError}; body ${d.body}`);
    }
  }
}
