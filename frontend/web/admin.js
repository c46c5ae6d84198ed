// @ts-check
/** Admin page: who may read and write the collections you manage; for admins also users,
 * groups, how people sign in, API keys and the audit log. Every change goes through the API,
 * which records it. */
import { api, me, signIn } from "./auth.js";
import { button, call, el, filterRows, say, send, when } from "./page.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id));
const path = encodeURIComponent;

/** How a user signs in: `password` a web password, `sso` single sign-on, `keys` API keys that
 * work; a `disabled` user's sessions and keys stop.
 * @typedef {{name: string, email: string | null, admin: boolean, groups: string[], created_at: string,
 *   password: boolean, sso: boolean, keys: number, disabled: boolean}} User */
/** @typedef {{name: string, members: string[], created_at: string}} Group */
/** @typedef {{id: string, prefix: string, created_at: string, revoked_at: string | null, expires_at: string | null}} Key */
/** @typedef {{name: string, owner: string | null, documents: number | null, readers: string[], writers: string[], access: {manage: boolean}}} Collection */
/** @typedef {{at: string, file: string, collection: string, models: string[], figures: Record<string, Record<string, number | null>>, skipped: {line: number, error: string}[]}} Comparison */
/** What the last sync of a source did.
 * @typedef {{new?: number, changed?: number, deleted?: number, failed?: number, unchanged?: number, waiting?: number, notes?: string[]}} Counts */
/** @typedef {{name: string, kind: string, collection: string, settings: Record<string, unknown>, secrets: string[],
 *   interval_minutes: number, enabled: boolean, syncing: boolean, last_sync: string | null, next_sync: string | null,
 *   counts: Counts, error: string | null, documents: number, created_by: string | null, created_at: string}} Source */
/** A setting as JSON Schema describes it (the parts the form reads).
 * @typedef {{type?: string, title?: string, description?: string, default?: unknown, enum?: string[], minimum?: number,
 *   maximum?: number, items?: {type?: string}, anyOf?: Prop[]}} Prop */
/** @typedef {{name: string, summary: string, secrets: string[], admin_only: boolean,
 *   settings: {properties?: Record<string, Prop>, required?: string[]}}} SourceKind */

/** @type {User[]} */
let users = [];
/** @type {Group[]} */
let groups = [];
/** The user shown in the detail panel. @type {string | null} */
let selected = null;

// ---- collections: readers and writers, for their owner or an admin

async function loadCollections() {
  /** @type {Collection[] | null} */
  const list = await call("/v1/collections");
  if (!list) return;
  const managed = list.filter((c) => c.access.manage);
  $("collections-table").querySelector("tbody")?.replaceChildren(...managed.map(collectionRow));
  $("no-collections").hidden = managed.length > 0;
  $("collections-table").hidden = input("collection-filter").hidden = !managed.length;
  filterRows(input("collection-filter"), $("collections-table"));
  const into = /** @type {HTMLSelectElement} */ ($("source-collection"));
  const chosen = into.value;
  into.replaceChildren(...managed.map((c) => el("option", { value: c.name, selected: c.name === chosen }, c.name)));
}

/** @param {Collection} c */
function collectionRow(c) {
  const docs = c.documents === null ? "" : ` · ${c.documents} documents`;
  const about = el("small", {}, `owner ${c.owner ?? "unknown"}${docs}`);
  const grant = el("input", { required: true, placeholder: "group or user:NAME" });
  grant.setAttribute("list", "grants");
  grant.setAttribute("aria-label", `Group or person to share ${c.name} with`);
  const role = el("select", {}, el("option", { value: "readers" }, "as reader"),
    el("option", { value: "writers" }, "as writer"));
  role.setAttribute("aria-label", `Role in ${c.name}`);
  const share = el("form", { className: "share" }, grant, role, el("button", { type: "submit" }, "Share"));
  share.onsubmit = (e) => {
    e.preventDefault();
    const kind = /** @type {"readers" | "writers"} */ (role.value);
    const name = grant.value.trim();
    if (c[kind].includes(name)) say(`${name} is already one of the ${kind} of ${c.name}.`);
    else if (name) changeGrants(c, kind, [...c[kind], name], `${c.name}: ${name} added to the ${kind}.`);
  };
  const tr = el("tr", {}, el("td", {}, el("strong", {}, c.name), el("br"), about),
    el("td", {}, grantList(c, "readers")), el("td", {}, grantList(c, "writers")), el("td", {}, share));
  tr.dataset.name = c.name;
  return tr;
}

