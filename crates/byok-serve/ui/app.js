// Provider Vault: the page's behaviour. Plain DOM, no framework; every text from the
// API (and so from a provider) goes in with textContent, never as HTML.
import { api, ApiError, scope, signIn, signOut } from "./api.js";

const PROVIDERS = [
  ["openai", "OpenAI"], ["anthropic", "Anthropic"], ["google", "Google Gemini"],
  ["openrouter", "OpenRouter"], ["groq", "Groq"], ["xai", "xAI"], ["deepseek", "DeepSeek"],
  ["mistral", "Mistral"], ["together", "Together"], ["fireworks", "Fireworks"],
  ["perplexity", "Perplexity"], ["azure_openai", "Azure OpenAI"], ["bedrock", "Amazon Bedrock"],
  ["cohere", "Cohere"],
];
const providerName = (code) => (PROVIDERS.find(([c]) => c === code) || [code, code])[1];

// The four cost labels' words, exactly (docs/DTOS.md, "Cost labels").
const LABEL_WORDS = {
  verified_by_provider: "Verified by provider",
  estimated: "Estimated",
  pending_provider_sync: "Pending provider sync",
  unavailable: "Cost unavailable",
};

/**
 * The labels with an amount to draw, in the order the charts stack them, and
 * their colours ("Cost unavailable" has no amount to draw: it is marked instead).
 */
const DAY_LABELS = [["verified_by_provider", "#1a7f37"], ["estimated", "#0b5cad"], ["pending_provider_sync", "#9a6700"]];
const HELD_COLOUR = "#8250df";

/** How many days the daily chart shows. */
const HISTORY_DAYS = 30;

const VERDICTS = {
  valid: ["good", "Valid"], invalid: ["bad", "Invalid"], no_credits: ["warn", "No credits"],
  rate_limited: ["warn", "Rate limited"], restricted: ["warn", "Restricted"],
  provider_unavailable: ["warn", "Provider unavailable"], network_error: ["warn", "Network error"],
  indeterminate: ["warn", "Indeterminate"],
};

const $ = (id) => document.getElementById(id);

/** An element: h("p", {class: "x"}, "text", child…). Strings become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const state = { ws: null, keys: [], workspaces: [] };

function when(ts) {
  if (!ts) return "never";
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function say(text) { $("status").textContent = text; }

/** An error as the library gave it: message, hint and code. */
function errorBox(err) {
  const e = err instanceof ApiError ? err : new ApiError(0, { error: { code: "error", message: String(err) } });
  return h("div", { class: "card verdict bad", role: "alert" },
    h("strong", {}, e.message),
    e.hint ? h("p", { class: "help" }, e.hint) : null,
    h("p", { class: "help" }, "code ", h("code", {}, e.code)));
}

/** Replace `node`'s children (null and undefined are left out, never shown as text). */
function show(node, ...children) { node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false)); }

function verdictBadge(code) {
  if (!code) return h("span", { class: "badge" }, "not tested");
  const [cls, text] = VERDICTS[code] || ["warn", code];
  return h("span", { class: "badge " + cls, "data-verdict": code }, text);
}

function money(usd) { return usd === null || usd === undefined ? "no amount" : "$" + usd; }

/** What the provider said the key has left (key info), if anything. */
function creditLeft(report) {
  const info = report && report.key_info;
  if (!info) return null;
  if (info.remaining_usd != null) return "$" + info.remaining_usd + (info.limit_usd != null ? " of $" + info.limit_usd : "");
  if (Array.isArray(info.balance) && info.balance.length) return info.balance.map((b) => `${b.total} ${b.currency}`).join(", ");
  return null;
}

/** A Test report: verdict, what it means, the provider's own (scrubbed) message, what to do. */
function reportCard(report, title, extra) {
  const [cls, text] = VERDICTS[report.verdict] || ["warn", report.verdict];
  const credit = creditLeft(report);
  return h("div", { class: "card verdict " + cls, "data-verdict": report.verdict, role: "group", "aria-label": title },
    h("h3", {}, title, ": ", text),
    extra ? h("p", {}, h("strong", {}, extra)) : null,
    h("p", {}, report.message),
    h("p", { class: "help" }, report.remediation),
    h("dl", {},
      h("dt", {}, "Key"), h("dd", { class: "mono" }, report.masked, " · ", report.fingerprint),
      report.reason ? [h("dt", {}, "Reason"), h("dd", {}, h("code", {}, report.reason))] : null,
      report.provider_message ? [h("dt", {}, "Provider said"), h("dd", {}, report.provider_message)] : null,
      report.http_status ? [h("dt", {}, "HTTP status"), h("dd", {}, report.http_status)] : null,
      report.retry_after_ms != null ? [h("dt", {}, "Retry after"), h("dd", {}, Math.ceil(report.retry_after_ms / 1000) + " s")] : null,
      credit ? [h("dt", {}, "Credit left"), h("dd", {}, credit)] : null,
      h("dt", {}, "Depth"), h("dd", {}, report.depth + (report.probe ? " (" + report.probe + ")" : "")),
      report.request_id ? [h("dt", {}, "Request id"), h("dd", { class: "mono" }, report.request_id)] : null));
}

