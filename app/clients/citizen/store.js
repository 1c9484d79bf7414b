/*
 * What the app keeps on the phone, in IndexedDB (never localStorage):
 *   device   {id, key, publicKey}: the non-extractable CryptoKeyPair, SPKI in base64url
 *   refresh  the refresh token of the current session
 *   lastQr   {qr, type, expires_at, credential_id}: the last credential, until it expires
 *   reporterKeys  [{case_number, reporter_key, account_id, ...}]: anonymous reports' keys
 *                 (screens/reports-keys.js), kept at logout: nobody else holds them
 * The access token lives in memory only; the password and the passcode are never kept.
 */
const DB_NAME = 'vnid-citizen';
const STORE = 'kv';

let opening = null;

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opening;
}

async function run(mode, action) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = action(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const store = {
  get: (key) => run('readonly', (s) => s.get(key)),
  set: (key, value) => run('readwrite', (s) => s.put(value, key)),
  delete: (key) => run('readwrite', (s) => s.delete(key)),
};