/** @param {Collection} c @param {"readers" | "writers"} kind */
function grantList(c, kind) {
  const ul = el("ul", { className: "grants" });
  ul.setAttribute("aria-label", `${kind} of ${c.name}`);
  for (const g of c[kind]) {
    const remove = button("Remove", `Remove ${g} from the ${kind} of ${c.name}`, () =>
      changeGrants(c, kind, c[kind].filter((x) => x !== g), `${c.name}: ${g} removed from the ${kind}.`));
    ul.append(el("li", {}, el("span", {}, g), remove));
  }
  if (!c[kind].length) ul.append(el("li", { className: "none" }, "nobody"));
  return ul;
}

/** PATCH one list of grants; the row shows what the API answers. @param {Collection} c
 * @param {"readers" | "writers"} kind @param {string[]} next @param {string} done */
async function changeGrants(c, kind, next, done) {
  /** @type {Collection | null} */
  const changed = await send("PATCH", `/v1/collections/${path(c.name)}`, { [kind]: next });
  if (!changed) return;
  document.querySelector(`#collections-table tr[data-name="${CSS.escape(c.name)}"]`)?.replaceWith(collectionRow(changed));
  say(done);
  if (me?.admin) loadAudit();
}

/** What the share boxes suggest: groups, people and everyone. */
function fillGrants() {
  const names = me?.admin
    ? [...groups.map((g) => g.name), ...users.map((u) => `user:${u.name}`), "everyone"]
    : (me?.groups ?? []);
  $("grants").replaceChildren(...names.map((n) => el("option", { value: n })));
}

// ---- sources: what keeps a collection current, and how its last sync went

const POLL_MS = 5000;
const WATCH_MS = 10 * 60 * 1000;  // a sync asked for that never comes (no worker) stops the polling
/** @type {SourceKind[]} */
let kinds = [];
/** Sources whose sync we wait for (added, or "Sync now"): name → its last sync then, and since when.
 * @type {Map<string, {last: string | null, since: number}>} */
const awaited = new Map();
let polling = 0;

async function loadSources() {
  clearTimeout(polling);
  /** @type {Source[] | null} */
  const list = await call("/v1/sources");
  if (!list) return;
  for (const [name, w] of awaited) {
    const s = list.find((x) => x.name === name);
    if (!s || (!s.syncing && s.last_sync !== w.last) || Date.now() - w.since > WATCH_MS) awaited.delete(name);
  }
  $("sources-table").querySelector("tbody")?.replaceChildren(...list.map(sourceRow));
  $("sources-table").hidden = !list.length;
  $("no-sources").hidden = list.length > 0;
  clearTimeout(polling);  // another load may have set one meanwhile
  if (list.some((s) => s.syncing || due(s)) || awaited.size) polling = window.setTimeout(loadSources, POLL_MS);
}

/** A sync is expected soon: the source is due (beat sends it within seconds), or new and not
 * synced yet (beat moves next_sync on as it sends, so a queued first sync is not "due"). One
 * that waits for long waits on a worker that is down, and is not polled for. @param {Source} s */
function due(s) {
  const since = (/** @type {string | null} */ at) => (at ? Date.now() - Date.parse(at) : -1);
  const late = s.enabled ? since(s.next_sync) : -1;
  const fresh = s.enabled && !s.last_sync ? since(s.created_at) : -1;
  return (late >= 0 && late < WATCH_MS) || (fresh >= 0 && fresh < WATCH_MS);
}