// ---------- tabs ----------
const TABS = ["keys", "add", "selection", "budget", "audit"];
function selectTab(name, focus) {
  for (const t of TABS) {
    const on = t === name;
    const tab = $("tab-" + t);
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    $("view-" + t).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (name === "keys") loadKeys();
  if (name === "budget") loadBudget();
  if (name === "audit") loadAudit();
  if (name === "selection") loadSelection();
}
for (const t of TABS) {
  $("tab-" + t).addEventListener("click", () => selectTab(t));
  $("tab-" + t).addEventListener("keydown", (ev) => {
    const i = TABS.indexOf(t);
    if (ev.key === "ArrowRight") selectTab(TABS[(i + 1) % TABS.length], true);
    else if (ev.key === "ArrowLeft") selectTab(TABS[(i + TABS.length - 1) % TABS.length], true);
    else return;
    ev.preventDefault();
  });
}

// ---------- sign-in and workspaces ----------
$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("token");
  const err = $("signin-error");
  err.hidden = true;
  signIn(input.value.trim());
  input.value = "";
  try {
    state.workspaces = await api.workspaces();
  } catch (e) {
    signOut();
    err.textContent = e.status === 401 ? "This token is not accepted: it is unknown, revoked or mistyped." : e.message;
    if (e.hint) err.append(" ", e.hint);
    err.hidden = false;
    input.focus();
    return;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  $("session").hidden = false;
  fillWorkspaces();
  say("Signed in.");
  selectTab("keys", true);
});

$("signout").addEventListener("click", () => {
  signOut();
  state.ws = null; state.keys = [];
  for (const id of ["key-list", "add-result", "selection-result", "budget-status", "audit-result", "add-key-check"]) $(id).replaceChildren();
  $("app").hidden = true; $("session").hidden = true; $("signin").hidden = false;
  say("Signed out.");
  $("token").focus();
});

function fillWorkspaces(pick) {
  const sel = $("workspace");
  const list = state.workspaces.map((w) => (typeof w === "string" ? w : w.id));
  sel.replaceChildren(...list.map((id) => h("option", { value: id }, id)));
  state.ws = pick && list.includes(pick) ? pick : list[0] || null;
  if (state.ws) sel.value = state.ws;
  sel.disabled = list.length < 2;
  // Creating workspaces is for admin tokens (the API answers 403 to others).
  $("workspace-admin").hidden = scope() !== "admin";
}
$("workspace").addEventListener("change", () => {
  state.ws = $("workspace").value;
  const open = TABS.find((t) => !$("view-" + t).hidden) || "keys";
  selectTab(open);
});
$("new-ws-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("new-ws").value.trim();
  const err = $("new-ws-error");
  err.hidden = true;
  try {
    await api.createWorkspace(id);
    state.workspaces = await api.workspaces();
    fillWorkspaces(id);
    $("new-ws").value = "";
    say(`Workspace ${id} created.`);
    loadKeys();
  } catch (e) {
    err.textContent = e.message + (e.hint ? " " + e.hint : "");
    err.hidden = false;
  }
});

function needWorkspace(node) {
  if (state.ws) return true;
  show(node, h("p", { class: "empty" }, "No workspace yet. Create one below (admin token), or sign in with a workspace token."));
  return false;
}

// ---------- the key list ----------
function ordered(keys) {
  const rank = (k) => (k.role === "primary" ? 0 : 1);
  return [...keys].sort((a, b) => rank(a) - rank(b) || a.order - b.order || a.created_at.localeCompare(b.created_at));
}

async function loadKeys() {
  const node = $("key-list");
  if (!needWorkspace(node)) return;
  node.setAttribute("aria-busy", "true");
  try {
    state.keys = await api.keys(state.ws);
  } catch (e) { show(node, errorBox(e)); return; } finally { node.setAttribute("aria-busy", "false"); }
  fillKeyPickers();
  if (!state.keys.length) {
    show(node, h("div", { class: "empty" }, "No keys in this workspace yet. ",
      h("button", { type: "button", class: "small", onclick: () => selectTab("add", true) }, "Add key")));
    return;
  }
  const groups = new Map();
  for (const k of ordered(state.keys)) {
    if (!groups.has(k.provider)) groups.set(k.provider, []);
    groups.get(k.provider).push(k);
  }
  show(node, ...[...groups].map(([p, keys]) =>
    h("section", { class: "provider", "aria-label": providerName(p) + " keys" },
      h("h3", {}, providerName(p), " ", h("span", { class: "opt" }, `(${keys.length})`)),
      h("ol", { class: "keys", style: null }, keys.map((k, i) => keyItem(k, keys, i))))));
}

