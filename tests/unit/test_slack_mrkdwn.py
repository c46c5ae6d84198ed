"""Slack mrkdwn: escaped text is clipped to Slack's limit without tearing an entity."""

from __future__ import annotations

import re

from slackbot.bot import answer_blocks, slack_quote
from slackbot.mrkdwn import clip, escape

TORN = re.compile(r"&(?!amp;|lt;|gt;)")


def test_escape_leaves_no_control_character_and_our_quote_marks_stay() -> None:
    shown = escape("R&D <!channel> <https://evil.example|form> *ok*")
    assert shown == "R&amp;D &lt;!channel&gt; &lt;https://evil.example|form&gt; *ok*"
    assert slack_quote("a > b\n\n<!here> &") == "> a &gt; b\n> &lt;!here&gt; &amp;"


def test_long_escaped_texts_fit_slack_and_end_on_a_whole_entity() -> None:
    for pad in range(5):  # the cut falls on each character of an entity in turn
        answer = escape("x" * pad + "<&>" * 2000)
        section = answer_blocks(answer, [escape("a&b.txt")] * 900, "t1")
        texts = [section[0]["text"]["text"], section[1]["elements"][0]["text"]]
        for text in texts:
            assert 2895 <= len(text) <= 2900 and not TORN.search(text), text[-8:]
    assert clip("&amp;&lt;", 7) == "&amp;" and clip("&amp;", 5) == "&amp;"
