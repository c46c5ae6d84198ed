// @ts-check
/** Sign-in shared by the pages: the API key is asked once and kept in this browser. */

const KEY = "gptu.key";

/** @type {{name: string, admin: boolean, groups: string[]} | null} */
export let me = null;

/** The stored key, for a request that fetch cannot make (an upload with progress). */
export const storedKey = () => localStorage.getItem(KEY) ?? "";

/** fetch with the stored key; a 401 forgets it and asks again. @param {string} path @param {RequestInit} [init] */
export async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${localStorage.getItem(KEY) ?? ""}`);
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) {
    localStorage.removeItem(KEY);
    location.reload();
  }
  return res;
}

/** Show who is signed in, with a sign-out link. */
function showWho() {
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  const out = document.createElement("button");
  out.type = "button";
  out.id = "sign-out";
  out.textContent = "Sign out";
  out.onclick = () => { localStorage.removeItem(KEY); location.reload(); };
  who.replaceChildren(`Signed in as ${me?.name}${me?.admin ? " (admin)" : ""} `, out);
}

/** The sign-in dialog, the same on every page. */
function signInDialog() {
  const dialog = document.createElement("dialog");
  dialog.id = "signin";
  dialog.setAttribute("aria-labelledby", "signin-title");
  dialog.innerHTML = `<form method="dialog">
      <h2 id="signin-title">Sign in</h2>
      <label for="api-key">Your gptu API key</label>
      <input id="api-key" type="password" autocomplete="current-password" required>
      <p class="note" role="alert"></p>
      <button type="submit">Sign in</button>
    </form>`;
  document.body.append(dialog);
  return dialog;
}

/** Ask for a key until one works. @returns {Promise<string>} */
function askForKey() {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("signin")) ?? signInDialog();
  const form = /** @type {HTMLFormElement} */ (dialog.querySelector("form"));
  const input = /** @type {HTMLInputElement} */ (dialog.querySelector("#api-key"));
  const note = /** @type {HTMLElement} */ (dialog.querySelector(".note"));
  dialog.showModal();
  return new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      const res = await fetch("/v1/me", { headers: { authorization: `Bearer ${input.value.trim()}` } });
      if (!res.ok) { note.textContent = "That key is not valid (or was revoked)."; return; }
      localStorage.setItem(KEY, input.value.trim());
      dialog.close();
      resolve(input.value.trim());
    };
  });
}

/** Resolve once signed in; `me` then holds the user. */
export async function signIn() {
  for (;;) {
    if (!localStorage.getItem(KEY)) await askForKey();
    const res = await fetch("/v1/me", { headers: { authorization: `Bearer ${localStorage.getItem(KEY)}` } });
    if (res.ok) {
      me = await res.json();
      showWho();
      return;
    }
    localStorage.removeItem(KEY);
  }
}