function keyItem(k, group, i) {
  const backups = group.filter((x) => x.role === "backup");
  const b = backups.indexOf(k);
  const act = (label, fn, cls) => h("button", { type: "button", class: "small " + (cls || "quiet"), onclick: fn,
    "aria-label": `${label}: ${k.label}` }, label);
  const status = k.status === "active" ? h("span", { class: "badge good" }, "active")
    : h("span", { class: "badge " + (k.status === "revoked" ? "bad" : "warn") }, k.status);
  return h("li", { class: "key", "data-key-id": k.id, "data-label": k.label },
    h("header", {}, h("strong", {}, k.label), h("span", { class: "badge" }, k.role === "primary" ? "primary" : `backup #${k.order}`), status),
    h("dl", {},
      h("dt", {}, "Key"), h("dd", { class: "mono" }, k.masked),
      h("dt", {}, "Fingerprint"), h("dd", { class: "mono" }, k.fingerprint),
      h("dt", {}, "Last test"), h("dd", {}, verdictBadge(k.last_verdict), " ", k.last_verdict_at ? when(k.last_verdict_at) : ""),
      h("dt", {}, "Last used"), h("dd", {}, when(k.last_used_at)),
      k.default_model ? [h("dt", {}, "Default model"), h("dd", { class: "mono" }, k.default_model)] : null,
      k.note ? [h("dt", {}, "Note"), h("dd", {}, k.note)] : null),
    h("div", { class: "actions" },
      k.status !== "revoked" ? act("Test again", () => testAgain(k)) : null,
      k.status !== "revoked" ? act("Edit", () => editKey(k)) : null,
      k.role === "backup" && b > 0 ? act("Move up", () => move(backups, b, -1)) : null,
      k.role === "backup" && b < backups.length - 1 ? act("Move down", () => move(backups, b, +1)) : null,
      k.status !== "revoked" ? act("Rotate", () => rotateKey(k)) : null,
      k.status === "active" ? act("Disable", () => keyAction(k, "disable")) : null,
      k.status === "disabled" ? act("Enable", () => keyAction(k, "enable")) : null,
      k.status !== "revoked" ? act("Revoke", () => revokeKey(k), "danger") : null,
      act("Delete", () => deleteKey(k), "danger")),
    h("div", { class: "key-result", "aria-live": "polite" }));
}

function resultNode(k) {
  return document.querySelector(`[data-key-id="${CSS.escape(k.id)}"] .key-result`);
}

async function testAgain(k) {
  const node = resultNode(k);
  show(node, h("p", { class: "help" }, "Testing…"));
  try {
    const report = await api.testKey(state.ws, k.id);
    await loadKeys();
    show(resultNode(k), reportCard(report, "Test of " + k.label));
    say(`Test of ${k.label}: ${(VERDICTS[report.verdict] || [0, report.verdict])[1]}.`);
  } catch (e) { show(node, errorBox(e)); }
}

/** Renumber the provider's backups after moving one (order 1, 2, 3…); the API
 * takes an order only with its role. */
async function move(backups, at, by) {
  const list = [...backups];
  const [k] = list.splice(at, 1);
  list.splice(at + by, 0, k);
  try {
    for (let i = 0; i < list.length; i++) {
      if (list[i].order !== i + 1) await api.editKey(state.ws, list[i].id, { version: list[i].version, role: "backup", order: i + 1 });
    }
    await loadKeys();
    say(`${k.label} moved ${by < 0 ? "up" : "down"}.`);
  } catch (e) { await loadKeys(); say(e.message + (e.hint ? " " + e.hint : "")); }
  const again = document.querySelector(`[data-key-id="${CSS.escape(k.id)}"] .actions button`);
  if (again) again.focus();
}

async function keyAction(k, action) {
  try {
    await api.keyAction(state.ws, k.id, action);
    await loadKeys();
    say(`${k.label}: ${action}d.`);
  } catch (e) { await loadKeys(); say(e.message + (e.hint ? " " + e.hint : "")); }
}

/** The dialog: title, fields, an OK label; resolves with the form's values or null. */
function dialog(title, body, ok, danger, submit) {
  const dlg = $("dialog");
  $("dialog-title").textContent = title;
  show($("dialog-body"), ...body);
  const okButton = $("dialog-ok");
  okButton.textContent = ok;
  okButton.className = danger ? "danger" : "";
  const err = $("dialog-error");
  err.hidden = true;
  return new Promise((resolve) => {
    const form = $("dialog-form");
    const onSubmit = async (ev) => {
      if (ev.submitter && ev.submitter.value === "cancel") return;
      ev.preventDefault();
      try {
        const out = await submit(new FormData(form));
        cleanup(); dlg.close(); resolve(out);
      } catch (e) {
        err.textContent = e.message + (e.hint ? " " + e.hint : "");
        err.hidden = false;
      }
    };
    const onClose = () => { cleanup(); resolve(null); };
    const cleanup = () => { form.removeEventListener("submit", onSubmit); dlg.removeEventListener("close", onClose); $("dialog-body").replaceChildren(); };
    form.addEventListener("submit", onSubmit);
    dlg.addEventListener("close", onClose);
    dlg.showModal();
    const first = $("dialog-body").querySelector("input, select");
    (first || $("dialog-cancel")).focus();
  });
}

