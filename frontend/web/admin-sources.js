// @ts-check
/** The admin page's Sources section: what keeps a collection current (web sites, folders,
 * mailboxes…), how each one's last sync went, Sync now / Pause / Remove, and a form to add one
 * built from its kind's settings. The list refreshes itself while a sync is under way. */
import { api, me } from "./auth.js";
import { $, button, call, el, errorText, input, say, send, when } from "./page.js";

const path = encodeURIComponent;

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

/** What else to load again when a source goes (its documents leave the collection).
 * @type {() => Promise<void>} */
let afterRemove = async () => {};

/** Wire the section's form. @param {() => Promise<void>} onRemove what to reload when a source goes */
export function setupSources(onRemove) {
  afterRemove = onRemove;
  $("add-source").onsubmit = addSource;
  $("source-kind").onchange = showKind;
}

/** The collections a new source may fill: those the caller manages. @param {string[]} names */
export function offerCollections(names) {
  const into = /** @type {HTMLSelectElement} */ ($("source-collection"));
  const chosen = into.value;
  into.replaceChildren(...names.map((n) => el("option", { value: n, selected: n === chosen }, n)));
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

export async function loadSources() {
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
  await Promise.all([loadSources(), afterRemove()]);
}

// ---- adding a source: a form built from its kind's settings (JSON Schema) and secrets

export async function loadKinds() {
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
    $("source-error").textContent = await errorText(res);
    return;
  }
  input("source-name").value = input("source-interval").value = "";
  showKind();  // fresh settings for the next one; kind and collection stay
  say(`Source ${name} added; its first sync starts shortly.`);
  awaitSync(name, null);
}
