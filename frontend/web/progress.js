// @ts-check
/** What the upload page says about work in progress: a document's stage and a batch's time left. */

const STAGES = /** @type {Record<string, string>} */ ({
  parsing: "reading the file",
  ocr: "reading scanned pages (OCR)",
  embedding: "embedding",
  indexing: "indexing",
});

/** The words for a document's state. @param {{status: string, stage?: string | null, progress?: number | null, error?: string | null, ocr_pages?: number}} doc */
export function stateText(doc) {
  if (doc.status === "failed") return `failed: ${doc.error}`;
  if (doc.status === "queued") return doc.error ? `queued (${doc.error})` : "queued";
  if (doc.status === "processing") {
    const stage = STAGES[doc.stage ?? ""] ?? "processing";
    const share = doc.progress ? ` ${Math.round(doc.progress * 100)}%` : "";
    return `${stage}${share}`;
  }
  return doc.ocr_pages ? `ready (${doc.ocr_pages} page${doc.ocr_pages === 1 ? "" : "s"} by OCR)` : doc.status;
}

/**
 * Seconds until the waiting bytes are read, from samples of {at: ms, waiting: bytes} taken as
 * the page polls; null until the queue has moved for a while (no guess from one sample).
 * @param {{at: number, waiting: number}[]} samples oldest first
 * @returns {number | null}
 */
export function secondsLeft(samples) {
  if (samples.length < 2) return null;
  const first = samples[0];
  const last = samples[samples.length - 1];
  const seconds = (last.at - first.at) / 1000;
  const read = first.waiting - last.waiting;
  if (last.waiting === 0) return 0;
  if (seconds < 5 || read <= 0) return null;
  return last.waiting / (read / seconds);
}

/** "about 3 min left" and the like. @param {number} seconds */
export function timeLeft(seconds) {
  if (seconds < 60) return "less than a minute left";
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min left`;
  const hours = Math.floor(seconds / 3600);
  return `about ${hours} h ${Math.round((seconds - hours * 3600) / 60)} min left`;
}

/** Keep the samples of the last window_ms, adding one. @param {{at: number, waiting: number}[]} samples @param {number} waiting @param {number} [now] @param {number} [windowMs] */
export function sample(samples, waiting, now = Date.now(), windowMs = 60_000) {
  if (samples.length && waiting > samples[samples.length - 1].waiting) samples.length = 0; // new files: start over
  samples.push({ at: now, waiting });
  while (samples.length > 2 && now - samples[0].at > windowMs) samples.shift();
  return samples;
}

/** Split files into upload requests of at most maxFiles files and maxBytes bytes (one file may exceed it alone). @param {File[]} files */
export function batches(files, maxFiles = 100, maxBytes = 64 << 20) {
  /** @type {File[][]} */
  const out = [];
  let current = /** @type {File[]} */ ([]);
  let size = 0;
  for (const f of files) {
    if (current.length && (current.length >= maxFiles || size + f.size > maxBytes)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(f);
    size += f.size;
  }
  if (current.length) out.push(current);
  return out;
}
