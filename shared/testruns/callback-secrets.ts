/**
 * Each tenant's Standard Webhooks secret for completion callbacks (`whsec_` + 32 random bytes).
 *
 * Stored in `callback_secrets/{tenantId}` encrypted (AES-256-GCM, the tenant id as additional
 * data, so a record copied to another tenant does not decrypt) with the `callback-signing-key`
 * secret from Secret Manager: neither a Firestore export nor a backup holds a usable secret.
 *
 * The tenant reads it once (`GET /callback-secret`; a second read is a 409) and rotates it
 * (`POST /callback-secret/rotate`, which shows the new one once): for a day after a rotation each
 * callback carries a signature with the previous secret too (webhook-signature is a list), so a
 * receiver can switch over without losing a delivery.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { conflict, dependencyError, unavailable } from '../errors';
import { collections, db } from '../firestore';
import { secrets } from '../infra';
import { getSecretList } from '../secrets';

/** How long the previous secret still signs after a rotation. */
export const ROTATION_GRACE_MS = 24 * 3600 * 1000;

interface Sealed {
  keyId: string;
  iv: string;
  tag: string;
  data: string;
  createdAt: string;
}

interface TenantSecrets {
  tenantId: string;
  current: Sealed;
  previous?: Sealed & { validUntil: string };
  revealedAt: string | null;
}

export interface RevealedSecret {
  secret: string;
  createdAt: string;
  previousValidUntil?: string;
}

interface MasterKey {
  id: string;
  key: Buffer;
}

/** The encryption keys, the first encrypting; a value that is not 32 base64 bytes is hashed into one. */
async function masterKeys(): Promise<MasterKey[]> {
  const values = await getSecretList(secrets.callbackSigningKey);
  if (!values.length) throw unavailable(`Completion callbacks are not configured (secret ${secrets.callbackSigningKey})`, 60);
  return values.map((v) => {
    const raw = Buffer.from(v, 'base64');
    const key = raw.length === 32 && /^[A-Za-z0-9+/]+=*$/.test(v) ? raw : createHash('sha256').update(v).digest();
    return { id: createHash('sha256').update(key).digest('hex').slice(0, 12), key };
  });
}

const aad = (tenantId: string) => Buffer.from(`callback-secret:${tenantId}`);

function seal(secret: Buffer, tenantId: string, master: MasterKey, createdAt: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', master.key, iv).setAAD(aad(tenantId));
  const data = Buffer.concat([cipher.update(secret), cipher.final()]);
  return { keyId: master.id, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64'), createdAt };
}

function open(sealed: Sealed, tenantId: string, keys: MasterKey[]): string {
  const master = keys.find((k) => k.id === sealed.keyId);
  if (!master) throw unavailable(`The key that sealed this tenant's callback secret (${sealed.keyId}) is no longer in ${secrets.callbackSigningKey}`, 60);
  const decipher = createDecipheriv('aes-256-gcm', master.key, Buffer.from(sealed.iv, 'base64')).setAAD(aad(tenantId));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  const secret = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
  return `whsec_${secret.toString('base64')}`;
}

const ref = (tenantId: string) => db().collection(collections.callbackSecrets).doc(tenantId);

async function fs<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw dependencyError('Firestore', err);
  }
}

/**
 * Changes the tenant's record in a transaction: `change` sees the record (or undefined) and
 * returns the new one and what to answer, or throws.
 */
async function update<T>(tenantId: string, change: (current: TenantSecrets | undefined, keys: MasterKey[]) => { next?: TenantSecrets; answer: T }): Promise<T> {
  const keys = await masterKeys();
  return fs(
    db().runTransaction(async (tx) => {
      const snap = await tx.get(ref(tenantId));
      const { next, answer } = change(snap.data() as TenantSecrets | undefined, keys);
      if (next) tx.set(ref(tenantId), next);
      return answer;
    }),
  );
}

const fresh = (tenantId: string, master: MasterKey, now: string) => seal(randomBytes(32), tenantId, master, now);

/** The secret, once: created now if the tenant has none; 409 once it has been shown. */
export function revealCallbackSecret(tenantId: string): Promise<RevealedSecret> {
  return update(tenantId, (current, keys) => {
    const now = new Date().toISOString();
    if (current?.revealedAt) {
      throw conflict(`The callback secret was shown on ${current.revealedAt}; rotate it (POST /callback-secret/rotate) to get a new one`, { revealedAt: current.revealedAt });
    }
    const next: TenantSecrets = current ? { ...current, revealedAt: now } : { tenantId, current: fresh(tenantId, keys[0], now), revealedAt: now };
    return { next, answer: revealed(next, tenantId, keys) };
  });
}

/** A new secret, shown once; the previous one keeps signing for ROTATION_GRACE_MS. */
export function rotateCallbackSecret(tenantId: string): Promise<RevealedSecret> {
  return update(tenantId, (current, keys) => {
    const now = new Date().toISOString();
    const next: TenantSecrets = {
      tenantId,
      current: fresh(tenantId, keys[0], now),
      ...(current ? { previous: { ...current.current, validUntil: new Date(Date.now() + ROTATION_GRACE_MS).toISOString() } } : {}),
      revealedAt: now,
    };
    return { next, answer: revealed(next, tenantId, keys) };
  });
}

function revealed(record: TenantSecrets, tenantId: string, keys: MasterKey[]): RevealedSecret {
  return { secret: open(record.current, tenantId, keys), createdAt: record.current.createdAt, ...(record.previous ? { previousValidUntil: record.previous.validUntil } : {}) };
}

/**
 * The secrets a callback is signed with: the current one, and the previous one within its grace
 * period. A tenant without a secret gets one now (unshown: it can read it once, later).
 */
export async function signingSecrets(tenantId: string): Promise<string[]> {
  const keys = await masterKeys();
  let record = (await fs(ref(tenantId).get())).data() as TenantSecrets | undefined;
  if (!record) {
    record = await update(tenantId, (current) => {
      if (current) return { answer: current };
      const next: TenantSecrets = { tenantId, current: fresh(tenantId, keys[0], new Date().toISOString()), revealedAt: null };
      return { next, answer: next };
    });
  }
  const out = [open(record.current, tenantId, keys)];
  if (record.previous && Date.parse(record.previous.validUntil) > Date.now()) out.push(open(record.previous, tenantId, keys));
  return out;
}

/** Whether callbacks can be signed here (the key is configured): checked when a run asks for one. */
export async function callbacksConfigured(): Promise<void> {
  await masterKeys();
}