/** The last sync's counts in words: "new 1, changed 0, deleted 0, failed 0, unchanged 3". @param {Counts} c */
function countsText(c) {
  const shown = ["new", "changed", "deleted", "failed", "unchanged"].map((k) => `${k} ${c[/** @type {keyof Counts} */ (k)] ?? 0}`);
  if (c.waiting) shown.push(`waiting ${c.waiting}`);
  return shown.join(", ");
}

/** @param {Source} s */
function sourceRow(s) {
  const about = el("small", {}, `${s.kind} → ${s.collection} · ${s.documents} document${s.documents === 1 ? "" : "s"}`);
  const last = el("td", {}, s.last_sync ? when(s.last_sync) : "never");
  if (s.syncing) last.append(el("br"), el("strong", { className: "syncing" }, "syncing…"));
  const did = el("td", {}, s.last_sync ? countsText(s.counts) : "");
  if (s.error) did.append(el("p", { className: "source-error" }, s.error));
  const notes = s.counts.notes ?? [];
  if (notes.length) did.append(el("ul", { className: "notes" }, ...notes.map((n) => el("li", {}, n))));
  const next = s.enabled ? (s.next_sync ? when(s.next_sync) : "—") : "paused";
  const pause = s.enabled ? button("Pause", `Pause source ${s.name}`, () => setEnabled(s, false))
    : button("Resume", `Resume source ${s.name}`, () => setEnabled(s, true));
  const actions = el("td", { className: "actions" }, button("Sync now", `Sync source ${s.name} now`, () => syncNow(s)),
    pause, button("Remove", `Remove source ${s.name}`, () => removeSource(s), "danger"));
  const tr = el("tr", {}, el("td", {}, el("strong", {}, s.name), el("br"), about), last, did,
    el("td", {}, next, el("br"), el("small", {}, `every ${s.interval_minutes} min`)), actions);
  tr.dataset.name = s.name;
  tr.classList.toggle("failed", Boolean(s.error));
  tr.classList.toggle("paused", !s.enabled);
  return tr;
}

/** Wait for the source's next sync to end, showing it as it goes. @param {string} name @param {string | null} last */
function awaitSync(name, last) {
  awaited.set(name, { last, since: Date.now() });
  loadSources();
}

/** @param {Source} s */
async function syncNow(s) {
  if (!(await send("POST", `/v1/sources/${path(s.name)}/sync`))) return;
  say(`Source ${s.name}: a sync was asked for; this list shows it when it ends.`);
  awaitSync(s.name, s.last_sync);
}

/** Pause a source (no more syncs until resumed) or resume it. @param {Source} s @param {boolean} enabled */
async function setEnabled(s, enabled) {
  if (!(await send("PATCH", `/v1/sources/${path(s.name)}`, { enabled }))) return;
  say(enabled ? `Source ${s.name} resumed.` : `Source ${s.name} paused: it syncs no more until it is resumed.`);
  await loadSources();
}

/** @param {Source} s */
async function removeSource(s) {
  if (!confirm(`Remove source ${s.name}? The ${s.documents} documents it brought into ${s.collection} are deleted too.`)) return;
  if (!(await send("DELETE", `/v1/sources/${path(s.name)}`))) return;
  awaited.delete(s.name);
  say(`Source ${s.name} removed, with its documents.`);
  await Promise.all([loadSources(), loadCollections()]);
}

// ---- adding a source: a form built from its kind's settings (JSON Schema) and secrets

async function loadKinds() {
  /** @type {SourceKind[] | null} */
  const list = await call("/v1/sources/kinds");
  if (!list) return;
  kinds = list.filter((k) => me?.admin || !k.admin_only);
  const select = /** @type {HTMLSelectElement} */ ($("source-kind"));
  select.replaceChildren(...kinds.map((k) => el("option", { value: k.name }, k.name)));
  showKind();
}

/** The type of a setting, a nullable one ("anyOf": [T, null]) as T. @param {Prop} p @returns {Prop} */
const plain = (p) => p.anyOf?.find((x) => x.type !== "null") ?? p;