const field = (id, label, input) => [h("label", { for: id }, label), input];

async function editKey(k) {
  const role = h("select", { id: "edit-role", name: "role" }, h("option", { value: "primary" }, "primary"), h("option", { value: "backup" }, "backup"));
  role.value = k.role;
  const inputs = [
    field("edit-label", "Label", h("input", { id: "edit-label", name: "label", required: true, value: k.label })),
    field("edit-role", "Role", role),
    field("edit-order", "Order among backups", h("input", { id: "edit-order", name: "order", type: "number", min: 0, value: k.order })),
    field("edit-model", "Default model (empty: none)", h("input", { id: "edit-model", name: "default_model", value: k.default_model || "" })),
    field("edit-note", "Note (empty: none)", h("input", { id: "edit-note", name: "note", value: k.note || "" })),
  ];
  const done = await dialog("Edit " + k.label, inputs.flat(), "Save", false, (f) => api.editKey(state.ws, k.id, {
    version: k.version, label: f.get("label"), role: f.get("role"), order: Number(f.get("order")) || 0,
    default_model: f.get("default_model") || null, note: f.get("note") || null,
  }));
  await loadKeys();
  if (done) say(`${k.label} saved.`);
}

async function rotateKey(k) {
  const input = h("input", { id: "rotate-key", name: "key", type: "password", autocomplete: "off", spellcheck: "false", required: true });
  const done = await dialog("Rotate " + k.label, [
    h("p", {}, "Paste the new key. It replaces ", h("span", { class: "mono" }, k.masked), " under the same id; the old one is gone for good."),
    ...field("rotate-key", "New key", input)], "Rotate", true, (f) => api.rotateKey(state.ws, k.id, f.get("key")));
  input.value = "";
  await loadKeys();
  if (done) say(`${k.label} rotated: now ${done.masked}.`);
}

async function revokeKey(k) {
  const done = await dialog("Revoke " + k.label + "?", [h("p", {}, "A revoked key is never used again and cannot be enabled: it can only be deleted. This cannot be undone.")],
    "Revoke", true, () => api.keyAction(state.ws, k.id, "revoke"));
  await loadKeys();
  if (done) say(`${k.label} revoked.`);
}

async function deleteKey(k) {
  const done = await dialog("Delete " + k.label + "?", [h("p", {}, "The key and its secret are deleted from the vault (the audit trail keeps the event). This cannot be undone.")],
    "Delete", true, async () => { await api.deleteKey(state.ws, k.id); return true; });
  await loadKeys();
  if (done) say(`${k.label} deleted.`);
}

// ---------- add a key ----------
$("add-provider").replaceChildren(h("option", { value: "" }, "Detect from the key"), ...PROVIDERS.map(([c, n]) => h("option", { value: c }, n)));
$("selection-provider").replaceChildren(...PROVIDERS.map(([c, n]) => h("option", { value: c }, n)));

let checkSeq = 0;
let checkTimer = null;
function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(runCheck, 200);
}
async function runCheck() {
  const node = $("add-key-check");
  const text = $("add-key").value;
  const seq = ++checkSeq;
  if (!text) { node.replaceChildren(); return; }
  let answer;
  try {
    answer = await api.formatCheck(text, $("add-provider").value || null);
  } catch (e) { if (seq === checkSeq) show(node, errorBox(e)); return; }
  if (seq !== checkSeq) return;
  const fixes = answer.fixes.length ? h("p", { class: "help" }, "Removed from the paste: ", answer.fixes.join(", ")) : null;
  if (answer.ok) {
    show(node, h("p", { class: "ok", "data-check": "ok" }, "✓ ", providerName(answer.provider), " ", answer.kind, " key ",
      h("span", { class: "mono" }, answer.masked), " · ", h("span", { class: "mono" }, answer.fingerprint)),
      ...answer.warnings.map((w) => h("p", { class: "help", "data-warning": w.code }, "⚠ ", w.message)), fixes);
    return;
  }
  const e = answer.error;
  // Where the problem is, as a ruler of dots (never the key's characters).
  const ruler = e.position != null ? h("p", { class: "ruler", "aria-hidden": "true" },
    "·".repeat(Math.min(e.position, 200)), h("b", {}, "^")) : null;
  show(node, h("div", { class: "error", "data-check": e.code, "data-position": e.position ?? "" },
    h("strong", {}, e.message),
    e.position != null && !/position/.test(e.message) ? h("span", {}, ` (at position ${e.position})`) : null),
    ruler,
    h("p", { class: "help" }, e.hint), h("p", { class: "help" }, "code ", h("code", {}, e.code)), fixes);
}
$("add-key").addEventListener("input", scheduleCheck);
$("add-provider").addEventListener("change", scheduleCheck);

