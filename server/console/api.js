// The console's only way to the server: fetch() on the /v1 API with the
// admin token in the Authorization header.  The token lives in
// sessionStorage (this tab only, gone when it closes), never in a URL
// or a cookie, so another site cannot make the browser send it.

const KEY = "fleetcast.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  if (t === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, t);
}

// An answer that is not 2xx: the server's own message ({"error": text}),
// which names the field and the rule, as the CLI shows it.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};
export function setUnauthorized(fn) {
  onUnauthorized = fn;
}

// api("GET", "/v1/machines"), api("POST", path, object) sends JSON;
// a Blob or ArrayBuffer body goes as it is (a package upload).
export async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + (token() || "") };
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    headers["Content-Type"] = "application/octet-stream";
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: payload,
      cache: "no-store", credentials: "omit" });
  } catch (e) {
    throw new ApiError(0, "the server does not answer (" + e.message + ")");
  }
  const text = await r.text();
  let data = null;
  try {
    data = text === "" ? null : JSON.parse(text);
  } catch (e) {
    if (r.ok) throw new ApiError(r.status, "not JSON: " + text.slice(0, 200));
  }
  if (!r.ok) {
    if (r.status === 401) onUnauthorized();
    const msg = data && typeof data.error === "string" ? data.error
      : r.status + " " + r.statusText;
    throw new ApiError(r.status, msg);
  }
  return data;
}
