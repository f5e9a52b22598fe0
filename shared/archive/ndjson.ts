/**
 * Archive objects: gzip-compressed NDJSON (one JSON value per line), and where they go in the data
 * bucket (`logs/{source}/{yyyy-mm-dd}/{hh}/`, hours in UTC). Pure: no I/O.
 */
import { hash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { objectPrefixes } from '../infra';

/**
 * Stored as `application/gzip`, not as NDJSON with `Content-Encoding: gzip`: Cloud Storage would
 * then decompress on download (transcoding), and the bytes read back would not be the bytes written.
 */
export const NDJSON_GZIP = { contentType: 'application/gzip', extension: '.ndjson.gz' } as const;

export function encodeNdjsonGzip(records: readonly unknown[]): Buffer {
  return gzipNdjsonLines(records.map((r) => JSON.stringify(r)));
}

/** The same from lines already encoded (one JSON value each, no newline): for a writer that sizes its objects by their bytes. */
export function gzipNdjsonLines(lines: readonly string[]): Buffer {
  return gzipSync(lines.length ? `${lines.join('\n')}\n` : '');
}

/** The records of an archive object; throws on bytes that are not gzip or a line that is not JSON. */
export function decodeNdjsonGzip(data: Buffer): unknown[] {
  const text = gunzipSync(data).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as unknown);
}

/** `yyyy-mm-dd` and `hh` of an instant, in UTC. */
export function utcHour(at: Date): { day: string; hour: string } {
  const iso = at.toISOString();
  return { day: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

const digestOf = (names: readonly string[]) => hash('sha256', [...names].sort().join('\n'), 'hex').slice(0, 16);
/** ISO 8601 basic format, 20261126T140507123Z: sorts by time, safe in object names. */
export const compactTime = (at: Date) => at.toISOString().replace(/[-:.]/g, '');

/**
 * The object for a batch of records of one source and hour. The name is derived from the records'
 * ids, so archiving the same batch again (a redelivery after a lost acknowledgement) rewrites the
 * same object instead of adding a copy.
 */
export function archiveObjectName(source: string, at: Date, ids: readonly string[]): string {
  const { day, hour } = utcHour(at);
  return `${objectPrefixes.logs(source, day, hour)}${compactTime(at)}-${ids.length}-${digestOf(ids)}${NDJSON_GZIP.extension}`;
}

/** The manifest of a batch's objects, named after them (the same batch, the same manifest). */
export function manifestObjectName(source: string, at: Date, objectNames: readonly string[]): string {
  return `${objectPrefixes.logManifests(utcHour(at).day)}${source}-${compactTime(at)}-${digestOf(objectNames)}.json`;
}
