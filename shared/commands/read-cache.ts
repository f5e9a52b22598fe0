/**
 * Cached answers of read commands (`api:response:{command}:{paramsHash}`, 5 minutes), kept true
 * after writes through this API by per-resource write times rather than a list of keys to delete.
 *
 * Every Virtuoso object a command names or answers with is a resource tag (`checkpoint:5062`,
 * `library:7`, `org` for the organization's project list). Redis keeps, per tag, when it was last
 * written through this API (`api:written:{tag}`). A cached answer records when its read began and
 * every tag it depends on — the ids in its arguments, and the ids in the answer itself (a
 * journey's checkpoints, so a step created in one of them makes the journey's list stale too). It
 * is served only while none of its tags has been written since its read began. A write marks its
 * tags after its effect (also when it failed: it may have happened in Virtuoso all the same).
 *
 * Tags come from names, not from a table of commands: an argument or answer field `checkpointId`,
 * `checkpoint_id` or `library_checkpoint_id` names a checkpoint or a library checkpoint, and the
 * items of a list are the children of the last object its arguments name (a goal's journeys, a
 * checkpoint's steps). Writes from outside this API (the Virtuoso app) are not seen: the 5-minute
 * TTL bounds those.
 *
 * Write times come from the instances' clocks; an answer counts as stale when a tag was written
 * within CLOCK_ALLOWANCE_MS before its read began, which covers their skew. A mark that cannot
 * be written (Redis unavailable) is kept in memory and written first thing once Redis answers.
 */
import { cacheConfigured, cacheGet, cacheSet, cacheTtlSeconds, withRedis } from '../cache';
import { isPlainObject } from '../json';
import { log } from '../log';

/** The kinds of Virtuoso objects, by the name their ids go by. */
const KINDS: Record<string, string> = {
  project: 'project',
  goal: 'goal',
  snapshot: 'snapshot',
  journey: 'journey',
  testsuite: 'journey',
  checkpoint: 'checkpoint',
  testcase: 'checkpoint',
  library: 'library',
  librarycheckpoint: 'library',
  step: 'step',
  teststep: 'step',
  execution: 'execution',
  job: 'execution',
  analysis: 'analysis',
  table: 'table',
  environment: 'environment',
};
/** What a list under each kind holds (Virtuoso's tree: organization → project → goal → journey → checkpoint → step). */
const CHILD: Record<string, string> = { org: 'project', project: 'goal', goal: 'journey', snapshot: 'journey', journey: 'checkpoint', checkpoint: 'step', library: 'step' };

export const ORG_TAG = 'org';
/** Every answer depends on it too: marking it makes every cached answer stale. */
const EVERYTHING = '*';
/** A written tag outlives every answer that could depend on it. */
const WRITTEN_TTL_SECONDS = 2 * cacheTtlSeconds.apiResponse;
export const CLOCK_ALLOWANCE_MS = 1000;
/** An answer depending on more objects than this is not cached (checking it would cost more than reading it). */
const MAX_TAGS = 500;

const writtenKey = (tag: string) => `api:written:${tag}`;

/** The kind an id field or argument name stands for: `checkpointId`, `checkpoint_id`, `table-id`, `library_checkpoint_id`. */
function kindOfName(name: string): string | undefined {
  const m = /^(.+?)[-_]?id$/i.exec(name);
  return m ? KINDS[m[1].replace(/[-_]/g, '').toLowerCase()] : undefined;
}

const idText = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? /^(?:[a-z]+_)?(\d{1,20})$/.exec(v)?.[1] : undefined);

/** Tags of the ids among a command's arguments and flags, and the kind of the last one (what its lists hold the children of). */
export function argumentTags(values: Record<string, unknown>): { tags: string[]; lastKind?: string } {
  const tags: string[] = [];
  let lastKind: string | undefined;
  for (const [name, value] of Object.entries(values)) {
    const kind = kindOfName(name);
    const id = kind && idText(value);
    if (kind && id) {
      tags.push(`${kind}:${id}`);
      lastKind = kind;
    }
  }
  return { tags, lastKind };
}

/**
 * Tags of the ids in an answer: fields named for a kind (two levels deep), a top-level `id` (the
 * object the command names), and the `id` of each item of a top-level list (children of `lastKind`).
 */
