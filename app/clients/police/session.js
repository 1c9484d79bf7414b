// The officer's session. The access token (10 minutes) lives in memory only; the
// refresh token (one shift) in IndexedDB, so a reload keeps the officer logged in
// until the shift ends, and logout deletes it. Nothing goes to localStorage.
import { Api, ApiError } from "/clients/shared/api.js";

const DB_NAME = "vnid-police";
const STORE = "session";
const KEY = "current";

let access = null;
let officer = null;
let refreshing = null;
let onExpired = () => {};

export const api = new Api({ getToken: () => access });

function store(mode, act) {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DB_NAME, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const db = opening.result;
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => { db.close(); resolve(request.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    };
  });
}

const saved = () => store("readonly", (s) => s.get(KEY)).catch(() => undefined);
const save = (value) => store("readwrite", (s) => s.put(value, KEY));
const forget = () => store("readwrite", (s) => s.delete(KEY)).catch(() => undefined);

/** Who is logged in (the username typed at login), or null. */
export function currentOfficer() { return access ? officer : null; }

/**
 * The role in the access token ("officer" or "supervisor"), read to choose what to show
 * (the server checks every act itself): the JWT's payload, base64url JSON.
 */
export function currentRole() {
  try {
    const payload = access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).role || null;
  } catch (ignored) {
    return null;
  }
}

/** Called (with no argument) when the session ends by itself: shift over, revoked. */
export function whenExpired(handler) { onExpired = handler; }

async function adopt(pair, username) {
  access = pair.access_token;
  officer = username;
  await save({ refresh: pair.refresh_token, username });
}

/** Username, password and TOTP code; throws ApiError (401 auth.failed) when refused. */
export async function login(username, password, totp) {
  const pair = await api.post("/api/v1/auth/officer-login", { username, password, totp },
    { token: null });
  await adopt(pair, username);
}

/** A new access token from the stored refresh token; false when there is none or it is refused. */
function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const kept = await saved();
      if (!kept || !kept.refresh) return false;
      try {
        await adopt(await api.post("/api/v1/auth/refresh", undefined, { token: kept.refresh }),
          kept.username);
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.status === 0) throw error; // offline: keep it
        access = null;
        await forget();
        return false;
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** On page load: the session kept in IndexedDB, if its shift is not over. */
export async function resume() {
  return refresh().catch(() => false);
}

function expire() {
  const had = access !== null;
  access = null;
  forget();
  if (had) onExpired();
}

/**
 * One API call as the officer: an expired access token is refreshed once and the call
 * retried; a session that cannot be refreshed ends (``whenExpired``) and the error is thrown.
 */
export async function call(method, path, options = {}) {
  try {
    return await api.request(method, path, options);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    if (error.code === "auth.token_expired" && await refresh()) {
      return api.request(method, path, options);
    }
    expire();
    throw error;
  }
}

/** A binary answer (an evidence file) as a Blob, with the same token handling. */
export async function blob(path) {
  const get = () => fetch(path, { headers: { Authorization: `Bearer ${access}` },
    cache: "no-store", credentials: "same-origin" });
  let answer = await get();
  if (answer.status === 401 && await refresh()) answer = await get();
  if (!answer.ok) {
    const body = await answer.json().catch(() => ({}));
    throw new ApiError({ status: answer.status, code: body.code || `http.${answer.status}`,
      message: body.message || answer.statusText, errors: body.errors });
  }
  return answer.blob();
}

/** End the session on the server (refresh token and access tokens) and here. */
export async function logout() {
  try {
    if (access) await api.post("/api/v1/auth/logout");
  } catch (ignored) { /* already ended, or offline: forget it here anyway */ }
  access = null;
  officer = null;
  await forget();
}

/** ``path?key=value`` for the non-empty values of ``params``. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "" && value !== false) {
      query.set(key, String(value));
    }
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
