// The admin API, called with the session cookie (sent by the browser, unreadable here) and the
// session's CSRF token, which every call carries in a header no other site can set.

let csrf = null;

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.field = problem.field || null;
  }
}

export function setCsrf(token) { csrf = token; }

/// Sends `body` as JSON; resolves to { status, body, etag }, or rejects with an ApiError.
/// A 401 means the session ended: the console goes back to sign-in.
export async function call(method, path, body, headers = {}) {
  const init = { method, credentials: 'same-origin', headers: { ...headers } };
  if (csrf) init.headers['x-provisio-csrf'] = csrf;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const reply = await fetch(path, init);
  const text = await reply.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { detail: text }; }
  if (reply.status === 401 && !path.startsWith('/console/session')) {
    csrf = null;
    window.dispatchEvent(new CustomEvent('provisio:signed-out'));
  }
  if (!reply.ok) throw new ApiError(reply.status, parsed || {});
  return { status: reply.status, body: parsed, etag: reply.headers.get('etag') };
}

/// A read that a navigation overtook: the page that asked for it is no longer the one to show.
export class Superseded extends Error {}

let navigation = 0;
/// Called on every navigation: reads started before it reject with Superseded when they answer,
/// so a slow page can't paint over the one navigated to since.
export function navigated() { navigation += 1; }

/// A read's fallback for when it fails, except when a navigation overtook it (that still stops
/// the page): `get(path).catch(orElse(fallback))`.
export const orElse = (fallback) => (err) => {
  if (err instanceof Superseded) throw err;
  return fallback;
};

/// Lets a read that a navigation overtook end quietly (a refresh, a search box).
export const ignoreSuperseded = (err) => {
  if (!(err instanceof Superseded)) throw err;
};

export const get = (path) => {
  const started = navigation;
  return call('GET', path).then((r) => {
    if (started !== navigation) throw new Superseded(path);
    return r.body;
  });
};
