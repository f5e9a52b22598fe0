/**
 * Random hex ids (trace and span ids) from a pooled buffer, refilled 4 KiB at a time. Each
 * `crypto.randomBytes(n)` call costs a system call and a buffer of its own: three of them per
 * request (a trace id, a span id, the hop's id for Pub/Sub) were about 0.04 ms of the webhook's
 * CPU per request, a third of a hello world's whole request (issue 14). Node's own `randomUUID`
 * pools the same way. Not for secrets: those take `randomBytes` directly (shared/auth.ts).
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  if (bytes > POOL_BYTES) throw new RangeError(`randomHex: at most ${POOL_BYTES} bytes (got ${bytes})`);
  if (offset + bytes > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}
