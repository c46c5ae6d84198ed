// @ts-check
/** Chat page: ask, stream the answer, show numbered sources, keep the conversation. */
import { api, signIn } from "./auth.js";
import { remember, showSource } from "./sources.js";
import { currentConversation, keptIn, setupConversations } from "./conversations.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const form = /** @type {HTMLFormElement} */ ($("ask"));
const input = /** @type {HTMLTextAreaElement} */ ($("question"));
let turnCount = 0;  // numbers each answer's source anchors on the page

async function loadCollections() {
  const res = await api("/v1/collections");
  const box = $("collections");
  if (!res.ok) return;
  const saved = JSON.parse(localStorage.getItem("gptu.chat.collections") || "null");
  const readable = (await res.json()).filter((/** @type {any} */ c) => c.access.read);
  box.replaceChildren(
    ...readable.map((/** @type {{name: string, documents: number}} */ c) => {
      const label = document.createElement("label");
      const check = document.createElement("input");
      check.type = "checkbox";
      check.value = c.name;
      check.checked = !saved || saved.includes(c.name);
      check.onchange = () => localStorage.setItem("gptu.chat.collections", JSON.stringify(chosen()));
      label.append(check, ` ${c.name} (${c.documents})`);
      return label;
    }),
  );
  if (!readable.length) box.textContent = "You may not read any collection yet.";
  applyFilter();  // the list may arrive after someone typed in the filter
}

/** The collection boxes the filter leaves visible. */
function shown() {
  return [...document.querySelectorAll("#collections label")]
    .filter((el) => !(/** @type {HTMLElement} */ (el).hidden))
    .map((el) => /** @type {HTMLInputElement} */ (el.querySelector("input")));
}

/** Tick or untick every visible collection, and remember the choice. @param {boolean} on */
function selectShown(on) {
  for (const check of shown()) check.checked = on;
  localStorage.setItem("gptu.chat.collections", JSON.stringify(chosen()));
}

/** Show only the collections whose label holds the filter's text. */
function applyFilter() {
  const words = /** @type {HTMLInputElement} */ ($("collection-filter")).value.trim().toLowerCase();
  for (const label of document.querySelectorAll("#collections label")) {
    /** @type {HTMLElement} */ (label).hidden = !label.textContent?.toLowerCase().includes(words);
  }
}

$("collection-filter").oninput = applyFilter;
$("select-all").onclick = () => selectShown(true);
$("select-none").onclick = () => selectShown(false);

function chosen() {
  return [...document.querySelectorAll("#collections input:checked")].map((el) => /** @type {HTMLInputElement} */ (el).value);
}