function parseParams(text) {
  const out = {};
  for (const part of text.split(",")) {
    const [k, ...v] = part.split("=");
    if (k.trim()) out[k.trim()] = v.join("=").trim();
  }
  return out;
}

$("add-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("add-result");
  const f = new FormData($("add-form"));
  if (!state.ws) { show(out, h("p", { class: "error", role: "alert" }, "Pick or create a workspace first.")); return; }
  if (!f.get("key")) { show(out, h("p", { class: "error", role: "alert" }, "Paste a key first.")); $("add-key").focus(); return; }
  if (!String(f.get("label")).trim()) { show(out, h("p", { class: "error", role: "alert" }, "Give the key a label, e.g. production.")); $("add-label").focus(); return; }
  const body = { key: f.get("key"), label: String(f.get("label")).trim(), role: f.get("role"), order: f.get("role") === "primary" ? 0 : Number(f.get("order")) || 0 };
  if (f.get("provider")) body.provider = f.get("provider");
  if (f.get("default_model")) body.default_model = f.get("default_model");
  if (f.get("note")) body.note = f.get("note");
  if (f.get("params")) body.params = parseParams(String(f.get("params")));
  $("add-submit").disabled = true;
  show(out, h("p", { class: "help" }, "Testing the key with the provider…"));
  try {
    const added = await api.addKey(state.ws, body);
    $("add-form").reset();
    $("add-key").value = "";
    $("add-key-check").replaceChildren();
    const saved = added.warning ? "Saved, with a warning: " + added.warning : "Saved.";
    show(out, reportCard(added.report, "Test of " + added.key.label, saved));
    say(`${added.key.label}: ${(VERDICTS[added.report.verdict] || [0, added.report.verdict])[1]}. ${saved}`);
  } catch (e) {
    // Once the server has answered, the key leaves the page whatever the answer
    // (paste it again once fixed); only when it could not be reached is it kept.
    if (e.status !== 0) {
      $("add-key").value = "";
      $("add-key-check").replaceChildren();
    }
    if (e.code === "key_rejected" && e.report) {
      show(out, reportCard(e.report, "Test", "Not saved: the provider refused this key. It was cleared from the form."));
      say("Not saved: the provider refused this key.");
    } else {
      show(out, errorBox(e));
      say("Not saved: " + e.message);
    }
  } finally {
    $("add-submit").disabled = false;
  }
});

// ---------- selection preview ----------
function loadSelection() {
  const present = [...new Set(state.keys.map((k) => k.provider))];
  if (present.length && !present.includes($("selection-provider").value)) $("selection-provider").value = present[0];
}
$("selection-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const node = $("selection-result");
  if (!needWorkspace(node)) return;
  let sel;
  try { sel = await api.selection(state.ws, $("selection-provider").value); } catch (e) { show(node, errorBox(e)); return; }
  const chosen = sel.chosen
    ? h("div", { class: "card verdict good", "data-chosen": sel.chosen.id },
      h("h3", {}, "A call now uses ", h("strong", {}, sel.chosen.label)),
      h("p", { class: "mono" }, sel.chosen.masked, " · ", sel.chosen.role))
    : h("div", { class: "card verdict bad", "data-chosen": "" }, h("h3", {}, "No key can serve a call now"),
      h("p", { class: "help" }, sel.skipped.length ? "Every key is passed over (below)." : "There is no key for this provider."));
  const skipped = sel.skipped.length ? h("ul", {}, sel.skipped.map((s) => h("li", { "data-skipped": s.id },
    h("strong", {}, s.label), " ", h("span", { class: "mono" }, s.masked), " (", s.role, ") skipped: ", s.reason.message,
    s.reason.verdict ? [" ", verdictBadge(s.reason.verdict)] : null))) : null;
  show(node, chosen, skipped ? h("h3", {}, "Passed over") : null, skipped);
});

