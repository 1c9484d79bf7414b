// The anonymous reports' keys, kept on this phone only (the app's IndexedDB, store.js).
//
// Filing with `anonymous: true` answers a one-time `reporter_key` the service
// never stores (docs/reports.md, "Anonymity at rest"): it is the only way back
// to the case, sent as the `X-Reporter-Key` header to read, answer and add
// evidence. A lost key loses the case for the citizen, so it is written before
// the app shows the case, and logout leaves it. Each key is kept with the
// account it was filed from: a shared phone lists each account's own cases only.
import { store } from '../store.js';

const KEY = 'reporterKeys';

/** Read-modify-write under a lock (Web Locks): two tabs filing at once keep both keys. */
function locked(work) {
  return navigator.locks ? navigator.locks.request('vnid-reporter-keys', work) : work();
}

async function rows() {
  return (await store.get(KEY)) || [];
}

/** Keep the key of an anonymous case filed by `accountId`. */
export function saveKey(accountId, caseNumber, key, category) {
  return locked(async () => {
    const kept = (await rows()).filter((row) => row.case_number !== caseNumber);
    kept.push({ case_number: caseNumber, reporter_key: key, account_id: accountId, category,
      saved_at: new Date().toISOString() });
    await store.set(KEY, kept);
  });
}

/** The key of `caseNumber` if this phone filed it for `accountId`, else null. */
export async function keyOf(accountId, caseNumber) {
  const row = (await rows()).find((r) => r.case_number === caseNumber
    && r.account_id === accountId);
  return row ? row.reporter_key : null;
}

/** The anonymous cases this phone holds for `accountId`, newest first. */
export async function anonymousCases(accountId) {
  return (await rows()).filter((row) => row.account_id === accountId)
    .sort((a, b) => (a.saved_at < b.saved_at ? 1 : -1));
}
