// The REST API of `byok serve` (docs/SERVER.md), and the one place the token lives:
// this module's memory: never web storage, a cookie or a URL.

let token = null;

/** An answer that is not 2xx: the library's code, message and hint. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.hint = e.hint || null;
    this.report = e.report || null;
  }
}

/** Keep the token for this tab's life (in memory only). */
export function signIn(value) { token = value; }

/** Forget the token. */
export function signOut() { token = null; }

/** The held token's scope, from its public tag: "admin", "workspace", "app" or null. */
export function scope() {
  const tag = token && /^byok_(adm|wsm|app)_/.exec(token);
  return tag ? { adm: "admin", wsm: "workspace", app: "app" }[tag[1]] : null;
}

/** Whether a token is held. */
export function signedIn() { return token !== null; }

/** One call: JSON in, JSON out (`null` for 204); throws ApiError. */
export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let answer;
  try {
    answer = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { error: { code: "unreachable", message: "byok serve did not answer", hint: "Check that it still runs, then try again." } });
  }
  const text = await answer.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (!answer.ok) throw new ApiError(answer.status, json);
  return json;
}

const seg = encodeURIComponent;
const forKey = (key) => (key ? "?key=" + seg(key) : "");

/** The routes the page uses, one function each. */
export const api = {
  workspaces: () => call("GET", "/v1/workspaces"),
  createWorkspace: (id) => call("POST", "/v1/workspaces", { id }),
  formatCheck: (key, provider) => call("POST", "/v1/format-check", provider ? { key, provider } : { key }),
  keys: (ws) => call("GET", `/v1/workspaces/${seg(ws)}/keys`),
  addKey: (ws, body) => call("POST", `/v1/workspaces/${seg(ws)}/keys`, body),
  editKey: (ws, id, body) => call("PATCH", `/v1/workspaces/${seg(ws)}/keys/${seg(id)}`, body),
  deleteKey: (ws, id) => call("DELETE", `/v1/workspaces/${seg(ws)}/keys/${seg(id)}`),
  testKey: (ws, id) => call("POST", `/v1/workspaces/${seg(ws)}/keys/${seg(id)}/test`),
  rotateKey: (ws, id, key) => call("POST", `/v1/workspaces/${seg(ws)}/keys/${seg(id)}/rotate`, { key }),
  keyAction: (ws, id, action) => call("POST", `/v1/workspaces/${seg(ws)}/keys/${seg(id)}/${action}`),
  selection: (ws, provider) => call("GET", `/v1/workspaces/${seg(ws)}/selection?provider=${seg(provider)}`),
  // `key`: one key's own budget (scope key:<id>); without it, the workspace's.
  budget: (ws, key) => call("GET", `/v1/workspaces/${seg(ws)}/budget${forKey(key)}`),
  setBudget: (ws, body, key) => call("PUT", `/v1/workspaces/${seg(ws)}/budget${forKey(key)}`, body),
  alerts: (ws, key) => call("GET", `/v1/workspaces/${seg(ws)}/budget/alerts${forKey(key)}`),
  // Settled spend per calendar day of the budget's time zone, by label (the daily chart).
  history: (ws, key, days) => call("GET", `/v1/workspaces/${seg(ws)}/budget/history?days=${seg(days)}${key ? "&key=" + seg(key) : ""}`),
  // A project's budget (scope project:<name>, what Call::project names): admin tokens only.
  projectBudget: (name) => call("GET", `/v1/projects/${seg(name)}/budget`),
  setProjectBudget: (name, body) => call("PUT", `/v1/projects/${seg(name)}/budget`, body),
  projectAlerts: (name) => call("GET", `/v1/projects/${seg(name)}/budget/alerts`),
  projectHistory: (name, days) => call("GET", `/v1/projects/${seg(name)}/budget/history?days=${seg(days)}`),
  audit: (ws, after) => call("GET", `/v1/workspaces/${seg(ws)}/audit?limit=1000${after != null ? "&after=" + seg(after) : ""}`),
};
