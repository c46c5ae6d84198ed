// @ts-check
/** Sign-in shared by the pages: a name and password (or single sign-on) open a session on the
 * server, kept in an HttpOnly cookie the page cannot read. The page holds only the session's
 * CSRF token, in memory, and sends it with every change. */

/** @typedef {{name: string, admin: boolean, groups: string[], method: string, csrf: string, expires_at: string}} Session */
/** @typedef {{password: boolean, sso_label: string | null, sso_url: string | null}} Providers */

/** Where pages before issue 23 kept an API key; removed when a page opens. */
const OLD_KEY = "gptu.key";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** @type {{name: string, admin: boolean, groups: string[]} | null} */
export let me = null;
/** The session's CSRF token: in this page's memory only, never in storage. */
let csrf = "";
/** The sign-in dialog while it is open: every refused request waits on the same one.
 * @type {Promise<void> | null} */
let asking = null;

/** The CSRF token to send with a change this module cannot make (an upload with progress). */
export const csrfToken = () => csrf;

/** Take a session the API answered with. @param {Session} session */
function accept(session) {
  me = { name: session.name, admin: session.admin, groups: session.groups };
  csrf = session.csrf;
}

/** Send a request with the session's cookie, and its CSRF token when it changes something.
 * @param {string} path @param {RequestInit} init */
function send(path, init) {
  const headers = new Headers(init.headers);
  if (!SAFE.has((init.method ?? "GET").toUpperCase())) headers.set("x-csrf-token", csrf);
  return fetch(path, { ...init, headers, credentials: "same-origin" });
}

/** fetch with the session: a 401 asks to sign in again, a stale CSRF token is renewed, and the
 * request is then sent once more. @param {string} path @param {RequestInit} [init] */
export async function api(path, init = {}) {
  const sent = csrf;
  const res = await send(path, init);
  if (await recovered(res.status, sent)) return send(path, init);
  return res;
}

/** After a refused request: sign in again (401), or take the token of a newer session of the
 * same person (403 while another tab signed in anew). True when the request should be sent
 * again. @param {number} status @param {string} sent the CSRF token the request carried */
export async function recovered(status, sent) {
  if (status === 401) {
    await signInAgain();
    return true;
  }
  if (status !== 403) return false;
  if (csrf !== sent) return true;  // another request renewed it meanwhile
  const res = await fetch("/v1/auth/session", { credentials: "same-origin" });
  if (res.status === 401) {
    await signInAgain();
    return true;
  }
  if (!res.ok) return false;
  /** @type {Session} */
  const session = await res.json();
  if (session.csrf === sent) return false;  // a refusal for another reason: the caller shows it
  if (session.name !== me?.name) await reloadForSomeoneElse();
  accept(session);
  return true;
}

/** This page shows another person's data: start it over. @returns {Promise<never>} */
function reloadForSomeoneElse() {
  location.reload();
  return new Promise(() => {});
}

/** Not signed in, or the session has ended (signed out in another tab, expired, password
 * changed): ask, once for every request that waits. The same person carries on where they
 * were; someone else gets the page afresh. */
export function signInAgain() {
  const before = me?.name;
  asking ??= ask(before).then(async () => {
    asking = null;
    if (before && me?.name !== before) await reloadForSomeoneElse();
  });
  return asking;
}

/** Show who is signed in, with a sign-out button. */
function showWho() {
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  const out = document.createElement("button");
  out.type = "button";
  out.id = "sign-out";
  out.textContent = "Sign out";
  out.onclick = signOut;
  who.replaceChildren(`Signed in as ${me?.name}${me?.admin ? " (admin)" : ""} `, out);
}

/** End the session on the server (every tab), then start the page over, signed out. */
async function signOut() {
  try {
    await send("/v1/auth/signout", { method: "POST" });
  } finally {
    location.reload();
  }
}

/** An element with text. @param {string} tag @param {Record<string, string>} attrs @param {string} [text] */
function make(tag, attrs, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.textContent = text;
  return node;
}