/** One input for a setting. @param {string} name @param {Prop} prop @param {boolean} required */
function settingInput(name, prop, required) {
  const p = plain(prop);
  const type = p.type === "array" ? "list" : p.enum ? "choice" : p.type ?? "string";
  /** @type {HTMLInputElement | HTMLSelectElement} */
  let box;
  if (type === "choice") {
    box = el("select", {}, ...(p.enum ?? []).map((v) => el("option", { value: v, selected: v === prop.default }, v)));
  } else if (type === "boolean") {
    box = el("input", { type: "checkbox", checked: prop.default === true });
  } else {
    box = el("input", { type: type === "integer" || type === "number" ? "number" : "text", required });
    if (p.minimum !== undefined) box.min = String(p.minimum);
    if (p.maximum !== undefined) box.max = String(p.maximum);
    if (type === "list") box.placeholder = Array.isArray(prop.default) ? prop.default.join(", ") : "comma, separated";
    else if (prop.default !== undefined && prop.default !== null) box.placeholder = String(prop.default);
  }
  box.dataset.setting = name;
  box.dataset.type = type;
  const words = [prop.title ?? name, ...(required ? [el("span", { className: "required" }, " (required)")] : [])];
  const label = type === "boolean" ? el("label", { className: "check" }, box, ...words) : el("label", {}, ...words, box);
  const hint = prop.description ?? (type === "list" ? "separated by commas" : "");
  return el("div", { className: "field" }, label, hint ? el("small", {}, hint) : "");
}

/** Fill the form's settings and secrets for the chosen kind. */
function showKind() {
  const k = kinds.find((x) => x.name === /** @type {HTMLSelectElement} */ ($("source-kind")).value);
  $("source-kind-summary").textContent = k?.summary ?? "";
  const props = Object.entries(k?.settings.properties ?? {});
  const required = k?.settings.required ?? [];
  const settings = $("source-settings");
  settings.replaceChildren(/** @type {HTMLElement} */ (settings.querySelector("legend")),
    ...props.map(([name, prop]) => settingInput(name, prop, required.includes(name))));
  settings.hidden = !props.length;
  const secrets = $("source-secrets");
  secrets.replaceChildren(/** @type {HTMLElement} */ (secrets.querySelector("legend")), ...(k?.secrets ?? []).map((name) => {
    const box = el("input", { type: "password", autocomplete: "new-password" });
    box.dataset.secret = name;
    return el("div", { className: "field" }, el("label", {}, name, box));
  }));
  secrets.hidden = !k?.secrets.length;
}

/** The settings the form holds: empty boxes left out (the kind's default applies). */
function formSettings() {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const node of $("source-settings").querySelectorAll("[data-setting]")) {
    const box = /** @type {HTMLInputElement} */ (node);
    const name = /** @type {string} */ (box.dataset.setting);
    const text = box.value.trim();
    if (box.dataset.type === "boolean") out[name] = box.checked;
    else if (box.dataset.type === "list") {
      const items = text.split(",").map((x) => x.trim()).filter(Boolean);
      if (items.length || box.required) out[name] = items;
    } else if (text) out[name] = box.type === "number" ? Number(text) : text;
  }
  return out;
}

/** The secrets typed in, and the password boxes emptied at once (a secret never stays in the page). */
function takeSecrets() {
  /** @type {Record<string, string>} */
  const out = {};
  for (const node of $("source-secrets").querySelectorAll("[data-secret]")) {
    const box = /** @type {HTMLInputElement} */ (node);
    if (box.value) out[/** @type {string} */ (box.dataset.secret)] = box.value;
    box.value = "";
  }
  return out;
}

