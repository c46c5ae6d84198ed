// @ts-check
/** Admin page: who may read and write the collections you manage; for admins also users,
 * groups, how people sign in, API keys and the audit log. Every change goes through the API,
 * which records it. The Sources and Model comparison sections have modules of their own. */
import { me, signIn } from "./auth.js";
import { loadComparison } from "./admin-comparison.js";
import { loadKinds, loadSources, offerCollections, setupSources } from "./admin-sources.js";
import { $, button, call, el, filterRows, input, say, send, when } from "./page.js";

const path = encodeURIComponent;

/** How a user signs in: `password` a web password, `sso` single sign-on, `keys` API keys that
 * work; a `disabled` user's sessions and keys stop.
 * @typedef {{name: string, email: string | null, admin: boolean, groups: string[], created_at: string,
 *   password: boolean, sso: boolean, keys: number, disabled: boolean}} User */
/** @typedef {{name: string, members: string[], created_at: string}} Group */
/** @typedef {{id: string, prefix: string, created_at: string, revoked_at: string | null, expires_at: string | null}} Key */
/** @typedef {{name: string, owner: string | null, documents: number | null, readers: string[], writers: string[], access: {manage: boolean}}} Collection */

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
  offerCollections(managed.map((c) => c.name));
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
setupSources(loadCollections);
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
