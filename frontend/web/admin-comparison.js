// @ts-check
/** The admin page's Model comparison section: the chat models side by side on the operator's
 * question set, as the last `gptu eval --models` run measured them. */
import { api } from "./auth.js";
import { $, el, say, when } from "./page.js";

/** @typedef {{at: string, file: string, collection: string, models: string[], figures: Record<string, Record<string, number | null>>, skipped: {line: number, error: string}[]}} Comparison */

/** The rows, as `gptu eval --models` prints them, with words for people. */
const FIGURES = [
  ["facts_seen", "Facts a person sees (quote + answer)"], ["facts_answer", "Facts in the answer"],
  ["answer_correct", "Answers correct"], ["abstention", "Refused when unanswerable"],
  ["false_abstention", "Refused when answerable"], ["ttft_p50_s", "First token, median"],
  ["tokens_per_s", "Tokens per second"], ["questions", "Questions"],
];

/** One cell: shares as percentages, seconds, speed; a dash when there was nothing to count.
 * @param {string} figure @param {number | null | undefined} value */
function figureText(figure, value) {
  if (value === null || value === undefined) return "–";
  if (figure === "questions") return String(value);
  if (figure === "ttft_p50_s") return `${value.toFixed(2)} s`;
  if (figure === "tokens_per_s") return value.toFixed(1);
  return `${Math.round(value * 100)}%`;
}

/** Show the last comparison, or how to run one. */
export async function loadComparison() {
  let res;
  try {
    res = await api("/v1/eval/models");
  } catch {
    return;  // the other sections say that the server does not answer
  }
  const none = res.status === 404;
  $("no-comparison").hidden = !none;
  $("comparison-table").hidden = true;
  if (none) return;
  if (!res.ok) return say(`The last model comparison could not be read (${res.status} ${res.statusText}).`, true);
  /** @type {Comparison} */
  const c = await res.json();
  const n = c.skipped.length;
  const skipped = n ? ` (${n} malformed line${n === 1 ? "" : "s"} skipped)` : "";
  $("comparison-about").textContent = `${c.file} on collection ${c.collection}, ${when(c.at)}${skipped}`;
  const head = [el("th", { scope: "col" }, "Figure"), ...c.models.map((m) => el("th", { scope: "col" }, m))];
  $("comparison-table").querySelector("thead tr")?.replaceChildren(...head);
  const rows = FIGURES.map(([key, words]) => el("tr", {},
    el("th", { scope: "row" }, words, el("br"), el("small", {}, key)),
    ...c.models.map((m) => el("td", {}, figureText(key, c.figures[m]?.[key])))));
  $("comparison-table").querySelector("tbody")?.replaceChildren(...rows);
  $("comparison-table").hidden = false;
}