// ---------- budget and spend ----------
function spendChart(st) {
  // One stacked bar of this period: settled spend per label, held, remaining (inline SVG).
  const limit = Number(st.budget.limit) || 0;
  const parts = DAY_LABELS.filter(([l]) => st.spent_by_label[l]).map(([l, colour]) => [LABEL_WORDS[l], Number(st.spent_by_label[l]), colour]);
  parts.push(["Held", Number(st.held), HELD_COLOUR]);
  const total = Math.max(limit, parts.reduce((a, [, v]) => a + v, 0)) || 1;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 400 70");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "This period's spend by label against the limit: " + parts.map(([l, v]) => `${l} $${v}`).join(", ") + `, limit $${limit}`);
  let x = 0;
  const rect = (x0, w, fill) => { const r = document.createElementNS(ns, "rect"); r.setAttribute("x", x0); r.setAttribute("y", 10); r.setAttribute("width", Math.max(w, 0)); r.setAttribute("height", 24); r.setAttribute("fill", fill); return r; };
  svg.append(rect(0, 400, "#eaeef2"));
  for (const [, v, colour] of parts) { const w = (v / total) * 400; svg.append(rect(x, w, colour)); x += w; }
  const lim = document.createElementNS(ns, "line");
  const lx = (limit / total) * 400;
  for (const [k, v] of [["x1", lx], ["x2", lx], ["y1", 4], ["y2", 40], ["stroke", "#cf222e"], ["stroke-width", 2]]) lim.setAttribute(k, v);
  svg.append(lim);
  let lx2 = 0;
  for (const [l, , colour] of parts) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", lx2 + 12); t.setAttribute("y", 56); t.textContent = l;
    const sw = rect(lx2, 9, colour); sw.setAttribute("y", 47); sw.setAttribute("height", 9);
    svg.append(sw, t);
    lx2 += 24 + l.length * 7;
  }
  return h("figure", { class: "chart" }, svg, h("figcaption", { class: "help" }, "This period against the limit (red line)."));
}

/** The exact sum of decimal dollar strings (the API's amounts have at most 12 decimals). */
function sumUsd(amounts) {
  const E = 10n ** 12n;
  const picos = (s) => {
    const neg = s.startsWith("-");
    const [i, f = ""] = s.replace("-", "").split(".");
    return (neg ? -1n : 1n) * (BigInt(i) * E + BigInt((f + "0".repeat(12)).slice(0, 12)));
  };
  let p = amounts.reduce((a, s) => a + picos(s), 0n);
  const neg = p < 0n;
  if (neg) p = -p;
  const frac = (p % E).toString().padStart(12, "0").replace(/0+$/, "");
  return (neg ? "-" : "") + (p / E).toString() + (frac ? "." + frac : "");
}

/** "1 call", "2 calls". */
function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

/** "2026-12-03" as "Dec 3" (the date is already the budget's calendar day). */
function shortDate(date) {
  const d = new Date(date + "T12:00:00Z");
  return isNaN(d) ? date : d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

/**
 * The daily spend chart: one stacked bar per calendar day of the budget's time
 * zone (inline SVG, no external service), each label in its colour; a day with
 * spend whose cost is unknown is marked "?" rather than drawn as $0. The same
 * figures follow as a table for screen readers and copying.
 */
function dailyChart(history) {
  const days = history.days;
  const active = days.filter((d) => d.calls > 0);
  if (!active.length) return h("p", { class: "empty", id: "daily-empty" }, `No settled calls in the last ${days.length} days.`);
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const drawn = (d) => DAY_LABELS.reduce((a, [l]) => a + Number(d.spent_by_label[l] || 0), 0);
  const top = Math.max(...days.map(drawn)) || 1;
  const [W, H, left, plot] = [600, 190, 40, 150];
  const slot = (W - left - 8) / days.length;
  const peak = days.reduce((a, d) => (drawn(d) > drawn(a) ? d : a), days[0]);
  const calls = active.reduce((a, d) => a + d.calls, 0);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "daily-chart",
    "aria-label": `Settled spend per day, last ${days.length} days (${history.time_zone}): ${plural(active.length, "day")} with calls, `
      + `${plural(calls, "call")}, $${sumUsd(active.map((d) => d.spent))} in all; highest $${peak.spent} on ${shortDate(peak.date)}.` });
  svg.append(el("line", { x1: left, x2: W - 4, y1: plot + 8, y2: plot + 8, class: "axis" }));
  svg.append(el("line", { x1: left, x2: W - 4, y1: 16, y2: 16, class: "axis top" }));
  svg.append(el("text", { x: left + 4, y: 12 }, "$" + top.toLocaleString("en-US", { maximumSignificantDigits: 3 }) + " (the highest day)"));
  svg.append(el("text", { x: left - 6, y: plot + 8, "text-anchor": "end" }, "$0"));
  days.forEach((d, i) => {
    const x = left + i * slot + slot * 0.15;
    const w = Math.max(slot * 0.7, 1);
    const g = el("g", { "data-date": d.date });
    const parts = DAY_LABELS.filter(([l]) => d.spent_by_label[l]).map(([l]) => `$${d.spent_by_label[l]} ${LABEL_WORDS[l]}`);
    const unknown = d.calls_by_label.unavailable || 0;
    if (unknown) parts.push(`cost unavailable for ${plural(unknown, "call")}`);
    g.append(el("title", {}, `${shortDate(d.date)}: ${plural(d.calls, "call")}${parts.length ? ", " + parts.join(", ") : ""}`));
    let y = plot + 8;
    for (const [l, colour] of DAY_LABELS) {
      const v = Number(d.spent_by_label[l] || 0);
      if (!v) continue;
      const hgt = Math.max((v / top) * (plot - 8), 1);
      y -= hgt;
      g.append(el("rect", { x, y, width: w, height: hgt, fill: colour, "data-label": l }));
    }
    if (unknown) g.append(el("text", { x: x + w / 2, y: y - 3, "text-anchor": "middle", class: "unknown", "data-label": "unavailable" }, "?"));
    svg.append(g);
  });
  for (const i of [0, Math.floor((days.length - 1) / 2), days.length - 1]) {
    svg.append(el("text", { x: left + i * slot + slot / 2, y: H - 6, "text-anchor": "middle" }, shortDate(days[i].date)));
  }
  const legend = h("ul", { class: "legend" }, DAY_LABELS.map(([l, colour]) => h("li", {}, h("span", { class: "swatch", "data-colour": colour }), LABEL_WORDS[l])),
    h("li", {}, h("span", { class: "swatch unknown" }, "?"), LABEL_WORDS.unavailable));
  const rows = active.map((d) => h("tr", { "data-date": d.date },
    h("td", {}, d.date), h("td", {}, String(d.calls)),
    h("td", {}, Object.entries(d.calls_by_label).map(([l, n]) => `${LABEL_WORDS[l] || l}: `
      + (l === "unavailable" ? `${plural(n, "call")}, no price known` : `$${d.spent_by_label[l] || "0"} (${plural(n, "call")})`)).join("; "))));
  const figure = h("figure", { class: "chart daily" }, svg,
    h("figcaption", { class: "help" }, `Settled spend per day, calendar days of ${history.time_zone}; hover a bar for its figures.`), legend,
    h("details", {}, h("summary", {}, "Daily figures"),
      h("table", { id: "daily-table" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, "Calls"), h("th", { scope: "col" }, "Spend by label"))),
        h("tbody", {}, rows))));
  // Swatch colours from the same table as the bars (no inline style: the CSP forbids it).
  for (const sw of figure.querySelectorAll(".swatch[data-colour]")) {
    const dot = el("svg", { viewBox: "0 0 10 10", width: 12, height: 12, "aria-hidden": "true" });
    dot.append(el("rect", { width: 10, height: 10, fill: sw.dataset.colour }));
    sw.append(dot);
  }
  return figure;
}

