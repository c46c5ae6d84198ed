// @ts-check
/** Small helpers of the admin and account pages: find and build elements, call the API, show
 * what happened. */
import { api } from "./auth.js";

/** The page's element with this id. @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** The page's input box with this id. @param {string} id */
export const input = (id) => /** @type {HTMLInputElement} */ ($(id));

/**
 * An element with properties and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Partial<Record<string, unknown>>} [props] @param {(Node | string)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

/** A button with words on it (and a longer name for screen readers).
 * @param {string} text @param {string} label @param {() => void} onclick @param {string} [className] */
export function button(text, label, onclick, className = "") {
  const b = el("button", { type: "button", className }, text);
  b.setAttribute("aria-label", label);
  b.onclick = onclick;
  return b;
}

/** Show what happened, or what went wrong, in plain words. @param {string} text @param {boolean} [bad] */
export function say(text, bad = false) {
  const box = /** @type {HTMLElement} */ (document.getElementById("message"));
  box.textContent = text;
  box.className = bad ? "bad" : "";
  box.setAttribute("role", bad ? "alert" : "status");
}

/** The message of the API's error envelope. @param {Response} res */
export async function errorText(res) {
  try {
    const body = await res.json();
    return body.error?.message ?? `${res.status} ${res.statusText}`;
  } catch {
    return `${res.status} ${res.statusText}`;
  }
}

/** The JSON answer of a call ({} for none), or null after showing the API's error. @param {string} path @param {RequestInit} [init] */
export async function call(path, init = {}) {
  let res;
  try {
    res = await api(path, init);
  } catch {
    say("The gptu server does not answer; check your connection and try again.", true);
    return null;
  }
  if (!res.ok) {
    say(await errorText(res), true);
    return null;
  }
  return res.status === 204 ? {} : res.json();  // a change that answers with no body
}

/** A change: method, path and an optional JSON body. @param {string} method @param {string} path @param {unknown} [body] */
export function send(method, path, body) {
  if (body === undefined) return call(path, { method });
  return call(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** A time as people here read it. @param {string} iso @param {boolean} [dateOnly] */
export function when(iso, dateOnly = false) {
  const at = new Date(iso);
  return dateOnly ? at.toLocaleDateString() : at.toLocaleString();
}

/** Hide the table's rows that do not contain the filter's text. @param {HTMLInputElement} filter @param {HTMLElement} table */
export function filterRows(filter, table) {
  const words = filter.value.trim().toLowerCase();
  for (const tr of table.querySelectorAll("tbody tr")) {
    /** @type {HTMLElement} */ (tr).hidden = !tr.textContent?.toLowerCase().includes(words);
  }
}