export function answerTags(output: unknown, lastKind: string | undefined): string[] {
  const tags: string[] = [];
  const fields = (o: Record<string, unknown>, depth: number) => {
    for (const [k, v] of Object.entries(o)) {
      const kind = k === 'id' ? undefined : kindOfName(k);
      const id = kind && idText(v);
      if (kind && id) tags.push(`${kind}:${id}`);
      else if (depth < 2 && isPlainObject(v)) fields(v, depth + 1);
    }
  };
  if (Array.isArray(output)) {
    const child = CHILD[lastKind ?? ORG_TAG];
    for (const item of output) {
      if (!isPlainObject(item)) continue;
      const id = idText(item.id);
      if (child && id) tags.push(`${child}:${id}`);
      fields(item, 1);
    }
  } else if (isPlainObject(output)) {
    const id = idText(output.id);
    if (lastKind && id) tags.push(`${lastKind}:${id}`);
    fields(output, 0);
  }
  return tags;
}

interface Entry {
  /** When the read began (ms since the epoch). */
  at: number;
  tags: string[];
  value: unknown;
}

/**
 * A read command's answer: from the cache when no write through this API touched any of its tags
 * since it was read, else from `read` (and cached with its tags).
 */
export async function cachedRead<T>(
  key: string,
  argTags: { tags: string[]; lastKind?: string },
  read: () => Promise<T>,
  /** The part of the value that is Virtuoso's answer (its ids are tags); the whole value by default. */
  answerOf: (value: T) => unknown = (value) => value,
): Promise<T> {
  if (cacheConfigured()) {
    await flushPendingMarks();
    const hit = await cacheGet<Entry>(key);
    if (hit && typeof hit.at === 'number' && Array.isArray(hit.tags) && (await unwrittenSince(hit.tags, hit.at))) return hit.value as T;
  }
  const at = Date.now();
  const value = await read();
  const tags = unique([EVERYTHING, ...(argTags.tags.length ? argTags.tags : [ORG_TAG]), ...answerTags(answerOf(value), argTags.lastKind)]);
  if (tags.length <= MAX_TAGS) await cacheSet(key, { at, tags, value } satisfies Entry, cacheTtlSeconds.apiResponse);
  return value;
}

/** True when no tag was written since `at` (allowing for clock skew); false when Redis cannot tell. */
async function unwrittenSince(tags: string[], at: number): Promise<boolean> {
  if (!tags.length) return true;
  try {
    const times = await withRedis((c) => c.mGet(tags.map(writtenKey)));
    return times.every((t) => t == null || Number(t) < at - CLOCK_ALLOWANCE_MS);
  } catch {
    return false;
  }
}

/** Marks `tags` as written now: every cached answer that depends on one of them is stale from here on. */
export async function markWritten(tags: readonly string[]): Promise<void> {
  if (!tags.length || !cacheConfigured()) return;
  const now = Date.now();
  for (const tag of tags) pendingMarks.set(tag, now);
  await flushPendingMarks();
}

/** Marks written but not yet stored (Redis did not answer): stored before the next read is checked. */
const pendingMarks = new Map<string, number>();
const MAX_PENDING_MARKS = 10_000;

async function flushPendingMarks(): Promise<void> {
  if (!pendingMarks.size) return;
  const marks = [...pendingMarks];
  try {
    await withRedis(async (c) => {
      const tx = c.multi();
      for (const [tag, time] of marks) tx.set(writtenKey(tag), String(time), { EX: WRITTEN_TTL_SECONDS });
      await tx.exec();
    });
    for (const [tag, time] of marks) if (pendingMarks.get(tag) === time) pendingMarks.delete(tag);
  } catch (err) {
    if (pendingMarks.size > MAX_PENDING_MARKS) {
      // Too many to keep: every answer cached before now is stale.
      pendingMarks.clear();
      pendingMarks.set(EVERYTHING, Date.now());
      log.warn('too many cache invalidations pending while Redis is unavailable; the next one covers everything', { error: (err as Error).message });
    }
  }
}

const unique = (xs: string[]) => [...new Set(xs)];

/** Forgets marks not yet stored (tests). */
export function clearPendingMarks(): void {
  pendingMarks.clear();
}
