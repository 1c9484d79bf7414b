// The VN1 credential format, verified offline in the browser: docs/vn1.md, the
// same checks as the reference verifier (identity/credentials/vn1.py) in the
// same order, with the same reason codes. Nothing but the trust list is needed.
//
//   VN1:<Base45( zlib( CBOR( COSE_Sign1 ) ) )>, signed with ES256 (ECDSA P-256, SHA-256)
//
// The pieces: Base45 from @digitalbazaar/base45 (after an alphabet check of our
// own: that decoder reads a character outside Latin-1 as 0), zlib from the
// browser's DecompressionStream (it checks the header, the Adler-32 and the
// bytes after the stream, and hands the output in pieces, so the 4,096-byte
// bound holds without inflating a bomb), CBOR from cborg (with cbor2's rules:
// no two map keys Python holds equal, at most 16 nested containers, UTF-8 text
// only, a float never mistaken for an integer), the signature from WebCrypto (COSE's raw
// r || s is what WebCrypto's ECDSA takes: no DER here).
import { decode as base45Decode } from '../vendor/@digitalbazaar/base45/lib/index.js';
import { decodeFirst, Token, Tokenizer, Type } from '../vendor/cborg/cborg.js';

export const PREFIX = 'VN1:';
export const MAX_TEXT = 2000;
export const MAX_CBOR = 4096;
export const MAX_LEEWAY = 30;
export const MAX_DEPTH = 16;
const ES256 = -7;
const COSE_SIGN1_TAG = 18;
const BODY_VERSION = 1;
// CWT claim keys (RFC 8392), the private body claim, and COSE header keys (RFC 9052).
const ISS = 1; const AUD = 3; const EXP = 4; const IAT = 6; const CTI = 7;
const VNID_BODY = -65537;
const ALG = 1; const KID = 4;
const BASE45 = /^[0-9A-Z $%*+\-./:]*$/;
const SIGNATURE1 = new TextEncoder().encode('Signature1');
const ECDSA = { name: 'ECDSA', hash: 'SHA-256' };

/** Every reason code of the spec, in the order of the checks. */
export const REASONS = ['malformed', 'unsupported_algorithm', 'unknown_key', 'key_revoked',
  'bad_signature', 'not_yet_valid', 'expired', 'wrong_audience', 'nonce_mismatch', 'revoked',
  'already_used'];

export class VerificationError extends Error {
  constructor(reason, message = '', credentialId = null) {
    super(message ? `${reason}: ${message}` : reason);
    this.name = 'VerificationError';
    this.reason = reason;
    /** Set when the signature verified and a later check failed: the id can be trusted. */
    this.credentialId = credentialId;
  }
}

function fail(reason, message, credentialId) {
  throw new VerificationError(reason, message, credentialId);
}

// --- Bytes -------------------------------------------------------------------------------------

export function b64url(bytes) {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function unb64url(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new Error('not base64url');
  }
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat(-text.length & 3));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A CBOR byte string in its shortest length form (the only one accepted). */
function bstr(data) {
  const size = data.length;
  if (size < 24) return concat(Uint8Array.of(0x40 + size), data);
  if (size < 256) return concat(Uint8Array.of(0x58, size), data);
  return concat(Uint8Array.of(0x59, size >> 8, size & 0xff), data);
}

/** CBOR of ["Signature1", protected, h'', payload]: the bytes ES256 signs. */
export function signedBytes(protectedBytes, payload) {
  return concat(Uint8Array.of(0x84, 0x6a), SIGNATURE1, bstr(protectedBytes), Uint8Array.of(0x40),
    bstr(payload));
}

// --- zlib, with a bound ------------------------------------------------------------------------

async function inflateBounded(compressed, limit) {
  const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream('deflate'));
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();  // rejects on a bad, truncated or padded stream
    if (done) break;
    size += value.length;
    if (size > limit) {
      reader.cancel().catch(() => {});
      throw new Error('too large');
    }
    chunks.push(value);
  }
  return concat(...chunks);
}

// --- CBOR, with cbor2's rules ------------------------------------------------------------------

/** A CBOR float: kept apart from integers (1.0 is not the integer 1 in a VN1 body). */
export class CborFloat {
  constructor(value) { this.value = value; }

  valueOf() { return this.value; }

  toJSON() { return this.value; }
}

/** A CBOR tag this verifier has no meaning for. */
export class CborTag {
  constructor(tag, value) { this.tag = tag; this.value = value; }
}

