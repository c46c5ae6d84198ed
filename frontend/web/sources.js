// @ts-check
/** Sources you can open: a cited passage with its quoted sentences marked, and the file itself. */
import { api } from "./auth.js";

/** @typedef {{n: number, label: string, filename: string, document_id: string, page: number | null, section?: string | null, collection: string, text: string}} Source */
/** @typedef {{n: number, start: number, end: number, text: string, page: number | null}} Quote */

/** Each answer's sources and quotes, by the answer's id. @type {Map<string, {sources: Source[], quotes: Quote[]}>} */
const answers = new Map();

/** Keep what an answer showed, so its citations can open. @param {string} id @param {Source[]} sources @param {Quote[]} quotes */
export function remember(id, sources, quotes) {
  answers.set(id, { sources, quotes });
}

/** The passage's text with the quoted spans (offsets into it) marked. @param {string} text @param {Quote[]} quotes */
export function marked(text, quotes) {
  const out = document.createElement("p");
  out.className = "passage";
  let at = 0;
  for (const q of [...quotes].sort((a, b) => a.start - b.start)) {
    if (q.start < at || q.end > text.length || text.slice(q.start, q.end) !== q.text) continue;
    const mark = document.createElement("mark");
    mark.textContent = text.slice(q.start, q.end);
    out.append(text.slice(at, q.start), mark);
    at = q.end;
  }
  out.append(text.slice(at));
  return out;
}

function viewer() {
  let dialog = /** @type {HTMLDialogElement | null} */ (document.getElementById("source-view"));
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "source-view";
  dialog.setAttribute("aria-labelledby", "source-title");
  document.body.append(dialog);
  return dialog;
}

/** Show source n of answer id: the passage, its quoted sentences marked, a way to the file.
 * @param {string} id @param {number} n */
export function showSource(id, n) {
  const shown = answers.get(id);
  const source = shown?.sources.find((s) => s.n === n);
  if (!shown || !source) return;
  const dialog = viewer();
  const title = document.createElement("h2");
  title.id = "source-title";
  title.textContent = `[${source.n}] ${source.label}`;
  const where = document.createElement("p");
  where.className = "where";
  where.textContent = [source.section, `collection ${source.collection}`].filter(Boolean).join(" · ");
  const status = document.createElement("p");
  status.className = "note";
  status.setAttribute("role", "status");
  const quotes = shown.quotes.filter((q) => q.n === n);
  const page = quotes[0]?.page ?? source.page; // the quoted sentence's page, in a passage across pages
  const pdf = source.filename.toLowerCase().endsWith(".pdf");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open-file";
  open.textContent = pdf && page ? `Open ${source.filename} at page ${page}` : `Open ${source.filename}`;
  open.onclick = () => openFile(source, page, status);
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.textContent = "Close";
  close.onclick = () => dialog.close();
  const bar = document.createElement("div");
  bar.className = "tools";
  bar.append(open, close);
  dialog.replaceChildren(title, where, marked(source.text, quotes), bar, status);
  if (!dialog.open) dialog.showModal();
  dialog.querySelector("mark")?.scrollIntoView({ block: "center" });
}

/**
 * Open the original file through the download route (which needs the key, so not a plain link):
 * a PDF in a new tab at the cited page, anything else saved under its name.
 * @param {Source} source @param {number | null} page @param {HTMLElement} status
 */
async function openFile(source, page, status) {
  const pdf = source.filename.toLowerCase().endsWith(".pdf");
  // Opened now, while the click still counts as the person's: a tab opened after the download
  // would be stopped by the pop-up blocker.
  const tab = pdf ? window.open("", "_blank") : null;
  status.textContent = "Fetching the file…";
  const res = await api(`/v1/documents/${encodeURIComponent(source.document_id)}/file`);
  if (!res.ok) {
    tab?.close();
    const body = await res.json().catch(() => ({}));
    status.textContent = body.error?.message ?? `The file could not be fetched (${res.status}).`;
    return;
  }
  const data = await res.blob();
  const url = URL.createObjectURL(pdf ? new Blob([data], { type: "application/pdf" }) : data);
  status.textContent = "";
  if (tab) {
    tab.location.href = page ? `${url}#page=${page}` : url;
    return;
  }
  const link = document.createElement("a");
  link.href = url;
  link.download = source.filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
