// The portal's only way to the server: the public REST API with token authentication, like any client.

const TOKEN_KEY = "nodeconductor.token";
const USER_KEY = "nodeconductor.username";

/** An API answer that was not 2xx: keeps the status, the parsed body and the API's machine-readable `code`
 * ("invalid", "quota_exceeded", "invalid_state", ...: docs/api/conventions.rst) so callers branch on it. */
export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.body = body;
    this.code = body && typeof body === "object" && typeof body.code === "string" ? body.code : null;
  }

  /** Field-keyed messages of a 400 ({"hostname": ["..."], "code": "invalid"}), each joined into one string;
   * `code` is not a field, so it is left out. */
  fieldErrors() {
    const out = {};
    if (this.status !== 400 || !this.body || typeof this.body !== "object" || Array.isArray(this.body)) return out;
    for (const [field, messages] of Object.entries(this.body)) {
      if (field === "code") continue;
      out[field] = Array.isArray(messages) ? messages.map(flatten).join(" ") : flatten(messages);
    }
    return out;
  }
}

function flatten(value) {
  if (value == null) return "";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(flatten).join(" ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}: ${flatten(v)}`).join(" ");
  return String(value);
}

function describe(status, body) {
  if (status === 0) return "The server cannot be reached. Check your connection and try again.";
  if (body && typeof body === "object" && body.detail) return flatten(body.detail);
  if (status === 400 && body && typeof body === "object") return "Please correct the highlighted fields.";
  if (status === 401) return "Your session has ended. Please log in again.";
  if (status === 403) return "You are not allowed to do this.";
  if (status === 404) return "Not found: it does not exist, or you cannot see it.";
  if (status === 429) return "Too many requests. Wait a minute and try again.";
  if (status >= 500) return `The server failed (${status}). Try again shortly.`;
  return `The request failed (${status}).`;
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get username() { return sessionStorage.getItem(USER_KEY); },
  save(token, username) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, username);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

let onUnauthorized = () => {};
/** Lets the app send the user back to the login page when the token stops working. */
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

/** One request; resolves to {data, count} (count from X-Result-Count on lists) or throws ApiError. */
export async function request(method, url, body) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Token ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
  }
  if (!response.ok) {
    if (response.status === 401 && session.token) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  const count = response.headers.get("X-Result-Count");
  return { data, count: count === null ? null : Number(count) };
}

/** The API path of a list with query parameters (empty values left out). */
export function path(resource, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of [].concat(value)) query.append(key, v);
  }
  const qs = query.toString();
  return `/api/${resource}/${qs ? `?${qs}` : ""}`;
}

// The verbs, resolving to the parsed body.
export const get = (url) => request("GET", url).then((r) => r.data);
export const post = (url, body = {}) => request("POST", url, body).then((r) => r.data);
export const patch = (url, body) => request("PATCH", url, body).then((r) => r.data);
export const remove = (url) => request("DELETE", url).then((r) => r.data);
/** OPTIONS: DRF lists under `actions` the writes (PUT, POST) the requester may make on that URL. */
export const options = (url) => request("OPTIONS", url).then((r) => r.data);

/** A list of up to 200 rows (the API's largest page); {items, count} tells whether more exist. */
export async function list(resource, params = {}) {
  const r = await request("GET", path(resource, { page_size: 200, ...params }));
  return { items: r.data || [], count: r.count ?? (r.data || []).length };
}

/** Trades a username and password for a token; the token is kept for this browser tab only. */
export async function login(username, password) {
  const data = await post("/api-auth/password/", { username, password });
  session.save(data.token, username);
}

/** Revokes the token on the server (POST /api-auth/logout/), then forgets it. It is forgotten even when the server
 * cannot be reached or refuses it (already expired), so the tab never keeps a token its user logged out of; the
 * 401 handler is not called, since this is the logout already. */
export async function logout() {
  const token = session.token;
  if (token) {
    try {
      await fetch("/api-auth/logout/", {
        method: "POST",
        headers: { Accept: "application/json", Authorization: `Token ${token}` },
      });
    } catch {
      // The server is unreachable: the token still expires there once unused for the token lifetime.
    }
  }
  session.clear();
}

/** The uuid at the end of an API object URL. */
export function uuidOf(url) {
  return url ? url.replace(/\/$/, "").split("/").pop() : "";
}