/** @param {string} role @param {string} text */
function addTurn(role, text) {
  const li = document.createElement("li");
  li.className = `turn ${role}`;
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  li.append(body);
  $("turns").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

/** Replace [n] markers with links to the sources listed under the answer. @param {HTMLElement} el @param {string} text @param {string} id */
function renderAnswer(el, text, id) {
  el.replaceChildren();
  for (const part of text.split(/(\[\d{1,2}\])/)) {
    const m = part.match(/^\[(\d{1,2})\]$/);
    if (m && document.getElementById(`${id}-src-${m[1]}`)) {
      const a = document.createElement("a");
      a.href = `#${id}-src-${m[1]}`;
      a.className = "cite";
      a.setAttribute("aria-label", `Show source ${m[1]}`);
      a.onclick = (e) => { e.preventDefault(); showSource(id, Number(m[1])); };
      a.textContent = part;
      el.append(a);
    } else {
      el.append(part);
    }
  }
}

/** One numbered source as a list item. @param {any} s @param {string} id */
function sourceItem(s, id) {
  const item = document.createElement("li");
  item.id = `${id}-src-${s.n}`;
  const title = document.createElement("button");
  title.type = "button";
  title.className = "source-title";
  title.textContent = `[${s.n}] ${s.label}`;
  title.onclick = () => showSource(id, s.n);
  const text = document.createElement("p");
  text.textContent = s.text.length > 400 ? `${s.text.slice(0, 400)}…` : s.text;
  item.append(title, text);
  return item;
}

/**
 * Sources: those that support the answer (quoted or cited) first and open; the others folded
 * under "Also searched". Before the answer is done, every source counts as supporting.
 * @param {HTMLElement} li @param {any[]} sources @param {string} id @param {Set<number>} [supporting]
 */
function renderSources(li, sources, id, supporting) {
  li.querySelectorAll("details.sources-box").forEach((d) => d.remove());
  if (!sources.length) return;
  const shown = supporting ? sources.filter((s) => supporting.has(s.n)) : sources;
  const folded = supporting ? sources.filter((s) => !supporting.has(s.n)) : [];
  /** @param {string} label @param {any[]} items @param {boolean} open @param {string} kind */
  const box = (label, items, open, kind) => {
    const details = document.createElement("details");
    details.className = `sources-box ${kind}`;
    details.open = open;
    const summary = document.createElement("summary");
    summary.textContent = `${label} (${items.length})`;
    const list = document.createElement("ol");
    list.className = "sources";
    for (const s of items) list.append(sourceItem(s, id));
    details.append(summary, list);
    li.append(details);
  };
  if (shown.length) box("Sources", shown, true, "supporting");
  if (folded.length) box("Also searched", folded, false, "also");
}

/**
 * The unit of the source that most likely answers (a paragraph, a list, a table row, an FAQ
 * entry), shown whole at once with the sentence that matched marked, with file and page.
 * @param {HTMLElement} li @param {any[]} quotes @param {any[]} sources @param {string} id
 */
function renderQuote(li, quotes, sources, id) {
  for (const q of quotes) {
    const passage = sources.find((s) => s.n === q.n)?.text ?? "";
    const whole = passage.slice(q.start, q.end) === q.text;
    const markStart = whole && q.mark_end > q.mark_start ? q.mark_start : q.start;
    const markEnd = whole && q.mark_end > q.mark_start ? q.mark_end : q.end;
    const box = document.createElement("blockquote");
    box.className = "quote";
    const mark = document.createElement("mark");
    const text = document.createElement("p");
    if (whole) {
      mark.textContent = passage.slice(markStart, markEnd);
      text.append(passage.slice(q.start, markStart), mark, passage.slice(markEnd, q.end));
    } else {
      mark.textContent = q.text;
      text.append(mark);
    }
    const cite = document.createElement("a");
    cite.href = `#${id}-src-${q.n}`;
    cite.className = "cite";
    cite.textContent = `${q.label} [${q.n}]`;
    cite.onclick = (e) => { e.preventDefault(); showSource(id, q.n); };
    box.append(text, cite);
    li.insertBefore(box, li.querySelector(".text"));
  }
}

/** Helpful / not helpful (thumb icons in SVG) with an optional comment, and "why this answer".
 * @param {HTMLElement} li @param {string} traceId */
function renderTools(li, traceId) {
  const bar = document.createElement("div");
  bar.className = "tools";
  /** @param {number} rating @param {string} [comment] */
  const rate = async (rating, comment) => {
    const res = await api("/v1/feedback", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ trace_id: traceId, rating, comment }),
    });
    bar.dataset.rated = res.ok ? String(rating) : "";
    return res.ok;
  };
  const up = button("Helpful", "Good answer", async () => { if (await rate(1)) askComment(1); }, "up");
  const down = button("Not helpful", "Bad answer", async () => { if (await rate(-1)) askComment(-1); }, "down");
  const why = button("Why this answer?", "Why this answer", () => showTrace(li, traceId));
  why.className = "why";
  /** @param {number} rating */
  const askComment = (rating) => {
    up.setAttribute("aria-pressed", String(rating === 1));
    down.setAttribute("aria-pressed", String(rating === -1));
    if (bar.querySelector(".comment")) return;
    const box = document.createElement("input");
    box.className = "comment";
    box.placeholder = "Tell us more (optional), Enter to send";
    box.setAttribute("aria-label", "Comment on this answer");
    box.onkeydown = async (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      if (await rate(Number(bar.dataset.rated), box.value)) box.replaceWith("Thanks!");
    };
    bar.append(box);
  };
  bar.append(up, down, why);
  li.append(bar);
}

/** @param {string} text @param {string} label @param {() => void} onclick @param {"up" | "down"} [icon] */
function button(text, label, onclick, icon) {
  const b = document.createElement("button");
  b.type = "button";
  if (icon) b.append(thumb(icon), " ");
  b.append(text);
  b.setAttribute("aria-label", label);
  b.onclick = onclick;
  return b;
}

/** A thumb drawn as inline SVG: no emoji font needed (headless Chromium on Debian has none).
 * @param {"up" | "down"} way */
function thumb(way) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.4-1.1L13.2 1 6.6 7.6A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1.2-.7v-2z");
  path.setAttribute("fill", "currentColor");
  if (way === "down") path.setAttribute("transform", "rotate(180 12 12)");
  svg.append(path);
  return svg;
}

