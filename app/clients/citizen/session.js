/*
 * The session: registration and login as the mobile contract does them, the access
 * token in memory, the refresh token in IndexedDB, one refresh on an expired token.
 */
import {store} from './store.js';
import {loadDevice, signNonce} from './device.js';
import {dropLastQr} from './lastqr.js';
import {Api, ApiError} from '/clients/shared/api.js';

export {ApiError};

/** 401 codes that a refresh can cure (not passcode.wrong, not auth.failed). */
const REFRESHABLE = new Set(['auth.token_expired', 'auth.invalid_token', 'auth.required']);

let accessToken = null;
/** Unauthenticated calls (and calls with an explicit token): the shared client. */
const http = new Api();
/** One call without the session's token (registration, login, unlock). */
export const request = (method, path, options) => http.request(method, path, options);
let refreshing = null;
const listeners = new Set();

/** Called with no argument when the session ends (logout, refresh refused). */
export function onSessionEnd(listener) {
  listeners.add(listener);
}

async function keepTokens(tokens) {
  accessToken = tokens.access_token;
  await store.set('refresh', tokens.refresh_token);
}

async function forget() {
  accessToken = null;
  await store.delete('refresh');
  await dropLastQr();
}

async function endSession() {
  await forget();
  for (const listener of listeners) listener();
}

/**
 * New tokens from the refresh token. One refresh at a time, across tabs too (Web Locks):
 * a refresh token presented twice is a reuse, which revokes the whole session.
 */
export function refresh() {
  if (!refreshing) {
    const run = async () => {
      const token = await store.get('refresh');
      if (!token) return false;
      try {
        await keepTokens(await request('POST', '/api/v1/auth/refresh', {token}));
        return true;
      } catch (error) {
        if (error instanceof ApiError && [401, 403].includes(error.status)) await forget();
        throw error;
      }
    };
    const locked = navigator.locks ? navigator.locks.request('vnid-refresh', run) : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Whether a session can be resumed: an access token, or a refresh token that works. */
export async function resume() {
  if (accessToken) return true;
  return refresh();
}

/**
 * Run `call(token)`; on a 401 that a refresh can cure, refresh once and run it again.
 * A refresh refused by the server ends the session.
 */
async function withToken(call) {
  if (!accessToken && !(await resume())) {
    throw new ApiError({status: 401, code: 'auth.required', message: 'not logged in'});
  }
  try {
    return await call(accessToken);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401 && REFRESHABLE.has(error.code))) {
      throw error;
    }
    let renewed = false;
    try {
      renewed = await refresh();
    } catch (refreshError) {
      if (refreshError.status) await endSession();
      throw refreshError;
    }
    if (!renewed) {
      await endSession();
      throw error;
    }
    return call(accessToken);
  }
}

/**
 * The authenticated API of the screens (ctx.api): the shared Api's methods and options
 * ({body, headers, idempotencyKey, signal}), with the session's token; and `fetch(path,
 * init)` for what is not JSON (uploads, images), which throws ApiError on an error answer.
 */
export const api = {
  request(method, path, options = {}) {
    return withToken((token) => http.request(method, path, {...options, token}));
  },
  get(path, options) { return this.request('GET', path, options); },
  post(path, body = {}, options = {}) { return this.request('POST', path, {...options, body}); },
  put(path, body, options = {}) { return this.request('PUT', path, {...options, body}); },
  patch(path, body, options = {}) { return this.request('PATCH', path, {...options, body}); },
  delete(path, options) { return this.request('DELETE', path, options); },
  /** `call(token)` with the session's token, refreshed once on a 401 (uploads with progress). */
  withToken(call) { return withToken(call); },
  fetch(path, init = {}) {
    return withToken(async (token) => {
      const headers = new Headers(init.headers || {});
      headers.set('Authorization', `Bearer ${token}`);
      const response = await fetch(path, {cache: 'no-store', ...init, headers});
      if (response.ok) return response;
      const body = await response.json().catch(() => ({}));
      throw new ApiError({status: response.status, code: body.code || `http.${response.status}`,
        message: body.message || response.statusText, errors: body.errors});
    });
  },
};

/** Step 1 of registration: the device is made (or read) and bound in the request. */
export async function startRegistration({personalId, fullName, dateOfBirth, phone}) {
  const device = await loadDevice({create: true});
  return request('POST', '/api/v1/accounts/registrations', {body: {
    personal_id: personalId, full_name: fullName, date_of_birth: dateOfBirth, phone,
    device_id: device.id, device_public_key: device.publicKey}});
}

/** Step 2: the SMS code, the new password and passcode (sent, never kept). */
export function confirmRegistration(registrationId, {otp, password, passcode}) {
  return request('POST',
    `/api/v1/accounts/registrations/${encodeURIComponent(registrationId)}/confirm`,
    {body: {otp, password, passcode}});
}

/** Whether this browser holds a device key (a registered phone). */
export async function hasDevice() {
  return Boolean(await loadDevice());
}

/** Login: a challenge, its nonce signed by the device key, then the password. */
export async function login(personalId, password) {
  const device = await loadDevice();
  if (!device) throw new ApiError({status: 401, code: 'device.missing', message: 'no device key'});
  const challenge = await request('POST', '/api/v1/auth/challenge',
    {body: {personal_id: personalId, device_id: device.id}});
  const tokens = await request('POST', '/api/v1/auth/login', {body: {
    personal_id: personalId, password, device_id: device.id,
    challenge_id: challenge.challenge_id, signature: await signNonce(device, challenge.nonce)}});
  await keepTokens(tokens);
}

/** Logout: the server ends the session; the phone forgets its tokens and last QR. */
export async function logout() {
  try {
    if (accessToken) await request('POST', '/api/v1/auth/logout', {token: accessToken});
  } catch {
    // the tokens are forgotten whatever the server said
  }
  await endSession();
}

/** After the account was locked: its tokens are dead, forget them. */
export async function dropSession() {
  await forget();
}

export function loggedIn() {
  return accessToken !== null;
}
