/**
 * One deadline helper for every call to a dependency: rejects with `onTimeout()` when `promise`
 * has not settled within `ms`. (The call itself may still finish later; callers are idempotent.)
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
