// The service's JSON API, as every client calls it: one place for the bearer
// token, the JSON body, the Idempotency-Key of payments and the uniform error
// body {code, message, status, errors}, turned into an ApiError.

export class ApiError extends Error {
  constructor({ status = 0, code = 'error', message = '', errors = {} } = {}) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.errors = errors || {};
  }
}

/** A fresh Idempotency-Key (a random UUID). */
export function newIdempotencyKey() {
  return crypto.randomUUID();
}

async function readError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch (ignored) {
    body = null;
  }
  if (body && typeof body === 'object' && typeof body.code === 'string') {
    return new ApiError({ status: response.status, code: body.code,
      message: body.message || body.code, errors: body.errors });
  }
  return new ApiError({ status: response.status, code: `http.${response.status}`,
    message: response.statusText || `HTTP ${response.status}` });
}

export class Api {
  /**
   * @param {object} options
   * @param {string} [options.base] prefix of every path ('' = this origin)
   * @param {() => (string|null)} [options.getToken] the bearer token, when signed in
   * @param {(error: ApiError) => void} [options.onUnauthorized] called on a 401
   */
  constructor({ base = '', getToken = () => null, onUnauthorized = null } = {}) {
    this.base = base;
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  /**
   * Call the API. Returns the parsed JSON answer (null for 204 or an empty body).
   * ``idempotencyKey``: a string, or true for a fresh one (paying needs one).
   * Throws ApiError: the server's uniform error, or code 'network' when the
   * request never got an answer.
   */
  async request(method, path, { body, headers = {}, token, idempotencyKey, signal } = {}) {
    const sent = { Accept: 'application/json', ...headers };
    const bearer = token !== undefined ? token : this.getToken();
    if (bearer) sent.Authorization = `Bearer ${bearer}`;
    if (idempotencyKey) {
      sent['Idempotency-Key'] = idempotencyKey === true ? newIdempotencyKey() : idempotencyKey;
    }
    const init = { method, headers: sent, credentials: 'same-origin', cache: 'no-store', signal };
    if (body !== undefined) {
      sent['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.base + path, init);
    } catch (error) {
      if (error && error.name === 'AbortError') throw error;
      throw new ApiError({ status: 0, code: 'network', message: String(error && error.message) });
    }
    if (!response.ok) {
      const error = await readError(response);
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(error);
      throw error;
    }
    if (response.status === 204) return null;
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (ignored) {
      throw new ApiError({ status: response.status, code: 'bad_response',
        message: 'the answer is not JSON' });
    }
  }

  get(path, options) { return this.request('GET', path, options); }

  post(path, body, options = {}) { return this.request('POST', path, { ...options, body }); }

  put(path, body, options = {}) { return this.request('PUT', path, { ...options, body }); }

  patch(path, body, options = {}) { return this.request('PATCH', path, { ...options, body }); }

  delete(path, options) { return this.request('DELETE', path, options); }
}