/** A CBOR simple value other than false, true, null and undefined (cborg has none). */
export class CborSimple {
  constructor(value) { this.value = value; }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** cborg's tokenizer, counting nesting and checking what cbor2 checks and cborg does not. */
class CheckedTokenizer extends Tokenizer {
  constructor(data, options) {
    super(data, options);
    // the open containers, innermost last: items left (Infinity: indefinite), items seen, map?
    this.open = [];
  }

  next() {
    const token = this.read();
    const open = this.open;
    const parent = open[open.length - 1];
    if (token.type === Type.break) {
      // cborg takes a break where a definite container expects an item (a map's value)
      if (!parent || parent.left !== Infinity || (parent.map && parent.seen % 2)) {
        throw new Error('a break out of place');
      }
      open.pop();
      this.closeFinished();
      return token;
    }
    if (open.length > MAX_DEPTH) throw new Error('nesting too deep');
    if (parent) {
      parent.seen += 1;
      parent.left -= 1;  // Infinity stays Infinity
    }
    let items = 0;
    if (token.type === Type.array) items = token.value;
    else if (token.type === Type.map) items = token.value * 2;
    else if (token.type === Type.tag) items = 1;
    if (items > 0) open.push({ left: items, seen: 0, map: token.type === Type.map });
    else this.closeFinished();
    if (token.type === Type.string) STRICT_UTF8.decode(token.byteValue);
    if (token.type === Type.float && !(token.value instanceof CborSimple)) {
      return new Token(Type.float, new CborFloat(token.value), token.encodedLength);
    }
    return token;
  }

  closeFinished() {
    while (this.open.length && this.open[this.open.length - 1].left === 0) this.open.pop();
  }

