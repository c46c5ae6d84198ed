// @ts-check
/** Upload portal: pick or drop files into a collection and watch them become searchable. */
import { api, csrfToken, recovered, signIn } from "./auth.js";
import { batches, sample, secondsLeft, stateText, timeLeft } from "./progress.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const select = /** @type {HTMLSelectElement} */ ($("collection"));
const picker = /** @type {HTMLInputElement} */ ($("files"));
const POLL_MS = 1000;
const SHOWN = 200; // rows in the table; the counts above it cover every document
/** @type {{at: number, waiting: number}[]} */
const samples = [];

/** @param {Response} res */
async function errorText(res) {
  try {
    const body = await res.json();
    return body.error?.message ?? res.statusText;
  } catch {
    return res.statusText;
  }
}

/** @param {string} text @param {boolean} [bad] */
function say(text, bad = false) {
  const el = $("message");
  el.textContent = text;
  el.className = bad ? "bad" : "";
}

async function loadCollections(selected = "") {
  const res = await api("/v1/collections");
  const collections = (await res.json()).filter((/** @type {any} */ c) => c.access.write);
  select.replaceChildren(
    ...collections.map((/** @type {{name: string, documents: number | null}} */ c) => {
      const opt = document.createElement("option");
      opt.value = c.name;
      opt.textContent = c.documents === null ? `${c.name} (add only)` : `${c.name} (${c.documents})`;
      return opt;
    }),
  );
  const remembered = selected || localStorage.getItem("gptu.collection") || "";
  if ([...select.options].some((o) => o.value === remembered)) select.value = remembered;
  refresh();
}

async function createCollection() {
  const input = /** @type {HTMLInputElement} */ ($("new-name"));
  const name = input.value.trim();
  if (!name) return say("Type a name for the new collection.", true);
  const res = await api("/v1/collections", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (!res.ok) return say(await errorText(res), true);
  input.value = "";
  say(`Collection ${name} created.`);
  await loadCollections(name);
}

/**
 * POST one batch of files, reporting the bytes sent (fetch cannot report upload progress);
 * sent once more after signing in again or renewing the page's CSRF token.
 * @param {File[]} files @param {(sent: number) => void} onSent
 * @returns {Promise<{ok: boolean, status: number, body: any}>}
 */
async function post(files, onSent) {
  const sent = csrfToken();
  const res = await postOnce(files, onSent);
  return (await recovered(res.status, sent)) ? postOnce(files, onSent) : res;
}

/** @param {File[]} files @param {(sent: number) => void} onSent
 * @returns {Promise<{ok: boolean, status: number, body: any}>} */
function postOnce(files, onSent) {
  const form = new FormData();
  form.append("collection", select.value);
  for (const f of files) form.append("file", f, f.name);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    xhr.setRequestHeader("x-csrf-token", csrfToken());
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => onSent(e.loaded);
    xhr.onload = () => resolve({ ok: xhr.status < 300, status: xhr.status, body: xhr.response });
    xhr.onerror = () => resolve({ ok: false, status: 0, body: { error: { message: "the upload was cut off; try again" } } });
    xhr.send(form);
  });
}

/** @param {number} bytes */
const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;

/** @param {FileList | File[]} files */
async function send(files) {
  if (!select.value) return say("Create a collection first.", true);
  const list = [...files];
  if (!list.length) return;
  const total = list.reduce((n, f) => n + f.size, 0);
  let done = 0;
  let queued = 0;
  for (const batch of batches(list)) {
    const size = batch.reduce((n, f) => n + f.size, 0);
    const shown = (/** @type {number} */ sent) => {
      const pct = total ? Math.round((100 * (done + Math.min(sent, size))) / total) : 100;
      say(`Uploading ${list.length} file(s): ${mb(done + Math.min(sent, size))} of ${mb(total)} (${pct}%)…`);
    };
    shown(0);
    const res = await post(batch, shown);
    if (!res.ok) {
      const why = res.body?.error?.message ?? `error ${res.status}`;
      return say(`${queued} file(s) queued; the next ${batch.length} were refused: ${why}`, true);
    }
    done += size;
    queued += batch.length;
    refresh();
  }
  say(`${queued} file(s) queued.`);
}

/** @param {string} id */
async function remove(id) {
  const res = await api(`/v1/documents/${id}`, { method: "DELETE" });
  if (!res.ok) say(await errorText(res), true);
  refresh();
}

/** @param {string} id @param {string} name */
async function retry(id, name) {
  const res = await api(`/v1/documents/${id}/retry`, { method: "POST" });
  say(res.ok ? `${name} queued again.` : await errorText(res), !res.ok);
  refresh();
}

/** @param {any} doc */
function row(doc) {
  const tr = document.createElement("tr");
  tr.dataset.id = doc.id;
  for (const text of [doc.filename, stateText(doc), doc.status === "ready" ? doc.pages : "", doc.status === "ready" ? doc.chunks : ""]) {
    const td = document.createElement("td");
    td.textContent = String(text);
    tr.append(td);
  }
  const state = /** @type {HTMLElement} */ (tr.children[1]);
  state.className = `status ${doc.status}`;
  if (doc.status === "processing") {
    const bar = document.createElement("progress");
    bar.max = 1;
    if (doc.progress !== null) bar.value = doc.progress; // no value: an indeterminate bar
    bar.setAttribute("aria-label", `${doc.filename}: ${stateText(doc)}`);
    state.append(bar);
  }
  const del = document.createElement("button");
  del.textContent = "Delete";
  del.setAttribute("aria-label", `Delete ${doc.filename}`);
  del.onclick = () => remove(doc.id);
  const td = document.createElement("td");
  if (doc.status === "failed") {
    const again = document.createElement("button");
    again.textContent = "Retry";
    again.setAttribute("aria-label", `Retry ${doc.filename}`);
    again.onclick = () => retry(doc.id, doc.filename);
    td.append(again, " ");
  }
  td.append(del);
  tr.append(td);
  return tr;
}

let timer = 0;
async function refresh() {
  clearTimeout(timer);
  if (select.value) {
    localStorage.setItem("gptu.collection", select.value);
    const which = encodeURIComponent(select.value);
    const [list, summary] = await Promise.all([
      api(`/v1/documents?collection=${which}&limit=${SHOWN}`),
      api(`/v1/documents/summary?collection=${which}`),
    ]);
    if (list.ok && summary.ok) {
      const docs = await list.json();
      const s = await summary.json();
      $("documents").querySelector("tbody")?.replaceChildren(...docs.map(row));
      const total = s.queued + s.processing + s.ready + s.failed;
      const waiting = s.queued + s.processing;
      const left = secondsLeft(sample(samples, s.bytes_waiting));
      const eta = waiting && left !== null ? ` · ${timeLeft(left)}` : "";
      const more = total > docs.length ? ` · newest ${docs.length} shown` : "";
      $("counts").textContent = `${s.ready} ready · ${waiting} in progress${eta} · ${s.failed} failed${more}`;
    }
  }
  timer = window.setTimeout(refresh, POLL_MS);
}

const drop = $("drop");
drop.onclick = () => picker.click();
drop.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); } };
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer) send(e.dataTransfer.files); };
picker.onchange = () => { if (picker.files) send(picker.files); picker.value = ""; };
select.onchange = () => { samples.length = 0; refresh(); };
$("create").onclick = createCollection;
await signIn();
await loadCollections();
