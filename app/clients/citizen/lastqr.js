/*
 * The last credential shown, kept in IndexedDB with its expiry so that it can be shown
 * again without a network (a verifier at a counter with no signal) until it expires;
 * removed once expired, and at logout (session.js).
 */
import {store} from './store.js';

const KEY = 'lastQr';

export async function saveLastQr(issued) {
  await store.set(KEY, issued);
}

/** The last credential if it has not expired yet; an expired one is deleted. */
export async function loadLastQr(now = Date.now()) {
  const saved = await store.get(KEY);
  if (!saved) return null;
  if (Date.parse(saved.expires_at) <= now) {
    await store.delete(KEY);
    return null;
  }
  return saved;
}

export async function dropLastQr() {
  await store.delete(KEY);
}

/**
 * The audience and nonce of a verifier's request, pasted or scanned. Accepted forms:
 * a URL or query string with `aud` (or `audience`) and `nonce` parameters
 * (`vnid-request:?aud=rp:vcb01&nonce=Qx7-kP2mZ9aa`, `https://…/verify/?aud=…&nonce=…`),
 * JSON `{"audience": …, "nonce": …}` (or `aud`, `n`), or the two separated by a space.
 * Returns {audience, nonce} (either may be null); the API checks their shapes again.
 */
export function parseVerifierRequest(text) {
  const raw = String(text || '').trim();
  if (!raw) return {audience: null, nonce: null};
  if (raw.startsWith('{')) {
    try {
      const data = JSON.parse(raw);
      return {audience: data.audience ?? data.aud ?? null, nonce: data.nonce ?? data.n ?? null};
    } catch {
      return {audience: null, nonce: null};
    }
  }
  const query = raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : (raw.includes('=') ? raw : '');
  if (query) {
    const params = new URLSearchParams(query.split('#')[0]);
    return {audience: params.get('aud') || params.get('audience'),
      nonce: params.get('nonce') || params.get('n')};
  }
  const [first, second] = raw.split(/\s+/);
  if (second) return {audience: first, nonce: second};
  return /^[A-Za-z0-9._~-]{8,12}$/.test(first) && !first.includes(':')
    ? {audience: null, nonce: first} : {audience: first, nonce: null};
}
