"""A headless Chromium (Debian's, driven by Playwright) asks in the chat page and uploads a file."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from tests.conftest import Stack, upload, wait_done
from tests.e2e.conftest import give_password, sign_in
from tests.pdfs import text_pdf

# Records, in order, when the last answer first shows a quote and first shows answer text.
SEEN_FIRST = """() => {
  window.seen = [];
  new MutationObserver(() => {
    const turn = [...document.querySelectorAll(".turn.assistant")].pop();
    if (!turn) return;
    const text = turn.querySelector(".text")?.textContent ?? "";
    if (turn.querySelector(".quote") && !window.seen.includes("quote")) window.seen.push("quote");
    if (text && text !== "…" && !window.seen.includes("answer")) window.seen.push("answer");
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


def test_signed_in_user_sees_only_their_collections(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:6]
    mine, theirs = f"mine-{tag}", f"theirs-{tag}"
    api.post("/v1/users", json={"name": f"web-{tag}"}).raise_for_status()
    password = give_password(api, f"web-{tag}")
    grant = [f"user:web-{tag}"]
    api.post("/v1/collections", json={"name": mine, "readers": grant}).raise_for_status()
    api.post("/v1/collections", json={"name": theirs}).raise_for_status()
    page = browser.new_page()
    page.goto(stack.api_url + "/")
    sign_in(page, f"web-{tag}", password)
    expect(page.locator("#who")).to_contain_text(f"Signed in as web-{tag}")
    expect(page.locator("#collections")).to_contain_text(mine)
    expect(page.locator("#collections")).not_to_contain_text(theirs)
    page.goto(stack.api_url + "/upload")  # the session holds; nothing to write to here
    expect(page.locator("#who")).to_contain_text(f"web-{tag}")
    expect(page.locator("#collection option")).to_have_count(0)
    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible()
    page.close()


def test_a_long_list_of_collections_can_be_filtered_and_ticked_at_once(
    browser: Browser, stack: Stack, api: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:6]
    api.post("/v1/users", json={"name": f"many-{tag}"}).raise_for_status()
    password = give_password(api, f"many-{tag}")
    names = [f"{prefix}-{tag}" for prefix in ("hr-policies", "hr-forms", "sales")]
    for name in names:
        body = {"name": name, "readers": [f"user:many-{tag}"]}
        api.post("/v1/collections", json=body).raise_for_status()
    page = browser.new_page()
    page.goto(stack.api_url + "/")
    sign_in(page, f"many-{tag}", password)
    expect(page.locator("#collections")).to_contain_text(f"sales-{tag}")  # the list is loaded
    visible = page.locator("#collections label:visible")
    page.fill("#collection-filter", tag)  # other tests' collections open to everyone are there
    expect(visible).to_have_count(3)
    page.click("#select-none")  # only what the filter shows
    page.fill("#collection-filter", f"sales-{tag}")
    expect(visible).to_have_count(1)
    page.click("#select-all")
    page.fill("#collection-filter", tag)
    ticked = page.locator("#collections label:visible input:checked")
    expect(ticked).to_have_count(1)
    assert ticked.get_attribute("value") == f"sales-{tag}"
    page.fill("#collection-filter", "")
    page.click("#select-all")
    every = page.locator("#collections input")
    expect(page.locator("#collections input:checked")).to_have_count(every.count())
    assert every.count() >= 3
    page.close()


def test_chat_page_streams_an_answer_with_sources_and_follow_up(
    browser: Browser, stack: Stack, api: httpx.Client, admin_password: str
) -> None:
    name = f"web-{uuid.uuid4().hex[:8]}"
    api.post("/v1/collections", json={"name": name}).raise_for_status()
    text = b"# Canteen\n\nThe Quorrin canteen serves lunch from 11:30 to 14:00 every weekday.\n"
    near = b"# Canteen prices\n\nA coffee in the Quorrin canteen costs 1.20 EUR.\n"
    other = b"# Bikes\n\nBicycles are stored in the shed behind building C.\n"
    files = [("canteen.md", text), ("prices.md", near), ("bikes.md", other)]
    items = upload(api, name, files)
    wait_done(api, [i["id"] for i in items])
    page = browser.new_page(viewport={"width": 390, "height": 800})
    page.goto(stack.api_url + "/")
    sign_in(page, "admin", admin_password)
    page.get_by_label(name, exact=False).check()
    page.evaluate(SEEN_FIRST)
    page.fill("#question", "When does the Quorrin canteen serve lunch?")
    page.keyboard.press("Enter")
    answer = page.locator(".turn.assistant").last
    expect(answer.locator(".sources li").first).to_contain_text("canteen.md", timeout=120_000)
    expect(answer.locator(".quote mark")).to_contain_text("11:30 to 14:00")
    expect(answer.locator(".quote .cite")).to_contain_text("canteen.md [1]")
    expect(page.locator("#send")).to_be_enabled(timeout=120_000)
    assert answer.locator(".text").inner_text().strip() not in ("", "…")
    assert page.evaluate("window.seen") == ["quote", "answer"]  # the evidence came first
    # the quoted source is listed first; a related one neither quoted nor cited is folded
    # away; an unrelated one (cosine 0.08, below GPTU_SOURCE_FLOOR) is not listed at all
    expect(answer.locator("details.supporting li").first).to_contain_text("canteen.md")
    if "[2]" not in answer.locator(".text").inner_text():  # prices.md is source 2
        expect(answer.locator("details.also")).to_contain_text("prices.md")
        assert answer.locator("details.also").get_attribute("open") is None
    expect(answer).not_to_contain_text("bikes.md")
    good = answer.get_by_role("button", name="Good answer")
    expect(good).to_contain_text("Helpful")  # words and an SVG thumb: no emoji font needed
    assert good.locator("svg path").count() == 1
    assert "👍" not in answer.locator(".tools").inner_text()
    good.click()
    expect(answer.get_by_role("button", name="Good answer")).to_have_attribute(
        "aria-pressed", "true"
    )
    answer.get_by_label("Comment on this answer").fill("clear and short")
    answer.get_by_label("Comment on this answer").press("Enter")
    expect(answer.locator(".tools")).to_contain_text("Thanks!")
    answer.get_by_role("button", name="Why this answer").click()
    expect(answer.locator(".trace")).to_contain_text("canteen.md")
    expect(answer.locator(".trace")).to_contain_text("prompt")
    traces = api.get("/v1/traces", params={"limit": 5}).json()
    assert any(t["rating"] == 1 and t["comment"] == "clear and short" for t in traces)
    page.fill("#question", "and on which days?")
    page.keyboard.press("Enter")
    expect(page.locator(".turn.assistant")).to_have_count(2, timeout=120_000)
    expect(page.locator("#send")).to_be_enabled(timeout=120_000)
    page.click("#new-chat")
    expect(page.locator(".turn")).to_have_count(0)
    page.close()


def test_upload_page_shows_files_going_ready(
    browser: Browser, stack: Stack, tmp_path: Path, admin_password: str
) -> None:
    page = browser.new_page()
    page.goto(stack.api_url + "/upload")
    sign_in(page, "admin", admin_password)
    name = f"up-{uuid.uuid4().hex[:8]}"
    page.fill("#new-name", name)
    page.click("#create")
    expect(page.locator("#collection")).to_have_value(name)
    note = tmp_path / "note.txt"
    note.write_text("A short note about the Vellum project budget.")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    # ~180 chunks: the worker embeds them in batches and says how far it is while it works
    big = tmp_path / "minutes.txt"
    big.write_text("\n\n".join(
        f"Minute {i}: the board reviewed depot {i} and its spring stock counts in detail."
        for i in range(2200)))  # fmt: skip
    page.set_input_files("#files", [str(note), str(empty), str(big)])
    expect(page.locator("#message")).to_contain_text("3 file(s) queued", timeout=30_000)
    rows = page.locator("#documents tbody tr")
    expect(rows).to_have_count(3, timeout=30_000)
    working = page.locator("td.status.processing", has_text="embedding")
    expect(working).to_have_count(1, timeout=60_000)
    expect(working.locator("progress")).to_be_visible()
    expect(page.locator("td.status.ready")).to_have_count(2, timeout=120_000)
    expect(page.locator("td.status.failed")).to_contain_text("empty file")
    expect(page.locator("#counts")).to_have_text("2 ready · 0 in progress · 1 failed")
    expect(page.get_by_role("button", name="Retry note.txt")).to_have_count(0)  # ready: none
    page.get_by_role("button", name="Retry empty.txt").click()  # from its stored file
    expect(page.locator("#message")).to_have_text("empty.txt queued again.")
    expect(page.locator("td.status.failed")).to_contain_text("empty file", timeout=30_000)
    page.close()


def test_upload_page_time_left_and_batches(browser: Browser, stack: Stack) -> None:
    page = browser.new_page()
    page.goto(stack.api_url + "/static/progress.js")
    seen = page.evaluate("""async () => {
      const p = await import("/static/progress.js");
      const s = [];
      p.sample(s, 1000, 0); p.sample(s, 900, 2000);
      const early = p.secondsLeft(s);  // two seconds are too few to tell
      p.sample(s, 600, 10000);  // 400 bytes in 10 s: 600 left take 15 s
      const left = p.secondsLeft(s);
      p.sample(s, 5000, 11000);  // new files: the estimate starts over
      const big = (n, size) => Array.from({length: n}, (_, i) => ({name: `f${i}`, size}));
      return {
        early, left, restarted: s.length, words: p.timeLeft(7500),
        sizes: p.batches(big(250, 10)).map((b) => b.length),
        heavy: p.batches(big(3, 40 << 20)).map((b) => b.length),
        state: p.stateText({status: "processing", stage: "embedding", progress: 0.42}),
        ocr: p.stateText({status: "ready", ocr_pages: 3}),
      };
    }""")
    assert seen == {
        "early": None, "left": 15, "restarted": 1, "words": "about 2 h 5 min left",
        "sizes": [100, 100, 50], "heavy": [1, 1, 1],
        "state": "embedding 42%", "ocr": "ready (3 pages by OCR)",
    }  # fmt: skip
    page.close()


def test_a_cited_source_opens_with_its_quote_marked_and_the_pdf_at_its_page(
    browser: Browser, stack: Stack, api: httpx.Client, admin_password: str
) -> None:
    name = f"src-{uuid.uuid4().hex[:8]}"
    api.post("/v1/collections", json={"name": name}).raise_for_status()
    pdf = text_pdf([
        ["Depot handbook", "Deliveries arrive by the north gate and are signed for at the desk.",
         "Drivers wait in the yard until a clerk calls their number."],
        ["Opening hours", "The Harbour Road depot of Quellmark opens at 9:40 on Sundays.",
         "Forklifts are charged overnight in bay four."],
    ])  # fmt: skip
    [item] = upload(api, name, [("depot-handbook.pdf", pdf)])
    assert wait_done(api, [item["id"]])[item["id"]]["status"] == "ready"
    page = browser.new_page()
    page.goto(stack.api_url + "/")
    sign_in(page, "admin", admin_password)
    page.click("#select-none")
    page.get_by_label(name, exact=False).check()
    page.fill("#question", "When does the Quellmark depot on Harbour Road open on Sundays?")
    page.keyboard.press("Enter")
    quote = page.locator(".turn.assistant .quote").first
    expect(quote).to_contain_text("depot-handbook.pdf, p. 2", timeout=60_000)
    quote.locator("a.cite").click()
    view = page.locator("#source-view")
    expect(view).to_be_visible()
    expect(view.locator("h2")).to_contain_text("depot-handbook.pdf, pp. 1-2")  # two chunks
    expect(view.locator("mark")).to_contain_text("opens at 9:40 on Sundays")
    expect(view.locator(".passage")).to_contain_text("Forklifts are charged")  # the whole passage
    opener = view.get_by_role("button", name="Open depot-handbook.pdf at page 2")
    with page.expect_popup() as popup:
        opener.click()
    tab = popup.value
    tab.wait_for_url(re.compile(r"^blob:.*#page=2$"))
    assert tab.evaluate("document.contentType") == "application/pdf"
    tab.close()
    view.get_by_role("button", name="Close").click()
    expect(view).not_to_be_visible()
    # the document is deleted meanwhile: the source still shows, the file says why it cannot open
    expect(page.locator("#send")).to_be_enabled(timeout=120_000)
    assert api.delete(f"/v1/documents/{item['id']}").status_code == 200
    page.locator(".turn.assistant .sources .source-title").first.click()
    with page.expect_popup() as popup:
        opener.click()
    expect(view.locator(".note")).to_contain_text("does not exist")
    page.close()
