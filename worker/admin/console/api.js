// Calls to the admin API with the console's session cookie. Anything but
// GET carries X-Lockstep-Console, which the server requires of cookie
// sessions (its guard against cross-site requests).

export class ApiError extends Error {
  constructor(status, body) {
    const message = body && typeof body.message === 'string' ? body.message : 'HTTP ' + status;
    super(message);
    this.status = status;
    this.code = body && body.error;
    this.field = body && body.field;
  }
}

export async function api(method, path, body) {
  const headers = {Accept: 'application/json'};
  if (method !== 'GET') headers['X-Lockstep-Console'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch('/api/v1' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (res.status === 401 && path !== '/session') {
    // The session ended (signed out elsewhere, worker restarted): sign in again.
    location.assign('/console/login' + location.hash);
    throw new ApiError(401, {message: 'signed out'});
  }
  if (res.status === 204) return null;
  let json = null;
  try {
    json = await res.json();
  } catch (e) {
    if (res.ok) throw new ApiError(res.status, {message: 'the answer was not JSON'});
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}
