"""The Slack connector against a local Slack Web API: threads, incremental syncs, errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sources.base import Entry, Scan, SourceError
from sources.slack import KIND, SlackSettings
from tests.sources.site_slack import ASKER, BOT, BOT_ID, TOKEN, SlackSite, start

MB = 1_000_000


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SlackSite]:
    """An empty #support, stopped after the test."""
    made = start(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def listing(
    site: SlackSite, known: dict[str, str] | None = None, token: str = TOKEN, **settings: object
) -> tuple[dict[str, Entry], Scan]:
    """List the site once."""
    connector = KIND.make(SlackSettings(**{**site.settings(), **settings}), {"token": token})
    scan = Scan(known=known or {}, state={}, folder=Path("/nonexistent"), max_bytes=MB, timeout=5)
    return {e.key: e for e in connector.entries(scan)}, scan


def versions(entries: dict[str, Entry]) -> dict[str, str]:
    """key → version."""
    return {key: entry.version for key, entry in entries.items()}


def key_of(site: SlackSite, name: str) -> str:
    """The entry key of name's thread."""
    parent = site.space.parent("CSUPPORT", f"How do I {name}?")
    assert parent is not None
    return f"CSUPPORT/{parent['ts']}"


def test_a_thread_is_one_document_with_question_and_replies(site: SlackSite) -> None:
    site.write("reset a password", "Open Settings, then <https://example.org/r|Reset> &amp; go.")
    site.add_reply("reset a password", "Thanks, that worked!")
    site.add_reply("reset a password", "Glad to help", user=BOT, bot_id=BOT_ID)  # gptu's own
    entries, scan = listing(site)
    assert list(entries) == [key_of(site, "reset a password")]  # the join message is no thread
    entry = entries[key_of(site, "reset a password")]
    ts = entry.key.split("/")[1].replace(".", "")
    assert entry.label == (
        f"#support: How do I reset a password? · {site.space.url}/archives/CSUPPORT/p{ts}"
    )
    assert entry.parse_as == ".md"
    text = entry.read().decode()
    assert text.startswith("# How do I reset a password?\n\n**alice** (2023-11-14 22:13 UTC): ")
    bob = "**bob** (2023-11-14 22:13 UTC): Open Settings, then Reset (https://example.org/r)"
    assert f"\n\n{bob} & go.\n" in text
    assert "\n\n**alice** (2023-11-14 22:13 UTC): Thanks, that worked!\n" in text
    assert "Glad to help" not in text
    assert scan.complete and not scan.notes


def test_long_questions_are_shortened_in_the_label(site: SlackSite) -> None:
    site.write("x" * 80, "An answer.")
    entry = next(iter(listing(site)[0].values()))
    shown = entry.label.removeprefix("#support: ").split(" · ")[0]
    assert len(shown) == 60 and shown.endswith("…") and shown.startswith("How do I xxx")


def test_a_new_reply_changes_only_that_thread(site: SlackSite) -> None:
    site.write("alpha", "Alpha answer.")
    site.write("bravo", "Bravo answer.")
    first, _ = listing(site)
    site.add_reply("alpha", "One more thing.")
    again, _ = listing(site, known=versions(first))
    changed = [k for k in again if again[k].version != first[k].version]
    assert changed == [key_of(site, "alpha")]
    assert "One more thing." in again[key_of(site, "alpha")].read().decode()


def test_a_changed_answer_replaces_the_old_text(site: SlackSite) -> None:
    site.write("alpha", "Alpha version one.")
    first, _ = listing(site)
    site.write("alpha", "Alpha version two.")
    again, _ = listing(site, known=versions(first))
    entry = again[key_of(site, "alpha")]
    assert entry.version != first[entry.key].version
    text = entry.read().decode()
    assert "Alpha version two." in text and "version one" not in text


def test_unchanged_threads_fetch_no_replies(site: SlackSite) -> None:
    for name in ("alpha", "bravo", "charlie"):
        site.write(name, f"The {name} answer.")
    first, _ = listing(site)
    for entry in first.values():
        entry.read()
    assert site.space.count("conversations.replies") == 3
    again, _ = listing(site, known=versions(first))
    for key, entry in again.items():  # what the sync reads: new and changed entries only
        if first[key].version != entry.version:
            entry.read()
    assert versions(again) == versions(first)
    assert site.space.count("conversations.replies") == 3


def test_history_is_paged_and_max_threads_is_kept(site: SlackSite) -> None:
    names = [f"task{n}" for n in range(7)]
    for name in names:
        site.write(name, f"Answer {name}.")
    before = site.space.count("conversations.history")
    entries, scan = listing(site)
    assert sorted(entries) == sorted(key_of(site, n) for n in names)
    assert site.space.count("conversations.history") - before == 4  # 8 messages, 2 a page
    limited, scan = listing(site, max_threads=3)
    assert list(limited) == [key_of(site, n) for n in ("task6", "task5", "task4")]
    assert scan.complete is False
    assert scan.notes == ["#support has more than 3 threads: only the newest 3 are read"]


def test_a_deleted_thread_disappears(site: SlackSite) -> None:
    site.write("alpha", "Alpha.")
    site.write("bravo", "Bravo.")
    first, _ = listing(site)
    bravo = key_of(site, "bravo")
    site.remove("bravo")
    again, _ = listing(site, known=versions(first))
    assert bravo in first and sorted(again) == [key_of(site, "alpha")]


def test_every_member_channel_without_a_choice(site: SlackSite) -> None:
    site.write("alpha", "Alpha.")
    site.space.post("CRANDOM", {"user": ASKER, "text": "Not for the bot"})
    entries, _ = listing(site, channels=[])
    assert list(entries) == [key_of(site, "alpha")]


def test_a_channel_without_the_bot_says_to_invite_it(site: SlackSite) -> None:
    with pytest.raises(SourceError, match=r"the bot is not in #random: invite the bot with "):
        listing(site, channels=["#random"])
    with pytest.raises(SourceError, match=r"no channel #secret .*/invite @gptu"):
        listing(site, channels=["secret"])
    site.space.kicked.add("CSUPPORT")  # removed after Slack's channel list was made
    with pytest.raises(SourceError, match=r"cannot read #support: invite the bot with /invite"):
        listing(site)


def test_a_wrong_token_is_refused_without_showing_it(site: SlackSite) -> None:
    with pytest.raises(SourceError) as error:
        listing(site, token="xoxb-wrong-9999")
    assert str(error.value) == "Slack refused the token: check it"


def test_rate_limited_once_is_retried(site: SlackSite) -> None:
    site.write("alpha", "Alpha.")
    site.space.throttled = 1
    started = time.monotonic()
    entries, _ = listing(site)
    assert list(entries) == [key_of(site, "alpha")]
    assert time.monotonic() - started >= 1  # waited Retry-After
    site.space.throttled = 2
    with pytest.raises(SourceError, match="rate limited"):
        listing(site)


def test_an_unreachable_api_is_a_source_error(site: SlackSite) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/"  # bound, not listening
        with pytest.raises(SourceError, match=r"Slack's API at .* cannot be reached"):
            listing(site, api_url=url)
