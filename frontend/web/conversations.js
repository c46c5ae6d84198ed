// @ts-check
/**
 * Saved conversations on the chat page: the side list (most recent first), reopen, rename,
 * delete, new. The one being continued is kept in the address (#conversation=<id>), so a
 * reload brings it back. The chat page gives the drawing: `setupConversations(draw, clear)`.
 */
import { api } from "./auth.js";

const PAGE = 50;
const NARROW = "(max-width: 40rem)";
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {string | null} */
let current = null;
let loaded = 0;
/** @type {(turns: any[]) => void} */
let draw = () => {};
/** @type {() => void} */
let clear = () => {};

/** The conversation the next question continues (null: a new one). */
export function currentConversation() {
  return current;
}

/** Wire the list: draw(turns) shows a reopened conversation, clear() empties the page.
 * @param {(turns: any[]) => void} drawTurns @param {() => void} clearPage */
export async function setupConversations(drawTurns, clearPage) {
  draw = drawTurns;
  clear = clearPage;
  const box = /** @type {HTMLDetailsElement} */ ($("conversations-box"));
  box.open = !matchMedia(NARROW).matches;  // on a phone the list folds away above the chat
  $("new-chat").onclick = startNew;
  $("more-conversations").onclick = () => loadConversations(false);
  const asked = new URLSearchParams(location.hash.slice(1)).get("conversation");
  await loadConversations(true);
  if (asked) await openConversation(asked);
}

/** A turn was kept in conversation id; startedIn is the one shown when it was asked.
 * @param {string | null} id @param {string | null} startedIn */
export async function keptIn(id, startedIn) {
  if (id && current === startedIn) setCurrent(id);  // not if another was opened meanwhile
  await loadConversations(true);
}

/** Continue conversation id (null: a new one), shown in the address and the list.
 * @param {string | null} id */
function setCurrent(id) {
  current = id;
  history.replaceState(null, "", id ? `#conversation=${id}` : location.pathname + location.search);
  markCurrent();
}

/** Highlight the conversation being continued in the list. */
function markCurrent() {
  for (const li of document.querySelectorAll("#conversation-list li")) {
    const here = /** @type {HTMLElement} */ (li).dataset.id === current;
    li.classList.toggle("current", here);
    li.querySelector(".open")?.toggleAttribute("aria-current", here);
  }
}

/** Say something about the list (or nothing). @param {string} text */
function note(text) {
  $("conversations-note").textContent = text;
}

/** The first page of the list again (fresh), or the next one. @param {boolean} fresh */
async function loadConversations(fresh) {
  const offset = fresh ? 0 : loaded;
  const res = await api(`/v1/conversations?limit=${PAGE}&offset=${offset}`);
  if (!res.ok) { note("Your conversations could not be loaded."); return; }
  const page = await res.json();
  const list = $("conversation-list");
  if (fresh) list.replaceChildren();
  list.append(...page.map(item));
  loaded = offset + page.length;
  $("more-conversations").hidden = page.length < PAGE;
  note(loaded ? "" : "Your questions are kept here.");
  markCurrent();
}

/** One conversation in the list. @param {{id: string, title: string}} c */
function item(c) {
  const li = document.createElement("li");
  li.dataset.id = c.id;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open";
  open.textContent = c.title;
  open.title = c.title;
  open.onclick = () => openConversation(c.id);
  const actions = document.createElement("span");
  actions.className = "actions";
  actions.append(
    small("Rename", `Rename conversation: ${c.title}`, "rename", () => rename(li, c)),
    small("Delete", `Delete conversation: ${c.title}`, "delete", () => remove(c)),
  );
  li.append(open, actions);
  return li;
}

/** @param {string} text @param {string} label @param {string} kind @param {() => void} onclick */
function small(text, label, kind, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = kind;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.onclick = onclick;
  return b;
}

/** Reopen a conversation: its turns are drawn and the next question continues it.
 * @param {string} id */
async function openConversation(id) {
  const res = await api(`/v1/conversations/${encodeURIComponent(id)}`);
  if (!res.ok) {
    note("That conversation does not exist (any more).");
    startNew();
    return;
  }
  const conversation = await res.json();
  setCurrent(conversation.id);
  draw(conversation.turns);
  if (matchMedia(NARROW).matches) /** @type {HTMLDetailsElement} */ ($("conversations-box")).open = false;
}

/** Edit the title in place: Enter saves, Escape gives up.
 * @param {HTMLElement} li @param {{id: string, title: string}} c */
function rename(li, c) {
  const open = /** @type {HTMLElement} */ (li.querySelector(".open"));
  const edit = document.createElement("input");
  edit.className = "title-edit";
  edit.value = c.title;
  edit.maxLength = 200;
  edit.setAttribute("aria-label", "New title");
  edit.onkeydown = async (e) => {
    if (e.key === "Escape") { edit.replaceWith(open); open.focus(); return; }
    if (e.key !== "Enter") return;
    e.preventDefault();
    const res = await api(`/v1/conversations/${c.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: edit.value }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      note(`Not renamed: ${body.error?.message ?? res.statusText}`);
      return;
    }
    note("");
    await loadConversations(true);
  };
  open.replaceWith(edit);
  edit.select();
  edit.focus();
}

/** Delete a conversation after asking. @param {{id: string, title: string}} c */
async function remove(c) {
  if (!confirm(`Delete the conversation “${c.title}”?`)) return;
  const res = await api(`/v1/conversations/${c.id}`, { method: "DELETE" });
  if (!res.ok && res.status !== 404) { note("Not deleted; try again."); return; }
  if (current === c.id) startNew();
  await loadConversations(true);
}

/** Start afresh: the next question begins a new conversation. */
function startNew() {
  setCurrent(null);
  clear();
}
