// @ts-check
/** Upload portal: pick or drop files into a collection and watch them become searchable. */
import { api, signIn } from "./auth.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const select = /** @type {HTMLSelectElement} */ ($("collection"));
const picker = /** @type {HTMLInputElement} */ ($("files"));
const POLL_MS = 1000;

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

/** @param {FileList | File[]} files */
async function send(files) {
  if (!select.value) return say("Create a collection first.", true);
  const list = [...files];
  if (!list.length) return;
  const form = new FormData();
  form.append("collection", select.value);
  for (const f of list) form.append("file", f, f.name);
  say(`Uploading ${list.length} file(s)…`);
  const res = await api("/v1/documents", { method: "POST", body: form });
  if (!res.ok) return say(await errorText(res), true);
  say(`${list.length} file(s) queued.`);
  refresh();
}

/** @param {string} id */
async function remove(id) {
  const res = await api(`/v1/documents/${id}`, { method: "DELETE" });
  if (!res.ok) say(await errorText(res), true);
  refresh();
}

/** @param {any} doc */
function row(doc) {
  const tr = document.createElement("tr");
  tr.dataset.id = doc.id;
  const status = doc.status === "failed" ? `failed: ${doc.error}` : doc.status;
  for (const text of [doc.filename, status, doc.status === "ready" ? doc.pages : "", doc.status === "ready" ? doc.chunks : ""]) {
    const td = document.createElement("td");
    td.textContent = String(text);
    tr.append(td);
  }
  tr.children[1].className = `status ${doc.status}`;
  const del = document.createElement("button");
  del.textContent = "Delete";
  del.setAttribute("aria-label", `Delete ${doc.filename}`);
  del.onclick = () => remove(doc.id);
  const td = document.createElement("td");
  td.append(del);
  tr.append(td);
  return tr;
}

let timer = 0;
async function refresh() {
  clearTimeout(timer);
  if (select.value) {
    localStorage.setItem("gptu.collection", select.value);
    const res = await api(`/v1/documents?collection=${encodeURIComponent(select.value)}`);
    if (res.ok) {
      const docs = await res.json();
      $("documents").querySelector("tbody")?.replaceChildren(...docs.map(row));
      const by = (/** @type {string} */ s) => docs.filter((/** @type {any} */ d) => d.status === s).length;
      $("counts").textContent = `${by("ready")} ready · ${by("queued") + by("processing")} in progress · ${by("failed")} failed`;
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
select.onchange = () => refresh();
$("create").onclick = createCollection;
await signIn();
await loadCollections();
