// @ts-check
/** The page of a one-time link (/welcome#TOKEN): the person chooses a password, which signs
 * them in, and goes on to the chat. The token stays in the address's fragment, which no
 * request carries. */

const MIN_PASSWORD = 10;  // as the API checks it (core.signin.MIN_PASSWORD)
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const form = /** @type {HTMLFormElement} */ ($("choose"));
const password = /** @type {HTMLInputElement} */ ($("password"));
const repeat = /** @type {HTMLInputElement} */ ($("repeat"));
const token = location.hash.slice(1);  // URL-safe characters: nothing to decode

/** Say what is wrong. @param {string} text */
function say(text) {
  $("message").textContent = text;
}

/** The message of the API's error envelope. @param {Response} res */
async function errorText(res) {
  const body = await res.json().catch(() => null);
  return body?.error?.message ?? `${res.status} ${res.statusText}`;
}

/** What keeps the two boxes from being sent, in words; "" when they may be. */
function problem() {
  if (password.value.length < MIN_PASSWORD) return `Use at least ${MIN_PASSWORD} characters.`;
  if (password.value !== repeat.value) return "The two passwords are not the same.";
  return "";
}

form.onsubmit = async (e) => {
  e.preventDefault();
  const wrong = problem();
  say(wrong);
  if (wrong) return (password.value.length < MIN_PASSWORD ? password : repeat).focus();
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button"));
  button.disabled = true;
  try {
    const res = await fetch("/v1/auth/link", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, password: password.value }),
      credentials: "same-origin",
    });
    if (res.ok) return location.replace("/");  // the link leaves the history with this page
    say(await errorText(res));
  } catch {
    say("The gptu server does not answer; check your connection and try again.");
  } finally {
    button.disabled = false;
  }
};

if (!token) {
  say("This page needs the whole link an admin gave you (it ends in #…); ask them for a new one.");
  form.querySelector("button")?.setAttribute("disabled", "");
}
password.focus();
