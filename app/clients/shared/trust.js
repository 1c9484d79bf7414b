// The issuer's trust list (/.well-known/vnid-keys.json), kept in the Cache Storage
// and in localStorage (the only one of a plain-http page) so a verifier works with
// the network cut. It is public data: no secret is stored.
export const TRUST_URL = '/.well-known/vnid-keys.json';
export const TRUST_CACHE = 'vnid-trust-v1';
const FETCHED_AT = 'X-VNID-Fetched-At';
const LOCAL_KEY = 'vnid.trust';
/** The server's own cache lifetime (Cache-Control: max-age=300). */
export const TRUST_MAX_AGE = 300;

function readLocal() {
  try {
    const stored = JSON.parse(self.localStorage.getItem(LOCAL_KEY) || 'null');
    return stored && { document: stored.document, fetchedAt: new Date(stored.fetchedAt) };
  } catch (ignored) {
    return null;  // no localStorage (a worker) or an unreadable entry
  }
}

async function readCache() {
  try {
    if (self.caches) {
      const cache = await caches.open(TRUST_CACHE);
      const hit = await cache.match(TRUST_URL);
      if (hit) {
        return { document: await hit.json(), fetchedAt: new Date(hit.headers.get(FETCHED_AT)) };
      }
    }
  } catch (ignored) { /* an unreadable cache is an empty one */ }
  return readLocal();
}

/** Kept twice: in the Cache Storage, and in localStorage in case another worker of
 *  this origin clears the caches (the list is a few kB of public data). */
async function writeCache(document, fetchedAt) {
  try {
    if (self.caches) {
      const cache = await caches.open(TRUST_CACHE);
      await cache.put(TRUST_URL, new Response(JSON.stringify(document), {
        headers: { 'Content-Type': 'application/json', [FETCHED_AT]: fetchedAt.toISOString() },
      }));
    }
  } catch (ignored) { /* full or disabled storage: the list still works for this page */ }
  try {
    self.localStorage.setItem(LOCAL_KEY, JSON.stringify({ document, fetchedAt }));
  } catch (ignored) { /* the same */ }
}

async function download() {
  const response = await fetch(TRUST_URL, { cache: 'no-store', headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`the trust list answered ${response.status}`);
  const document = await response.json();
  if (!document || !Array.isArray(document.keys)) throw new Error('not a trust list');
  return document;
}

/**
 * The trust list: ``{document, fetchedAt: Date, source: 'network'|'cache', error}``.
 *
 * Without ``refresh`` a cached copy younger than ``maxAge`` seconds is used as is;
 * an older one is downloaded again, and kept when the network fails (``error``
 * says why). ``refresh: true`` always tries the network first. Throws only when
 * there is neither a network nor a cached copy.
 */
export async function loadTrustList({ refresh = false, maxAge = TRUST_MAX_AGE } = {}) {
  const cached = await readCache();
  const age = cached ? (Date.now() - cached.fetchedAt.getTime()) / 1000 : Infinity;
  if (cached && !refresh && age < maxAge) return { ...cached, source: 'cache', error: null };
  try {
    const document = await download();
    const fetchedAt = new Date();
    await writeCache(document, fetchedAt);
    return { document, fetchedAt, source: 'network', error: null };
  } catch (error) {
    if (cached) return { ...cached, source: 'cache', error };
    throw error;
  }
}

/** Seconds since the list was fetched. */
export function trustAge(list, now = Date.now()) {
  return Math.max(0, Math.round((now - list.fetchedAt.getTime()) / 1000));
}