async function addSource(/** @type {SubmitEvent} */ e) {
  e.preventDefault();
  const name = input("source-name").value.trim();
  const interval = input("source-interval").value;
  const body = { name, kind: /** @type {HTMLSelectElement} */ ($("source-kind")).value,
    collection: /** @type {HTMLSelectElement} */ ($("source-collection")).value,
    settings: formSettings(), secrets: takeSecrets(), ...(interval ? { interval_minutes: Number(interval) } : {}) };
  $("source-error").textContent = "";
  let res;
  try {
    res = await api("/v1/sources", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch {
    $("source-error").textContent = "The gptu server does not answer; check your connection and try again.";
    return;
  }
  if (!res.ok) {
    $("source-error").textContent = await refusal(res);
    return;
  }
  input("source-name").value = input("source-interval").value = "";
  showKind();  // fresh settings for the next one; kind and collection stay
  say(`Source ${name} added; its first sync starts shortly.`);
  awaitSync(name, null);
}

/** The message of the API's error envelope, in its words. @param {Response} res */
async function refusal(res) {
  try {
    const answer = await res.json();
    return answer.error?.message ?? `${res.status} ${res.statusText}`;
  } catch {
    return `${res.status} ${res.statusText}`;
  }
}

// ---- users

async function loadUsers() {
  /** @type {User[] | null} */
  const list = await call("/v1/users");
  if (!list) return;
  users = list;
  $("users-table").querySelector("tbody")?.replaceChildren(...users.map(userRow));
  filterRows(input("user-filter"), $("users-table"));
  fillGrants();
}

/** How a user signs in, in words: "password, SSO, 2 keys", or a dash for no way. @param {User} u */
function signsInWith(u) {
  const keys = u.keys ? `${u.keys} key${u.keys === 1 ? "" : "s"}` : "";
  return [u.password ? "password" : "", u.sso ? "SSO" : "", keys].filter(Boolean).join(", ") || "—";
}

/** @param {User} u */
function userRow(u) {
  const manage = button("Manage", `Manage ${u.name}`, () => showUser(u.name));
  const name = el("td", {}, u.name);
  if (u.disabled) name.append(" ", el("small", { className: "state" }, "disabled"));
  const cells = [u.email ?? "", u.admin ? "admin" : "", u.groups.join(", "), when(u.created_at, true), signsInWith(u)];
  const tr = el("tr", {}, name, ...cells.map((text) => el("td", {}, text)), el("td", {}, manage));
  tr.dataset.name = u.name;
  tr.classList.toggle("disabled", u.disabled);
  tr.classList.toggle("selected", u.name === selected);
  return tr;
}

/** Tick boxes, one per group. @param {HTMLElement} box @param {string[]} ticked */
function groupBoxes(box, ticked) {
  const legend = /** @type {HTMLElement} */ (box.querySelector("legend"));
  const boxes = groups.map((g) => {
    const check = el("input", { type: "checkbox", value: g.name, checked: ticked.includes(g.name) });
    return el("label", {}, check, g.name);
  });
  box.replaceChildren(legend, ...(boxes.length ? boxes : [el("span", { className: "muted" }, "no groups yet")]));
}

/** @param {HTMLElement} box */
const ticked = (box) => [...box.querySelectorAll("input:checked")].map((i) => /** @type {HTMLInputElement} */ (i).value);

async function addUser(/** @type {SubmitEvent} */ e) {
  e.preventDefault();
  const name = input("new-user-name").value.trim();
  const body = { name, email: input("new-user-email").value.trim() || null,
    groups: ticked($("new-user-groups")), admin: input("new-user-admin").checked };
  if (!(await send("POST", "/v1/users", body))) return;
  /** @type {HTMLFormElement} */ (e.target).reset();
  say(`User ${name} added. Make a sign-in link or a key for them below.`);
  await Promise.all([loadUsers(), loadGroups(), loadAudit()]);
  showUser(name);
}

/** Open the detail panel of one user: their settings, keys and deletion. @param {string} name */
function showUser(name) {
  const u = users.find((x) => x.name === name);
  if (!u) return;
  selected = name;
  for (const tr of $("users-table").querySelectorAll("tbody tr")) {
    tr.classList.toggle("selected", /** @type {HTMLElement} */ (tr).dataset.name === name);
  }
  $("detail-name").textContent = name;
  input("edit-email").value = u.email ?? "";
  input("edit-admin").checked = u.admin;
  groupBoxes($("edit-groups"), u.groups);
  showDisabled(u);
  $("delete-user").textContent = `Delete user ${name}`;
  hideKey();
  hideLink();
  input("new-password").value = "";
  $("user-detail").hidden = false;
  loadKeys();
  $("detail-title").focus();  // keyboard and screen reader users land on what opened
}

async function saveUser(/** @type {SubmitEvent} */ e) {
  e.preventDefault();
  const name = /** @type {string} */ (selected);
  const body = { email: input("edit-email").value.trim() || null, admin: input("edit-admin").checked,
    groups: ticked($("edit-groups")) };
  if (!(await send("PATCH", `/v1/users/${path(name)}`, body))) return;
  if (name === me?.name && !body.admin) return location.reload();  // no longer an admin
  say(`User ${name} saved.`);
  await Promise.all([loadUsers(), loadGroups(), loadAudit()]);
}

/** Whether the detail panel's user is disabled: a note and Enable, or Disable. @param {User} u */
function showDisabled(u) {
  $("detail-disabled").hidden = !u.disabled;
  $("disable-user").hidden = u.disabled;
  $("enable-user").hidden = !u.disabled;
  $("disable-user").textContent = `Disable user ${u.name}`;
  $("enable-user").textContent = `Enable user ${u.name}`;
}

/** Disable the selected user (their sessions and keys stop at once) or enable them again; the
 * API refuses to disable yourself and says so. @param {boolean} disabled */
async function setDisabled(disabled) {
  const name = /** @type {string} */ (selected);
  if (disabled && !confirm(`Disable ${name}? Their sessions and API keys stop at once.`)) return;
  /** @type {User | null} */
  const changed = await send("PATCH", `/v1/users/${path(name)}`, { disabled });
  if (!changed) return;
  say(disabled ? `User ${name} disabled: their sessions have ended and their API keys stop working.`
    : `User ${name} enabled: they may sign in again and their API keys work.`);
  await Promise.all([loadUsers(), loadAudit()]);
  if (name === selected) showDisabled(changed);
}

async function deleteUser() {
  const name = /** @type {string} */ (selected);
  if (!confirm(`Delete user ${name}? Their keys stop working at once and their personal grants go.`)) return;
  if (!(await send("DELETE", `/v1/users/${path(name)}`))) return;
  say(`User ${name} deleted.`);
  selected = null;
  $("user-detail").hidden = true;
  await Promise.all([loadUsers(), loadGroups(), loadAudit(), loadCollections()]);
}

// ---- signing in to the pages: a one-time link, or a password set by an admin

async function makeLink() {
  const name = /** @type {string} */ (selected);
  /** @type {{url: string, expires_at: string} | null} */
  const made = await send("POST", `/v1/users/${path(name)}/link`);
  if (!made || name !== selected) return;
  input("new-link-value").value = made.url;
  $("new-link-expires").textContent = when(made.expires_at);
  $("new-link").hidden = false;
  input("new-link-value").select();
  say(`Sign-in link for ${name} made: copy it now and send it to them.`);
  await loadAudit();
}

function hideLink() {
  input("new-link-value").value = "";
  $("new-link").hidden = true;
}

async function setPassword(/** @type {SubmitEvent} */ e) {
  e.preventDefault();
  const name = /** @type {string} */ (selected);
  const box = input("new-password");
  if (!(await send("PUT", `/v1/users/${path(name)}/password`, { password: box.value }))) return;
  box.value = "";
  say(name === me?.name
    ? "Your password is set and your sessions have ended: sign in with the new password."
    : `Password of ${name} set; the sessions they had open have ended.`);
  await loadAudit();  // for your own password, this asks you to sign in again first
}

// ---- API keys of the selected user

async function loadKeys() {
  const name = /** @type {string} */ (selected);
  /** @type {Key[] | null} */
  const keys = await call(`/v1/users/${path(name)}/keys`);
  if (!keys || name !== selected) return;
  const rows = keys.map((k) => {
    const gone = k.revoked_at ? `revoked ${when(k.revoked_at)}` : k.expires_at && new Date(k.expires_at) <= new Date() ? "expired" : "";
    const revoke = gone ? "" : button("Revoke", `Revoke key ${k.prefix}`, () => revokeKey(k), "danger");
    return el("tr", {}, el("td", {}, el("code", {}, k.prefix)), el("td", {}, when(k.created_at)),
      el("td", {}, k.expires_at ? when(k.expires_at) : "never"), el("td", {}, gone || "active"), el("td", {}, revoke));
  });
  $("keys-table").querySelector("tbody")?.replaceChildren(...rows);
}

async function createKey() {
  const name = /** @type {string} */ (selected);
  const days = input("key-days").value;
  /** @type {{key: string} | null} */
  const made = await send("POST", `/v1/users/${path(name)}/keys`, days ? { expires_in_days: Number(days) } : undefined);
  if (!made) return;
  input("new-key-value").value = made.key;
  $("new-key").hidden = false;
  input("new-key-value").select();
  say(`New key for ${name} created: copy it now.`);
  await Promise.all([loadKeys(), loadUsers(), loadAudit()]);
}

function hideKey() {
  input("new-key-value").value = "";
  $("new-key").hidden = true;
}

/** Copy a secret shown once. @param {string} id its box @param {string} what "key" or "link" */
async function copySecret(id, what) {
  const box = input(id);
  box.select();
  try {
    await navigator.clipboard.writeText(box.value);
    say(`${what[0].toUpperCase()}${what.slice(1)} copied.`);
  } catch {
    say(`Copying was refused: the ${what} is selected, press Ctrl+C (or Cmd+C).`);
  }
}

/** @param {Key} k */
async function revokeKey(k) {
  if (!confirm(`Revoke key ${k.prefix}? It stops working at once.`)) return;
  if (!(await send("DELETE", `/v1/keys/${path(k.id)}`))) return;
  say(`Key ${k.prefix} revoked.`);
  await Promise.all([loadKeys(), loadUsers(), loadAudit()]);
}

// ---- groups

async function loadGroups() {
  /** @type {Group[] | null} */
  const list = await call("/v1/groups");
  if (!list) return;
  groups = list;
  const rows = groups.map((g) => {
    const del = button("Delete", `Delete group ${g.name}`, () => deleteGroup(g.name), "danger");
    const tr = el("tr", {}, el("td", {}, g.name), el("td", {}, g.members.join(", ") || "nobody"),
      el("td", {}, when(g.created_at, true)), el("td", {}, del));
    tr.dataset.name = g.name;
    return tr;
  });
  $("groups-table").querySelector("tbody")?.replaceChildren(...rows);
  groupBoxes($("new-user-groups"), ticked($("new-user-groups")));
  const u = users.find((x) => x.name === selected);
  if (u) groupBoxes($("edit-groups"), ticked($("edit-groups")));
  fillGrants();
}

async function addGroup(/** @type {SubmitEvent} */ e) {
  e.preventDefault();
  const name = input("new-group-name").value.trim();
  if (!(await send("POST", "/v1/groups", { name }))) return;
  input("new-group-name").value = "";
  say(`Group ${name} created.`);
  await Promise.all([loadGroups(), loadAudit()]);
}

/** @param {string} name */
async function deleteGroup(name) {
  if (!confirm(`Delete group ${name}? Its members leave it and every collection grant to it goes.`)) return;
  if (!(await send("DELETE", `/v1/groups/${path(name)}`))) return;
  say(`Group ${name} deleted.`);
  await Promise.all([loadGroups(), loadUsers(), loadAudit(), loadCollections()]);
}

// ---- audit log

async function loadAudit() {
  /** @type {{at: string, actor: string, action: string, target: string, detail: Record<string, unknown>}[] | null} */
  const entries = await call("/v1/audit?limit=50");
  if (!entries) return;
  const rows = entries.map((e) => el("tr", {}, ...[when(e.at), e.actor, e.action, e.target, details(e.detail)]
    .map((text) => el("td", {}, text))));
  $("audit-table").querySelector("tbody")?.replaceChildren(...rows);
}

/** An audit entry's detail in words: "readers: hr, sales; before: (readers: user:ann)". @param {unknown} v @returns {string} */
function details(v) {
  if (Array.isArray(v)) return v.map(details).join(", ") || "none";
  if (v === null || typeof v !== "object") return String(v);
  const parts = Object.entries(v).map(([k, x]) => `${k}: ${x !== null && typeof x === "object" && !Array.isArray(x) ? `(${details(x)})` : details(x)}`);
  return parts.join("; ");
}

// ---- model comparison: the last `gptu eval --models` run

/** The rows, as `gptu eval --models` prints them, with words for people. */
const FIGURES = [
  ["facts_seen", "Facts a person sees (quote + answer)"], ["facts_answer", "Facts in the answer"],
  ["answer_correct", "Answers correct"], ["abstention", "Refused when unanswerable"],
  ["false_abstention", "Refused when answerable"], ["ttft_p50_s", "First token, median"],
  ["tokens_per_s", "Tokens per second"], ["questions", "Questions"],
];

/** One cell: shares as percentages, seconds, speed; a dash when there was nothing to count.
 * @param {string} figure @param {number | null | undefined} value */
function figureText(figure, value) {
  if (value === null || value === undefined) return "–";
  if (figure === "questions") return String(value);
  if (figure === "ttft_p50_s") return `${value.toFixed(2)} s`;
  if (figure === "tokens_per_s") return value.toFixed(1);
  return `${Math.round(value * 100)}%`;
}

async function loadComparison() {
  let res;
  try {
    res = await api("/v1/eval/models");
  } catch {
    return;  // the other sections say that the server does not answer
  }
  const none = res.status === 404;
  $("no-comparison").hidden = !none;
  $("comparison-table").hidden = true;
  if (none) return;
  if (!res.ok) return say(`The last model comparison could not be read (${res.status} ${res.statusText}).`, true);
  /** @type {Comparison} */
  const c = await res.json();
  const n = c.skipped.length;
  const skipped = n ? ` (${n} malformed line${n === 1 ? "" : "s"} skipped)` : "";
  $("comparison-about").textContent = `${c.file} on collection ${c.collection}, ${when(c.at)}${skipped}`;
  const head = [el("th", { scope: "col" }, "Figure"), ...c.models.map((m) => el("th", { scope: "col" }, m))];
  $("comparison-table").querySelector("thead tr")?.replaceChildren(...head);
  const rows = FIGURES.map(([key, words]) => el("tr", {},
    el("th", { scope: "row" }, words, el("br"), el("small", {}, key)),
    ...c.models.map((m) => el("td", {}, figureText(key, c.figures[m]?.[key])))));
  $("comparison-table").querySelector("tbody")?.replaceChildren(...rows);
  $("comparison-table").hidden = false;
}

// ---- start

$("add-user").onsubmit = addUser;
$("edit-user").onsubmit = saveUser;
$("delete-user").onclick = deleteUser;
$("disable-user").onclick = () => setDisabled(true);
$("enable-user").onclick = () => setDisabled(false);
$("create-key").onclick = createKey;
$("copy-key").onclick = () => copySecret("new-key-value", "key");
$("make-link").onclick = makeLink;
$("copy-link").onclick = () => copySecret("new-link-value", "link");
$("set-password").onsubmit = setPassword;
$("add-group").onsubmit = addGroup;
$("refresh-audit").onclick = loadAudit;
$("add-source").onsubmit = addSource;
$("source-kind").onchange = showKind;
input("collection-filter").oninput = () => filterRows(input("collection-filter"), $("collections-table"));
input("user-filter").oninput = () => filterRows(input("user-filter"), $("users-table"));
await signIn();
if (me?.admin) {
  $("role-note").textContent = "You are an admin: you manage users, groups, API keys and the sharing of every collection. Every change is recorded in the audit log.";
  for (const section of document.querySelectorAll(".admin-only")) /** @type {HTMLElement} */ (section).hidden = false;
  await Promise.all([loadGroups(), loadUsers(), loadAudit(), loadComparison()]);
} else {
  $("role-note").textContent = "Here you choose who may read and add to the collections you own. Users, groups and API keys are managed by an admin.";
  fillGrants();
}
await Promise.all([loadCollections(), loadKinds(), loadSources()]);