  /** The next token, with what cbor2 reads and cborg refuses: simple values, and byte or
   *  text strings in chunks (each chunk a definite string of the same kind). */
  read() {
    const first = this.data[this._pos];
    if (first >= 0xe0 && first <= 0xf3) {
      this._pos += 1;
      return new Token(Type.float, new CborSimple(first - 0xe0), 1);
    }
    if (first === 0xf8) {
      const value = this.data[this._pos + 1];
      if (value === undefined || value < 32) throw new Error('a bad simple value');
      this._pos += 2;
      return new Token(Type.float, new CborSimple(value), 2);
    }
    if (first !== 0x5f && first !== 0x7f) return super.next();
    const start = this._pos;
    const major = first >> 5;
    const parts = [];
    this._pos += 1;
    for (;;) {
      const next = this.data[this._pos];
      if (next === undefined) throw new Error('an unfinished string');
      if (next === 0xff) break;
      if (next >> 5 !== major || (next & 31) === 31) throw new Error('a bad string chunk');
      const chunk = super.next();
      const bytes = major === 2 ? chunk.value : (chunk.byteValue || new Uint8Array(0));
      if (major === 3) STRICT_UTF8.decode(bytes);  // each chunk is UTF-8 on its own
      parts.push(bytes);
    }
    this._pos += 1;
    const joined = concat(...parts);
    if (major === 2) return new Token(Type.bytes, joined, this._pos - start);
    const token = new Token(Type.string, new TextDecoder().decode(joined), this._pos - start);
    token.byteValue = joined;
    return token;
  }

}

function bignum(sign) {
  return (decode) => {
    const bytes = decode();
    if (!(bytes instanceof Uint8Array)) throw new Error('a bignum is a byte string');
    const value = bytes.length ? BigInt(`0x${hex(bytes)}`) : 0n;
    return sign < 0 ? -1n - value : value;
  };
}

const isInt = (value) => (typeof value === 'number' && Number.isInteger(value))
  || typeof value === 'bigint';
const pairOfInts = (value) => Array.isArray(value) && value.length === 2
  && value.every(isInt);
const isBytes = (value) => value instanceof Uint8Array;
/** The content cbor2 demands of the tags it decodes (anything else it refuses). */
const TAG_CONTENT = {
  0: (v) => typeof v === 'string'
    && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(v),
  1: (v) => isInt(v) || v instanceof CborFloat,
  4: pairOfInts,
  5: pairOfInts,
  25: () => false,  // a string reference outside any namespace
  29: () => false,  // a shared reference to nothing shared
  30: (v) => pairOfInts(v) && Number(v[1]) !== 0,
  35: (v) => typeof v === 'string' || isBytes(v),
  36: (v) => typeof v === 'string' || v === null,
  37: (v) => isBytes(v) && v.length === 16,
  100: isInt,
  258: Array.isArray,
  260: (v) => isBytes(v) && (v.length === 4 || v.length === 16),
  261: (v) => v instanceof Map,
  1004: (v) => typeof v === 'string' && /^\d{4}-\d\d-\d\d$/.test(v),
};

/** Every tag decodes to a CborTag, but bignums (2, 3), which are integers as in cbor2;
 *  the tags cbor2 gives a meaning to must hold the content it expects. */
const TAGS = new Proxy([], {
  get(target, key) {
    if (key === '2') return bignum(1);
    if (key === '3') return bignum(-1);
    if (typeof key === 'string' && /^\d+$/.test(key)) {
      const tag = Number(key);
      return (decode) => {
        const value = decode();
        if (TAG_CONTENT[tag] && !TAG_CONTENT[tag](value)) throw new Error(`a bad tag ${tag}`);
        return new CborTag(tag, value);
      };
    }
    return target[key];
  },
});

/**
 * A map key as Python compares it (the reference decodes into dicts): 1, 1.0 and true
 * are one key, and so are two byte strings with the same bytes.
 */
function keyOf(key) {
  if (key instanceof CborFloat) return keyOf(key.value);
  if (typeof key === 'boolean') return `n:${Number(key)}`;
  if (typeof key === 'number' || typeof key === 'bigint') return `n:${key}`;
  if (typeof key === 'string') return `s:${key}`;
  if (key instanceof Uint8Array) return `b:${hex(key)}`;
  if (Array.isArray(key)) return `a:[${key.map(keyOf).join(',')}]`;
  if (key instanceof Map) {
    return `m:{${Array.from(key, ([k, v]) => `${keyOf(k)}=${keyOf(v)}`).join(',')}}`;
  }
  if (key instanceof CborTag) return `t:${key.tag}:${keyOf(key.value)}`;
  if (key instanceof CborSimple) return `n:${key.value}`;  // cbor2: CBORSimpleValue(1) == 1
  return `o:${String(key)}`;
}

/** Refuses a map with two keys Python holds equal, anywhere in ``item``. */
function checkKeys(item) {
  if (Array.isArray(item)) item.forEach(checkKeys);
  else if (item instanceof CborTag) checkKeys(item.value);
  else if (item instanceof Map) {
    const seen = new Set();
    for (const [key, value] of item) {
      const id = keyOf(key);
      if (seen.has(id)) throw new Error('a duplicate map key');
      seen.add(id);
      checkKeys(value);
    }
  }
}

/** ``map.get(key)`` with Python's key equality; ``absent`` when no key matches. */
function lookup(map, key, absent = undefined) {
  if (map.has(key)) return map.get(key);
  const id = keyOf(key);
  for (const [candidate, value] of map) if (keyOf(candidate) === id) return value;
  return absent;
}

/** One CBOR item (bytes after it are ignored, as cbor2.loads does). */
function cborLoad(data) {
  const options = { useMaps: true, rejectDuplicateMapKeys: true, allowIndefinite: true,
    allowUndefined: true, allowBigInt: true, retainStringBytes: true, tags: TAGS };
  options.tokenizer = new CheckedTokenizer(data, options);
  const item = decodeFirst(data, options)[0];
  checkKeys(item);
  return item;
}

function cborMap(data, what) {
  let item;
  try {
    item = cborLoad(data);
  } catch (error) {
    fail('malformed', `the ${what} is not CBOR`);
  }
  if (!(item instanceof Map)) fail('malformed', `the ${what} is not a map`);
  return item;
}

// --- The trust list ----------------------------------------------------------------------------

const TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

function parseTime(text) {
  if (text === null || text === undefined) return null;
  if (typeof text !== 'string' || !TIME.test(text)) throw new Error('a trust-list time needs a zone');
  const ms = Date.parse(text.replace(' ', 'T').toUpperCase());
  if (Number.isNaN(ms)) throw new Error('not a time');
  return Math.trunc(ms / 1000);
}

/** The ``kid`` of a public key: the first 8 bytes of SHA-256 over its DER SubjectPublicKeyInfo. */
export async function keyId(publicKey) {
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey));
  return new Uint8Array(await crypto.subtle.digest('SHA-256', spki)).slice(0, 8);
}

const parsedLists = new WeakMap();