/** The option of the budget picker that stands for a project's budget (admin tokens). */
const PROJECT_OPTION = "project:";

/**
 * The budget picked: the workspace's (key null), one key's, or (admin tokens) a
 * project's, with its name and the API calls that read and set it.
 */
function budgetScope() {
  const picked = $("budget-scope").value;
  if (picked === PROJECT_OPTION) {
    const project = $("budget-project").value.trim();
    return {
      project, name: project ? `project ${project}` : "a project",
      get: () => api.projectBudget(project), set: (body) => api.setProjectBudget(project, body),
      alerts: () => api.projectAlerts(project),
      history: () => api.projectHistory(project, HISTORY_DAYS),
    };
  }
  const key = picked || null;
  const k = key && state.keys.find((x) => x.id === key);
  return {
    key, name: k ? `key ${k.label} (${k.masked})` : "the workspace",
    get: () => api.budget(state.ws, key), set: (body) => api.setBudget(state.ws, body, key),
    alerts: () => api.alerts(state.ws, key),
    history: () => api.history(state.ws, key, HISTORY_DAYS),
  };
}

/** Show the project field only while "A project" is picked. */
function showProjectField() {
  const on = $("budget-scope").value === PROJECT_OPTION;
  $("budget-project-field").hidden = !on;
  $("budget-project-help").hidden = !on;
  return on;
}

