/*
 * The citizen's app's service worker (scope /app/): the app opens without a network.
 *
 * It keeps the shell (/app/), the shared modules (/clients/shared/) and the vendored
 * libraries (/clients/vendor/) in a cache, precaching the shell on install. Those are
 * fetched from the network first (a deploy reaches the phone at once) and taken from
 * the cache only when the network fails. Nothing else is touched: API answers
 * (/api/...) carry personal data and tokens, and are never put in a cache; the last QR
 * shown offline is kept by the app itself (IndexedDB, until it expires).
 */
const CACHE = 'vnid-citizen-v1';
const SHELL = [
  '/app/', '/app/app.js', '/app/app.css', '/app/manifest.webmanifest', '/app/strings.js',
  '/app/dom.js', '/app/store.js', '/app/device.js', '/app/session.js',
  '/app/icons/icon.svg', '/app/icons/icon-192.png',
  '/app/screens/index.js', '/app/screens/home.js', '/app/screens/qr.js',
  '/app/screens/history.js', '/app/screens/sharing.js', '/app/screens/consents.js',
  '/app/screens/login.js', '/app/screens/register.js', '/app/screens/unlock.js',
  '/app/lastqr.js',
  '/clients/shared/api.js', '/clients/shared/i18n.js', '/clients/shared/qr.js',
  '/clients/shared/base.css', '/clients/vendor/uqr/dist/index.mjs',
];
/** Files of other parts, cached when they exist (the utilities' screens). */
const OPTIONAL = ['/app/utilities.css', '/app/screens/utilities-kit.js',
  '/app/screens/reports.js', '/app/screens/reports-keys.js', '/app/screens/residence.js',
  '/app/screens/payments.js'];
const CACHED_PREFIXES = ['/app/', '/clients/shared/', '/clients/vendor/'];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((url) => new Request(url, {cache: 'no-cache'})));
    await Promise.all(OPTIONAL.map(async (url) => {
      const response = await fetch(url, {cache: 'no-cache'}).catch(() => null);
      if (response && response.ok) await cache.put(url, response);
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    // Only this app's older caches: the verifier page and the trust list share the origin.
    for (const name of await caches.keys()) {
      if (name.startsWith('vnid-citizen-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function cacheable(request) {
  const url = new URL(request.url);
  return request.method === 'GET' && url.origin === self.location.origin
    && CACHED_PREFIXES.some((prefix) => url.pathname.startsWith(prefix))
    && !request.headers.has('Authorization');
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, {ignoreSearch: true});
    if (cached) return cached;
    if (request.mode === 'navigate') {
      const shell = await cache.match('/app/');
      if (shell) return shell;
    }
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  if (cacheable(event.request)) event.respondWith(networkFirst(event.request));
});