/**
 * Parse ``/.well-known/vnid-keys.json`` (the reference verifier's rules): a key that
 * is not EC/P-256/ES256 is skipped; a bad coordinate, a kid that is not the key's,
 * an unknown status or a time without a zone makes the whole list unusable (throws).
 * The result is remembered per document object: parse once, verify many times.
 */
export async function parseTrustList(document) {
  if (document && typeof document === 'object' && parsedLists.has(document)) {
    return parsedLists.get(document);
  }
  if (!document || typeof document !== 'object' || !Array.isArray(document.keys)
      || !('issuer' in document)) {
    throw new Error('not a VN1 trust list');
  }
  const keys = new Map();
  for (const entry of document.keys) {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new Error('a key entry is not an object');
    }
    if (entry.kty !== 'EC' || entry.crv !== 'P-256' || entry.alg !== 'ES256') continue;
    const x = unb64url(entry.x);
    const y = unb64url(entry.y);
    if (x.length !== 32 || y.length !== 32) throw new Error('a P-256 coordinate is 32 bytes');
    const publicKey = await crypto.subtle.importKey(
      'jwk', { kty: 'EC', crv: 'P-256', x: entry.x, y: entry.y, ext: true },
      { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    const kid = unb64url(entry.kid);
    if (!equalBytes(kid, await keyId(publicKey))) throw new Error('a kid does not match its key');
    if (!['active', 'retired', 'revoked'].includes(entry.status)) {
      throw new Error('unknown key status');
    }
    keys.set(hex(kid), { kid, publicKey, status: entry.status,
      notBefore: parseTime(entry.not_before), notAfter: parseTime(entry.not_after) });
  }
  const parsed = { issuer: String(document.issuer), keys };
  parsedLists.set(document, parsed);
  return parsed;
}

// --- Verification ------------------------------------------------------------------------------

/** Steps 1 and 2: the protected header, payload and signature, or ``malformed``. */
async function unpack(text) {
  if (typeof text !== 'string' || text.length > MAX_TEXT || !text.startsWith(PREFIX)) {
    fail('malformed', 'not a VN1 text');
  }
  const body = text.slice(PREFIX.length);
  let compressed;
  try {
    if (!BASE45.test(body)) throw new Error('a character outside Base45');
    compressed = base45Decode(body);
  } catch (error) {
    fail('malformed', 'not Base45');
  }
  let raw;
  try {
    raw = await inflateBounded(compressed, MAX_CBOR);
  } catch (error) {
    fail('malformed', 'not zlib, too large or truncated');
  }
  let sign1;
  try {
    sign1 = cborLoad(raw);
  } catch (error) {
    fail('malformed', 'not CBOR');
  }
  if (!(sign1 instanceof CborTag && sign1.tag === COSE_SIGN1_TAG && Array.isArray(sign1.value)
        && sign1.value.length === 4)) {
    fail('malformed', 'not a COSE_Sign1');
  }
  const [protectedBytes, unprotected, payload, signature] = sign1.value;
  if (!(protectedBytes instanceof Uint8Array && unprotected instanceof Map
        && unprotected.size === 0 && payload instanceof Uint8Array
        && signature instanceof Uint8Array)) {
    fail('malformed', 'COSE_Sign1 fields of the wrong type');
  }
  // Strict: nothing after the item, and shortest length forms only.
  if (raw.length !== 3 + bstr(protectedBytes).length + bstr(payload).length
      + bstr(signature).length) {
    fail('malformed', 'not the one canonical COSE_Sign1 encoding');
  }
  return { protectedBytes, payload, signature };
}

const ABSENT = Symbol('absent');

/** An optional claim: null when absent or null; CBOR undefined is neither (NaN: refused). */
function optional(map, key) {
  const value = lookup(map, key, ABSENT);
  if (value === ABSENT) return null;
  return value === undefined ? NaN : value;
}

/** A claim value as plain data: maps to objects, CBOR floats and small bignums to numbers. */
export function plain(value) {
  if (value instanceof CborFloat) return value.value;
  if (typeof value === 'bigint') {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (value instanceof Map) {
    return Object.fromEntries(Array.from(value, ([k, v]) => [String(k), plain(v)]));
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof CborTag) return { tag: value.tag, value: plain(value.value) };
  if (value instanceof CborSimple) return { simple: value.value };
  return value === undefined ? null : value;
}

function checkClaims(cwt, trusted, kid, { now, audience, nonce, leeway }) {
  const body = lookup(cwt, VNID_BODY);
  const issuer = lookup(cwt, ISS);
  const cti = lookup(cwt, CTI);
  const aud = optional(cwt, AUD);
  const bodyNonce = body instanceof Map ? optional(body, 'n') : null;
  const type = body instanceof Map ? lookup(body, 't') : undefined;
  const claims = body instanceof Map ? lookup(body, 'c') : undefined;
  const version = body instanceof Map ? lookup(body, 'v') : undefined;
  if (!(body instanceof Map && typeof type === 'string' && claims instanceof Map
        && typeof issuer === 'string' && cti instanceof Uint8Array && cti.length === 16
        && (aud === null || typeof aud === 'string')
        && (bodyNonce === null || typeof bodyNonce === 'string')
        && isInt(version) && Number(version) === BODY_VERSION)) {
    fail('malformed', 'the claims are not a VN1 body');
  }
  const iat = lookup(cwt, IAT);
  const exp = lookup(cwt, EXP);
  if (!isInt(iat) || !isInt(exp)) fail('malformed', 'a time claim is not an integer');
  const issuedAt = Number(iat);
  const expiresAt = Number(exp);
  const id = b64url(cti);
  if (issuedAt > now + leeway
      || (trusted.notBefore !== null && issuedAt < trusted.notBefore)
      || (trusted.notAfter !== null && issuedAt > trusted.notAfter)) {
    fail('not_yet_valid', '', id);
  }
  if (expiresAt <= now - leeway) fail('expired', '', id);
  if (audience !== null && audience !== undefined && aud !== audience) {
    fail('wrong_audience', '', id);
  }
  if (nonce !== null && nonce !== undefined && bodyNonce !== nonce) fail('nonce_mismatch', '', id);
  return { type, claims: plain(claims), issuer, issuedAt, expiresAt,
    credentialId: id, kid: b64url(kid), audience: aud, nonce: bodyNonce };
}

async function verifyOrThrow(text, trustList, { now, audience, nonce, leeway }) {
  const moment = now === undefined || now === null ? Date.now() / 1000
    : (now instanceof Date ? now.getTime() / 1000 : Number(now));
  let trust;
  try {
    trust = await parseTrustList(trustList);
  } catch (error) {
    fail('unknown_key', 'the trust list is not usable');
  }
  const bounded = Math.max(0, Math.min(Math.trunc(Number(leeway)) || 0, MAX_LEEWAY));
  const { protectedBytes, payload, signature } = await unpack(text);
  const header = cborMap(protectedBytes, 'protected header');
  const alg = lookup(header, ALG);
  const kid = lookup(header, KID);
  if (!(typeof alg === 'number' && alg === ES256)) fail('unsupported_algorithm', 'only ES256 (-7)');
  const trusted = kid instanceof Uint8Array ? trust.keys.get(hex(kid)) : undefined;
  if (!trusted) fail('unknown_key');
  if (trusted.status === 'revoked') fail('key_revoked');
  if (signature.length !== 64) fail('bad_signature', 'a signature is 64 bytes');
  const good = await crypto.subtle.verify(ECDSA, trusted.publicKey, signature,
    signedBytes(protectedBytes, payload));
  if (!good) fail('bad_signature');
  return checkClaims(cborMap(payload, 'payload'), trusted, kid,
    { now: moment, audience, nonce, leeway: bounded });
}

/**
 * Verify a ``VN1:`` text offline, in the order of the spec.
 *
 * ``trustList``: the JSON document of /.well-known/vnid-keys.json. ``now``: Unix
 * seconds or a Date (default: the clock). ``audience``, ``nonce``: what this
 * verifier expects, or null. ``leeway``: seconds, at most 30 (the default).
 * Never throws: resolves with ``{valid: true, reason: null, type, claims,
 * expiresAt, issuedAt, credentialId, kid, issuer, audience, nonce}`` or
 * ``{valid: false, reason, message, credentialId}`` (``credentialId`` only when
 * the signature verified), ``reason`` one of REASONS.
 */
export async function verifyVn1(text, trustList,
  { now = null, audience = null, nonce = null, leeway = MAX_LEEWAY } = {}) {
  try {
    const verified = await verifyOrThrow(text, trustList, { now, audience, nonce, leeway });
    return { valid: true, reason: null, ...verified };
  } catch (error) {
    if (error instanceof VerificationError) {
      return { valid: false, reason: error.reason, message: error.message,
        credentialId: error.credentialId };
    }
    // Nothing else may escape: an input no check foresaw is malformed.
    return { valid: false, reason: 'malformed', message: String(error && error.message),
      credentialId: null };
  }
}
