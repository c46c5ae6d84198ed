// @ts-check
/** My account: who I am and my groups, the browsers I am signed in with (end one), and the
 * API keys my programs use (create one with an expiry, revoke one). A new key is shown once,
 * in its box only: the page never stores it. */
import { signIn } from "./auth.js";
import { $, button, call, el, input, say, send, when } from "./page.js";

const path = encodeURIComponent;

/** @typedef {{name: string, admin: boolean, groups: string[]}} Me */
/** @typedef {{id: string, method: string, created_at: string, seen_at: string, expires_at: string, address: string | null, agent: string | null, current: boolean}} WebSession */
/** @typedef {{id: string, prefix: string, created_at: string, revoked_at: string | null, expires_at: string | null, key: string | null}} Key */

/** How a session was opened, in words. @type {Record<string, string>} */
const METHODS = { password: "Password", sso: "Single sign-on", link: "Sign-in link" };
/** Tokens of a User-Agent, most specific first (Edge and Opera also say Chrome; Chrome also says Safari). */
const BROWSERS = [["Edg", "Edge"], ["OPR", "Opera"], ["Firefox", "Firefox"],
  ["HeadlessChrome", "Headless Chrome"], ["Chrome", "Chrome"], ["Version", "Safari"]];
/** iPhones say "like Mac OS X", Android says Linux: those come first. */
const SYSTEMS = [["Windows", "Windows"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Android", "Android"],
  ["CrOS", "ChromeOS"], ["Mac OS X", "macOS"], ["Linux", "Linux"]];

/** The key shown in the box, by id (the id is no secret), to hide the box when it is revoked.
 * @type {string | null} */
let shownKey = null;

// ---- who I am

async function loadMe() {
  /** @type {Me | null} */
  const who = await call("/v1/me");
  if (!who) return;
  $("my-name").textContent = who.name;
  $("my-role").textContent = who.admin ? "Admin: you manage users, groups and every collection" : "Member";
  // everyone and user:NAME grant access too, but nobody is put in them: not groups to people
  const groups = who.groups.filter((g) => g !== "everyone" && g !== `user:${who.name}`);
  $("my-groups").textContent = groups.length ? groups.join(", ") : "none";
}

// ---- where I am signed in

/** A browser as people know it ("Firefox 128 on Windows"), from its User-Agent.
 * @param {string | null} agent */
function browserName(agent) {
  if (!agent) return "unknown browser";
  const browser = BROWSERS.find(([token]) => agent.includes(`${token}/`));
  const system = SYSTEMS.find(([token]) => agent.includes(token));
  if (!browser) return agent.split(" ")[0];  // a program: "python-httpx/0.27.0"
  const version = agent.slice(agent.indexOf(`${browser[0]}/`)).split(/[/.\s]/)[1];
  return `${browser[1]} ${version}${system ? ` on ${system[1]}` : ""}`;
}

async function loadSessions() {
  /** @type {WebSession[] | null} */
  const sessions = await call("/v1/me/sessions");
  if (!sessions) return;
  $("sessions-table").querySelector("tbody")?.replaceChildren(...sessions.map(sessionRow));
}

/** @param {WebSession} s */
function sessionRow(s) {
  const where = browserName(s.agent);
  const end = s.current
    ? button("End (sign out)", "End this browser's session (sign out)", () => endSession(s, where))
    : button("End", `End the session of ${where}, signed in ${when(s.created_at)}`, () => endSession(s, where));
  const browser = el("td", { title: s.agent ?? "" }, where);
  if (s.address) browser.append(el("br"), el("small", {}, s.address));
  const first = el("td", {}, when(s.created_at));
  if (s.current) first.append(el("br"), el("small", {}, "this browser"));
  const tr = el("tr", { className: s.current ? "current" : "" }, first,
    el("td", {}, METHODS[s.method] ?? s.method), el("td", {}, when(s.seen_at)),
    el("td", {}, when(s.expires_at)), browser, el("td", {}, end));
  tr.dataset.id = s.id;
  return tr;
}

/** End a session; ending this browser's own signs it out, so the page starts over.
 * @param {WebSession} s @param {string} where */
async function endSession(s, where) {
  const question = s.current
    ? "End this browser's session? You are signed out here, on every tab."
    : `End the session of ${where}? It is signed out at once.`;
  if (!confirm(question)) return;
  if (!(await send("DELETE", `/v1/me/sessions/${path(s.id)}`))) return;
  if (s.current) return location.reload();
  say(`The session of ${where}, signed in ${when(s.created_at)}, has ended.`);
  await loadSessions();
}

// ---- API keys

/** "active", or why the key no longer works. @param {Key} k */
function keyState(k) {
  if (k.revoked_at) return `revoked ${when(k.revoked_at)}`;
  if (k.expires_at && new Date(k.expires_at) <= new Date()) return `expired ${when(k.expires_at)}`;
  return "active";
}

async function loadKeys() {
  /** @type {Key[] | null} */
  const keys = await call("/v1/me/keys");
  if (!keys) return;
  keys.sort((a, b) => b.created_at.localeCompare(a.created_at));
  const rows = keys.map((k) => {
    const state = keyState(k);
    const active = state === "active";
    const revoke = active ? button("Revoke", `Revoke key ${k.prefix}`, () => revokeKey(k)) : "";
    const tr = el("tr", { className: active ? "" : "gone" }, el("td", {}, el("code", {}, k.prefix)),
      el("td", {}, when(k.created_at)), el("td", {}, k.expires_at ? when(k.expires_at) : "never"),
      el("td", {}, state), el("td", {}, revoke));
    tr.dataset.id = k.id;
    return tr;
  });
  $("keys-table").querySelector("tbody")?.replaceChildren(...rows);
  $("keys-table").hidden = !keys.length;
  $("no-keys").hidden = keys.length > 0;
}

async function createKey(/** @type {SubmitEvent} */ e) {
  e.preventDefault();
  const days = Number(input("key-days").value);
  /** @type {Key | null} */
  const made = await send("POST", "/v1/me/keys", { expires_in_days: days });
  if (!made?.key) return;
  shownKey = made.id;
  input("new-key-value").value = made.key;
  $("new-key-expires").textContent = made.expires_at ? when(made.expires_at) : "it is revoked";
  $("new-key").hidden = false;
  input("new-key-value").select();
  say(`Key ${made.prefix} created: copy it now.`);
  await loadKeys();
}

function hideKey() {
  shownKey = null;
  input("new-key-value").value = "";
  $("new-key").hidden = true;
}

async function copyKey() {
  const box = input("new-key-value");
  box.select();
  try {
    await navigator.clipboard.writeText(box.value);
    say("Key copied.");
  } catch {
    say("Copying was refused: the key is selected, press Ctrl+C (or Cmd+C).");
  }
}

/** @param {Key} k */
async function revokeKey(k) {
  if (!confirm(`Revoke key ${k.prefix}? The programs that use it stop working at once.`)) return;
  if (!(await send("DELETE", `/v1/me/keys/${path(k.id)}`))) return;
  if (shownKey === k.id) hideKey();
  say(`Key ${k.prefix} revoked.`);
  await loadKeys();
}

// ---- start

$("create-key").onsubmit = createKey;
$("copy-key").onclick = copyKey;
await signIn();
await Promise.all([loadMe(), loadSessions(), loadKeys()]);
