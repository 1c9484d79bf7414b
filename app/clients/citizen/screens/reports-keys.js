// The anonymous reports' keys, kept on this phone only (IndexedDB).
//
// Filing with `anonymous: true` answers a one-time `reporter_key` the service
// never stores (docs/reports.md, "Anonymity at rest"): it is the only way back
// to the case, sent as the `X-Reporter-Key` header to read, answer and add
// evidence. A lost key loses the case for the citizen, so it is written before
// the app shows the case. Each key is kept with the account it was filed
// from: a shared phone lists each account's own cases only.

const DB_NAME = "vnid-reports";
const STORE = "reporter-keys";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const store = request.result.createObjectStore(STORE, { keyPath: "case_number" });
      store.createIndex("account", "account_id");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function run(mode, work) {
  return open().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = work(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(result.result); };
    tx.onerror = () => { db.close(); reject(tx.error); };
    tx.onabort = () => { db.close(); reject(tx.error); };
  }));
}

/** Keep the key of an anonymous case filed by `accountId`. */
export function saveKey(accountId, caseNumber, key, category) {
  return run("readwrite", (store) => store.put({
    case_number: caseNumber, reporter_key: key, account_id: accountId,
    category, saved_at: new Date().toISOString(),
  }));
}

/** The key of `caseNumber` if this phone filed it for `accountId`, else null. */
export async function keyOf(accountId, caseNumber) {
  const row = await run("readonly", (store) => store.get(caseNumber));
  return row && row.account_id === accountId ? row.reporter_key : null;
}

/** The anonymous cases this phone holds for `accountId`, newest first. */
export async function anonymousCases(accountId) {
  const rows = await run("readonly", (store) => store.index("account").getAll(accountId));
  return (rows || []).sort((a, b) => (a.saved_at < b.saved_at ? 1 : -1));
}
