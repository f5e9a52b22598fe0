/**
 * Where a completion callback may go (OWASP API7, SSRF): https only, to public addresses only,
 * checked after DNS resolution — every address the name resolves to must be public, and the
 * connection is then made to the address that was checked (no second lookup a rebinding DNS could
 * answer differently). Refused: loopback, private (RFC 1918, unique-local), carrier-grade NAT,
 * link-local (the metadata server at 169.254.169.254 among them), multicast, reserved and
 * documentation ranges, and IPv4 addresses hidden in IPv6 (mapped, NAT64). The local stack and
 * the tests may allow loopback over plain http (CALLBACK_ALLOW_LOOPBACK); nothing else.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const blocked4 = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24],
  ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked4.addSubnet(net, bits, 'ipv4');
const loopback4 = new BlockList();
loopback4.addSubnet('127.0.0.0', 8, 'ipv4');

const blocked6 = new BlockList();
for (const [net, bits] of [['::', 128], ['fe80::', 10], ['fc00::', 7], ['ff00::', 8], ['2001:db8::', 32], ['100::', 64], ['2001::', 32], ['2002::', 16]] as const) {
  blocked6.addSubnet(net, bits, 'ipv6');
}

/** Names of metadata servers, refused whatever they resolve to. */
const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'metadata.goog']);

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), -compatible or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:::ffff:|::|64:ff9b::)(?:0:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return undefined;
  const [hi, lo] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Why a callback may not connect to `address` (an IP literal), or undefined when it may. */
export function forbiddenAddress(address: string, allowLoopback: boolean): string | undefined {
  const family = isIP(address);
  if (family === 4) {
    if (loopback4.check(address, 'ipv4')) return allowLoopback ? undefined : `${address} is a loopback address`;
    if (blocked4.check(address, 'ipv4')) return `${address} is a private, link-local, metadata or reserved address`;
    return undefined;
  }
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4) return forbiddenAddress(v4, allowLoopback);
    if (address === '::1' || /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(address)) return allowLoopback ? undefined : `${address} is a loopback address`;
    if (blocked6.check(address, 'ipv6')) return `${address} is a private, link-local or reserved address`;
    return undefined;
  }
  return `${address} is not an IP address`;
}

/** A refused target: permanent (no retry would change it). */
export class CallbackRefused extends Error {}

/** The URL's shape: https (or loopback http when allowed), no credentials, no metadata host, no refused IP literal. */
export function callbackUrlProblem(raw: string, allowLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `'${raw}' is not a URL`;
  }
  if (url.username || url.password) return 'a callbackUrl may not carry credentials';
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (METADATA_HOSTS.has(host)) return `${host} is a metadata server`;
  if (url.protocol === 'http:') {
    const local = host === 'localhost' || (isIP(host) !== 0 && forbiddenAddress(host, false)?.includes('loopback'));
    if (!(allowLoopback && local)) return 'a callbackUrl must be https';
  } else if (url.protocol !== 'https:') return 'a callbackUrl must be https';
  if (isIP(host)) return forbiddenAddress(host, allowLoopback);
  return undefined;
}

export interface ResolvedTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

/**
 * Resolves the callback's host and checks every address it has; the connection must then go to
 * `address` (pinned), never to a fresh lookup. Throws CallbackRefused for a refused target; DNS
 * failures are thrown as they are (a retry may succeed).
 */
export async function resolveTarget(raw: string, allowLoopback: boolean, resolve: typeof lookup = lookup): Promise<ResolvedTarget> {
  const problem = callbackUrlProblem(raw, allowLoopback);
  if (problem) throw new CallbackRefused(problem);
  const url = new URL(raw);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolve(host, { all: true, verbatim: true });
  if (!addresses.length) throw new Error(`${host} has no address`);
  for (const a of addresses) {
    const why = forbiddenAddress(a.address, allowLoopback);
    if (why) throw new CallbackRefused(`${host} resolves to ${why.replace(/^\S+ is /, `${a.address}, `)}`);
  }
  return { url, address: addresses[0].address, family: addresses[0].family as 4 | 6 };
}
