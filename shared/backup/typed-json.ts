/**
 * Firestore values as plain JSON that keeps their types, for portable backups: a restore writes
 * back timestamps, bytes, geo points and references, not strings that look like them.
 *
 *   Timestamp          → {"$timestamp": {"seconds": 1764165600, "nanos": 123000000}}
 *   bytes (Buffer)     → {"$bytes": "<base64>"}
 *   GeoPoint           → {"$geo": [latitude, longitude]}
 *   DocumentReference  → {"$ref": "collection/doc/…"}
 *   NaN, ±Infinity     → {"$double": "NaN"} (JSON has no such numbers)
 *   a map with a key starting with "$" → {"$map": {…}}, so no stored map is mistaken for a tag
 *
 * Everything else (null, booleans, numbers, strings, arrays, maps) is JSON as it is. Pure, apart
 * from the Firestore classes a decode builds.
 */
import type { Firestore } from '@google-cloud/firestore';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const TAGS = ['$timestamp', '$bytes', '$geo', '$ref', '$double', '$map'] as const;

function isTimestamp(v: object): v is { seconds: number; nanoseconds: number; toDate(): Date } {
  return typeof (v as { toDate?: unknown }).toDate === 'function' && typeof (v as { seconds?: unknown }).seconds === 'number';
}
function isGeoPoint(v: object): v is { latitude: number; longitude: number } {
  return v.constructor?.name === 'GeoPoint';
}
function isReference(v: object): v is { path: string } {
  return v.constructor?.name === 'DocumentReference';
}

export function encodeValue(v: unknown): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $double: String(v) };
  if (typeof v !== 'object') throw new Error(`cannot back up a ${typeof v}`);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (isTimestamp(v)) return { $timestamp: { seconds: v.seconds, nanos: v.nanoseconds } };
  if (isGeoPoint(v)) return { $geo: [v.latitude, v.longitude] };
  if (isReference(v)) return { $ref: v.path };
  const out: { [k: string]: Json } = {};
  for (const [k, x] of Object.entries(v)) out[k] = encodeValue(x);
  return Object.keys(out).some((k) => k.startsWith('$')) ? { $map: out } : out;
}

/** The value to write back, built with the Firestore classes of `db`'s library. */
export function decodeValue(v: Json, db: Firestore): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => decodeValue(x, db));
  const keys = Object.keys(v);
  if (keys.length === 1 && (TAGS as readonly string[]).includes(keys[0])) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Timestamp, GeoPoint } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
    const x = v[keys[0]];
    switch (keys[0]) {
      case '$timestamp': {
        const t = x as { seconds: number; nanos: number };
        return new Timestamp(t.seconds, t.nanos);
      }
      case '$bytes':
        return Buffer.from(x as string, 'base64');
      case '$geo': {
        const [lat, lng] = x as [number, number];
        return new GeoPoint(lat, lng);
      }
      case '$ref':
        return db.doc(x as string);
      case '$double':
        return Number(x);
      case '$map':
        return Object.fromEntries(Object.entries(x as { [k: string]: Json }).map(([k, y]) => [k, decodeValue(y, db)]));
    }
  }
  return Object.fromEntries(keys.map((k) => [k, decodeValue(v[k], db)]));
}

export type { Json };
