// api.js — the JSON API of databus-web. Every mutation is a same-origin
// request with a JSON body (the server checks Origin and the content type);
// every error is thrown as an ApiError carrying the server's
// {"error":{"code","message"}}.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Called with the ApiError of a 401 on anything but login: the session is
// gone (logout elsewhere, revoke, expiry).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function errorOf(res) {
  let code = 'http_' + res.status;
  let message = res.statusText || 'request failed';
  try {
    const doc = await res.json();
    if (doc && doc.error) {
      code = doc.error.code || code;
      message = doc.error.message || message;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(res.status, code, message);
}

export async function request(method, path, body, opts = {}) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (method !== 'GET' && method !== 'HEAD') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach databus-web: ' + e.message);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !opts.login) onUnauthorized(err);
    throw err;
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  return type.startsWith('application/json') ? res.json() : res.text();
}

// A piece of an upload (the import of an archive): raw bytes, same origin,
// application/octet-stream; answers JSON like request().
export async function postBytes(path, blob) {
  let res;
  try {
    res = await fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/octet-stream' }, body: blob });
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach databus-web: ' + e.message);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) onUnauthorized(err);
    throw err;
  }
  return res.json();
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body, opts);
export const put = (path, body, opts) => request('PUT', path, body, opts);
export const del = (path, body, opts) => request('DELETE', path, body, opts);

// Query string of the non-empty values of `params`.
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}

export const enc = encodeURIComponent;

// Save a Response as a file (downloads that need a POST, like a sync
// export). The name comes from Content-Disposition when there is one.
export async function saveResponse(res, fallbackName) {
  const blob = await res.blob();
  let name = fallbackName;
  const cd = res.headers.get('content-disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  if (m) name = m[1];
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}