async function loadBudget() {
  const node = $("budget-status");
  if (!needWorkspace(node)) return;
  if (!state.keys.length) { try { state.keys = await api.keys(state.ws); fillKeyPickers(); } catch { /* shown below */ } }
  const which = budgetScope();
  const { name } = which;
  $("budget-form-title").textContent = "Set the budget of " + name;
  if (showProjectField() && !which.project) {
    show(node, h("p", { class: "empty" }, "Name the project (what your calls pass to Call::project), then Show."));
    return;
  }
  let st;
  try { st = await which.get(); } catch (e) {
    if (e.code === "budget_not_found") show(node, h("p", { class: "empty" }, `No budget yet: nothing limits the spend of ${name}. Set one below.`));
    else show(node, errorBox(e));
    return;
  }
  let alerts = null;
  try { alerts = await which.alerts(); } catch { alerts = null; }
  let daily;
  try { daily = dailyChart(await which.history()); } catch (e) { daily = errorBox(e); }
  $("budget-limit").value = st.budget.limit;
  $("budget-period").value = st.budget.period;
  $("budget-tz").value = st.budget.time_zone;
  $("budget-alerts").value = st.budget.alert_percents.join(", ");
  const limit = Number(st.budget.limit);
  const used = Number(st.spent) + Number(st.held);
  const pct = limit > 0 ? Math.round((used / limit) * 100) : 0;
  const labels = Object.entries(st.spent_by_label);
  const period = st.period_start ? `${when(st.period_start)} to ${when(st.period_end)}` : "all time (total)";
  show(node, h("div", { class: "card" },
    h("h3", {}, `Budget of ${name}: $${st.budget.limit} ${st.budget.period === "total" ? "in total" : "per " + st.budget.period}`),
    h("p", { class: "help" }, "Period: ", period),
    h("label", { for: "budget-progress" }, `Spent $${st.spent} + held $${st.held} of $${st.budget.limit} (${pct}%)`),
    h("progress", { id: "budget-progress", max: limit > 0 ? limit : 1, value: Math.min(used, limit > 0 ? limit : 1) }, `${pct}%`),
    h("p", {}, "Remaining: ", h("strong", {}, "$" + st.remaining)),
    h("h3", {}, "Spend by label"),
    labels.length ? h("table", { id: "spend-by-label" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Label"), h("th", { scope: "col" }, "Amount"))),
      h("tbody", {}, labels.map(([l, v]) => h("tr", { "data-label": l }, h("td", {}, LABEL_WORDS[l] || l),
        h("td", {}, l === "unavailable" ? "no price known" : "$" + v)))))
      : h("p", { class: "empty" }, "No settled spend this period yet."),
    labels.length ? spendChart(st) : null,
    h("h3", {}, `Daily spend, last ${HISTORY_DAYS} days`),
    daily,
    h("h3", {}, "Alerts"),
    alerts && alerts.alert_percents.length
      ? h("ul", { id: "alerts" }, alerts.alert_percents.map((p) => h("li", {}, `${p}%: `,
        alerts.alerts_fired.includes(p) ? h("span", { class: "badge warn" }, "fired this period") : h("span", { class: "badge" }, "not reached"))))
      : h("p", { class: "help" }, "No soft limits set.")));
}

$("budget-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("budget-error");
  err.hidden = true;
  const alerts = $("budget-alerts").value.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (alerts.some((n) => !Number.isInteger(n) || n <= 0)) { err.textContent = "Alert percents are whole numbers, e.g. 50, 80."; err.hidden = false; return; }
  try {
    const which = budgetScope();
    if (which.project === "") { err.textContent = "Name the project first."; err.hidden = false; return; }
    await which.set({ limit_usd: $("budget-limit").value.trim(), period: $("budget-period").value, time_zone: $("budget-tz").value.trim() || "UTC", alert_percents: alerts });
    say("Budget saved.");
    await loadBudget();
  } catch (e) { err.textContent = e.message + (e.hint ? " " + e.hint : ""); err.hidden = false; }
});

// ---------- audit trail ----------
function fillKeyPickers() {
  for (const [id, none] of [["audit-key", "All keys"], ["budget-scope", "The workspace"]]) {
    const sel = $(id);
    const was = sel.value;
    const project = id === "budget-scope" && scope() === "admin" ? [h("option", { value: PROJECT_OPTION }, "A project (across workspaces)")] : [];
    sel.replaceChildren(h("option", { value: "" }, none), ...state.keys.map((k) => h("option", { value: k.id }, `${k.label} (${k.masked})`)), ...project);
    if ([...sel.options].some((o) => o.value === was)) sel.value = was;
  }
}
$("budget-scope").addEventListener("change", () => { $("budget-error").hidden = true; loadBudget(); });
$("budget-scope-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadBudget(); });

async function loadAudit() {
  const node = $("audit-result");
  if (!needWorkspace(node)) return;
  if (!state.keys.length) { try { state.keys = await api.keys(state.ws); fillKeyPickers(); } catch { /* shown below */ } }
  let events = [];
  try {
    let after = null;
    for (let i = 0; i < 20; i++) {
      const page = await api.audit(state.ws, after);
      events = events.concat(page.events);
      if (page.next == null) break;
      after = page.next;
    }
  } catch (e) { show(node, errorBox(e)); return; }
  const key = $("audit-key").value;
  const names = new Map(state.keys.map((k) => [k.id, k.label]));
  const shown = events.filter((e) => !key || e.key_id === key).reverse();
  if (!shown.length) { show(node, h("p", { class: "empty" }, key ? "Nothing recorded for this key." : "Nothing recorded yet.")); return; }
  show(node, h("table", { id: "audit-table" },
    h("caption", { class: "help" }, `${shown.length} event(s), newest first`),
    h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Key"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, shown.map((e) => h("tr", { "data-action": e.action, "data-key-id": e.key_id },
      h("td", {}, when(e.at)), h("td", { class: "mono" }, e.actor), h("td", {}, e.action),
      h("td", {}, names.get(e.key_id) || h("span", { class: "mono" }, e.key_id.slice(0, 8) + "… (deleted)")))))));
}
$("audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadAudit(); });

$("token").focus();