/** The trace of one of your answers. @param {HTMLElement} li @param {string} traceId */
async function showTrace(li, traceId) {
  li.querySelector(".trace")?.remove();
  const res = await api(`/v1/traces/${traceId}`);
  if (!res.ok) return;
  const t = await res.json();
  const box = document.createElement("details");
  box.className = "trace";
  box.open = true;
  const summary = document.createElement("summary");
  summary.textContent = "Why this answer";
  const facts = document.createElement("p");
  const ms = (/** @type {number | null} */ v) => (v == null ? "–" : `${Math.round(v)} ms`);
  facts.textContent = `Searched for “${t.search_query}” in ${t.collections.length} collection(s); `
    + `model ${t.model}${t.variant ? ` (variant ${t.variant})` : ""}; prompt ${t.prompt_tokens} tokens; `
    + `first token ${ms(t.first_token_ms)}, total ${ms(t.total_ms)}`
    + `${t.grounded ? "" : "; no passage was close enough, so nothing was generated"}.`;
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th>#</th><th>Passage</th><th>Fused</th><th>Vector</th><th>Lexical</th></tr></thead>";
  const body = document.createElement("tbody");
  const num = (/** @type {number | null} */ v, /** @type {number} */ d) => (v == null ? "–" : v.toFixed(d));
  for (const p of t.passages) {
    const tr = document.createElement("tr");
    const where = p.page ? `${p.filename}, p. ${p.page}` : p.filename;
    for (const cell of [`[${p.n}]`, where + (p.flagged ? " ⚠ contains instructions" : ""),
      num(p.score, 4), num(p.similarity, 2), num(p.lexical, 2)]) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  box.append(summary, facts, table);
  li.append(box);
}

/** @param {string} question */
async function ask(question) {
  addTurn("user", question);
  const conversation = currentConversation();  // the server holds its history
  const li = addTurn("assistant", "…");
  const textEl = /** @type {HTMLElement} */ (li.querySelector(".text"));
  const id = `t${++turnCount}`;
  $("send").setAttribute("disabled", "");
  let answer = "";
  /** @type {any[]} */
  let sources = [];
  /** @type {any[]} */
  let quotes = [];
  /** @type {Set<number>} */
  const supporting = new Set();
  try {
    const res = await api("/v1/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        messages: [{ role: "user", content: question }], conversation_id: conversation,
        collections: chosen(), stream: true,
      }),
    });
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.error?.message ?? res.statusText);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const name = block.match(/^event: (.*)$/m)?.[1];
        const data = JSON.parse(block.match(/^data: (.*)$/m)?.[1] ?? "null");
        if (name === "sources") { sources = data; remember(id, sources, quotes); renderSources(li, data, id); }
        if (name === "quote") {
          quotes = data;
          remember(id, sources, quotes);
          renderQuote(li, data, sources, id);
          for (const q of data) supporting.add(q.n);
        }
        if (name === "token") { answer += data.text; textEl.textContent = answer; }
        if (name === "error") throw new Error(data.message);
        if (name === "done") {
          answer = data.answer;
          for (const n of data.citations) supporting.add(n);
          renderSources(li, sources, id, supporting.size ? supporting : undefined);
          renderAnswer(textEl, answer, id);
          if (data.trace_id) renderTools(li, data.trace_id);
          keptIn(data.conversation_id, conversation);
        }
      }
    }
  } catch (err) {
    textEl.textContent = `Error: ${err instanceof Error ? err.message : err}`;
    li.classList.add("bad");
  } finally {
    $("send").removeAttribute("disabled");
    input.focus();
  }
}

form.onsubmit = (e) => {
  e.preventDefault();
  const q = input.value.trim();
  if (!q) return;
  input.value = "";
  ask(q);
};
input.onkeydown = (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
};
/** Redraw a saved turn: the question, then its answer with quote, sources and rating.
 * @param {any} turn */
function drawTurn(turn) {
  addTurn("user", turn.question);
  const li = addTurn("assistant", "");
  const textEl = /** @type {HTMLElement} */ (li.querySelector(".text"));
  const id = `t${++turnCount}`;
  const supporting = new Set([...turn.quote.map((/** @type {any} */ q) => q.n), ...turn.citations]);
  remember(id, turn.sources, turn.quote);
  renderSources(li, turn.sources, id, supporting.size ? supporting : undefined);
  renderQuote(li, turn.quote, turn.sources, id);
  if (turn.answer === null) {
    li.classList.add("withheld");
    textEl.textContent = "This answer is hidden: it drew on documents you may no longer read.";
  } else {
    renderAnswer(textEl, turn.answer, id);
  }
  if (turn.trace_id) renderTools(li, turn.trace_id);
}

/** Show a reopened conversation. @param {any[]} turns */
function showConversation(turns) {
  $("turns").replaceChildren();
  for (const turn of turns) drawTurn(turn);
  input.focus();
}

/** An empty page for a new conversation. */
function clearConversation() {
  $("turns").replaceChildren();
  input.focus();
}

await signIn();
await loadCollections();
await setupConversations(showConversation, clearConversation);
input.focus();