/** The sign-in dialog, the same on every page. */
function signInDialog() {
  const dialog = /** @type {HTMLDialogElement} */ (make("dialog", { id: "signin", "aria-labelledby": "signin-title" }));
  const form = make("form", { id: "signin-form" });
  form.append(
    make("h2", { id: "signin-title" }, "Sign in"),
    make("p", { class: "hint", id: "signin-hint" }),
    make("label", { for: "signin-name" }, "Name"),
    make("input", { id: "signin-name", name: "username", autocomplete: "username", required: "", autocapitalize: "none", spellcheck: "false" }),
    make("label", { for: "signin-password" }, "Password"),
    make("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: "" }),
    make("p", { class: "note", role: "alert" }),
    make("button", { type: "submit" }, "Sign in"),
  );
  const sso = make("p", { class: "sso", hidden: "" });
  sso.append(make("a", { id: "signin-sso", class: "button", href: "/" }));
  dialog.append(form, sso);
  dialog.oncancel = (e) => e.preventDefault();  // Escape does not leave a page signed out
  document.body.append(dialog);
  return dialog;
}

/** Offer single sign-on when the server has it. @param {HTMLDialogElement} dialog */
async function offerSso(dialog) {
  const res = await fetch("/v1/auth/providers").catch(() => null);
  if (!res?.ok) return;
  /** @type {Providers} */
  const providers = await res.json();
  if (!providers.sso_url) return;
  const link = /** @type {HTMLAnchorElement} */ (dialog.querySelector("#signin-sso"));
  link.href = providers.sso_url;
  link.textContent = `Sign in with ${providers.sso_label || "single sign-on"}`;
  /** @type {HTMLElement} */ (link.parentElement).hidden = false;
}

/** The message of the API's error envelope. @param {Response} res */
async function errorText(res) {
  const body = await res.json().catch(() => null);
  return body?.error?.message ?? `${res.status} ${res.statusText}`;
}

/** Sign in with the dialog's name and password: the session, or null after saying why not.
 * @param {HTMLDialogElement} dialog @returns {Promise<Session | null>} */
async function passwordSignIn(dialog) {
  const name = /** @type {HTMLInputElement} */ (dialog.querySelector("#signin-name"));
  const password = /** @type {HTMLInputElement} */ (dialog.querySelector("#signin-password"));
  const note = /** @type {HTMLElement} */ (dialog.querySelector(".note"));
  note.textContent = "";
  let res;
  try {
    res = await fetch("/v1/auth/password", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: name.value.trim(), password: password.value }),
      credentials: "same-origin",
    });
  } catch {
    note.textContent = "The gptu server does not answer; check your connection and try again.";
    return null;
  }
  if (res.ok) return res.json();
  note.textContent = await errorText(res);  // wrong name or password; too many tries
  password.select();
  return null;
}

/** Ask for a name and password until they open a session. @param {string} [name] who was
 * signed in before, when the session ended @returns {Promise<void>} */
function ask(name) {
  const dialog = /** @type {HTMLDialogElement | null} */ (document.getElementById("signin")) ?? signInDialog();
  const nameBox = /** @type {HTMLInputElement} */ (dialog.querySelector("#signin-name"));
  /** @type {HTMLElement} */ (dialog.querySelector("#signin-hint")).textContent =
    name ? "Your session has ended: sign in again to carry on." : "";
  if (name) nameBox.value = name;
  offerSso(dialog);
  dialog.onclose = () => { if (dialog.isConnected) dialog.showModal(); };  // a second Escape
  dialog.showModal();
  /** @type {HTMLElement} */ (dialog.querySelector(name ? "#signin-password" : "#signin-name")).focus();
  return new Promise((resolve) => {
    /** @type {HTMLFormElement} */ (dialog.querySelector("form")).onsubmit = async (e) => {
      e.preventDefault();
      const session = await passwordSignIn(dialog);
      if (!session) return;
      accept(session);
      dialog.close();
      dialog.remove();  // no password box left behind; asking again builds a new one
      showWho();
      resolve();
    };
  });
}

/** Resolve once signed in; `me` then holds the person. */
export async function signIn() {
  localStorage.removeItem(OLD_KEY);
  const res = await fetch("/v1/auth/session", { credentials: "same-origin" }).catch(() => null);
  if (res?.ok) accept(await res.json());
  else await signInAgain();
  showWho();
}
