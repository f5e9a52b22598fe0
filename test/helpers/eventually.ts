/**
 * Polls `probe` every 100 ms until it gives a value (anything but `undefined`), and returns it; fails
 * naming `what` after `timeoutMs`. For what happens after an answer: a message delivered, a log line
 * written, a span exported.
 */
export async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
