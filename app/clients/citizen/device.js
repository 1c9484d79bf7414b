/*
 * The device key (the mobile contract, examples/mobile_client.py): ECDSA P-256 made by
 * WebCrypto as NON-extractable, the CryptoKey objects kept in IndexedDB; the public key
 * goes to the server as DER SubjectPublicKeyInfo in base64url; a login signs the
 * server's nonce bytes with SHA-256, the signature sent as DER (WebCrypto gives r||s).
 */
import {store} from './store.js';

export function b64urlEncode(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function b64urlDecode(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** One DER INTEGER from a big-endian unsigned number (leading zeros dropped, 0x00 if high bit). */
function derInteger(bytes) {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  let body = bytes.slice(start);
  if (body[0] & 0x80) body = Uint8Array.of(0, ...body);
  return Uint8Array.of(0x02, body.length, ...body);
}

/** WebCrypto's raw r||s (64 bytes for P-256) as an ASN.1 DER ECDSA-Sig-Value. */
export function rawToDer(raw) {
  const bytes = new Uint8Array(raw);
  const half = bytes.length / 2;
  const r = derInteger(bytes.slice(0, half));
  const s = derInteger(bytes.slice(half));
  return Uint8Array.of(0x30, r.length + s.length, ...r, ...s);
}

/** This phone's device: made once (key and random UUID), then read back from IndexedDB. */
export async function loadDevice({create = false} = {}) {
  const saved = await store.get('device');
  if (saved || !create) return saved || null;
  const pair = await crypto.subtle.generateKey({name: 'ECDSA', namedCurve: 'P-256'}, false,
    ['sign', 'verify']);
  const spki = await crypto.subtle.exportKey('spki', pair.publicKey);
  const device = {id: crypto.randomUUID(), key: pair, publicKey: b64urlEncode(spki)};
  await store.set('device', device);
  return device;
}

/** The device's DER signature over the bytes of a base64url nonce, base64url. */
export async function signNonce(device, nonceB64) {
  const raw = await crypto.subtle.sign({name: 'ECDSA', hash: 'SHA-256'}, device.key.privateKey,
    b64urlDecode(nonceB64));
  return b64urlEncode(rawToDer(raw));
}
