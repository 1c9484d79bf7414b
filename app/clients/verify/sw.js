// The verifier page's service worker (scope /verify/): it keeps the page, its
// modules and the vendored libraries they import, so the page opens and verifies
// with the network cut once it has been loaded. Answers come from the cache at
// once and the cache is refreshed behind them (stale-while-revalidate), so a
// deploy reaches the page on its next load. The trust list is not handled here:
// /clients/shared/trust.js keeps it, with its fetch time. Nothing is posted, and
// the API is never cached.
const CACHE = 'vnid-verify-v1';
const CBORG = ['0uint', '1negint', '2bytes', '3string', '4array', '5map', '6tag', '7float', 'bl',
  'byte-utils', 'common', 'decode', 'encode', 'is', 'jump', 'tagged', 'token']
  .map((name) => `/clients/vendor/cborg/lib/${name}.js`);
const PRECACHE = [
  '/verify/', '/verify/verify.js', '/verify/strings.js', '/verify/verify.css',
  '/verify/icon.svg', '/verify/manifest.webmanifest',
  '/clients/shared/base.css', '/clients/shared/i18n.js', '/clients/shared/vn1.js',
  '/clients/shared/trust.js', '/clients/shared/scan.js',
  '/clients/vendor/@digitalbazaar/base45/lib/index.js', '/clients/vendor/cborg/cborg.js',
  ...CBORG, '/clients/vendor/jsqr/dist/jsQR.js',
];
const CACHED = new Set(PRECACHE);

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('vnid-verify-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function refresh(cache, key) {
  const response = await fetch(key, { cache: 'no-cache' });
  if (response.ok) await cache.put(key, response.clone());
  return response;
}

async function answer(event, key) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(key);
  const fresh = refresh(cache, key);
  if (cached) {
    event.waitUntil(fresh.catch(() => null));  // offline: the cached copy stands
    return cached;
  }
  return fresh;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  let key = null;
  if (request.mode === 'navigate' && url.pathname.startsWith('/verify/')) key = '/verify/';
  else if (CACHED.has(url.pathname) && !url.search) key = url.pathname;
  if (key) event.respondWith(answer(event, key));
});
