"""Slack mrkdwn: what documents, users and the model wrote is shown as text, never as markup."""

from __future__ import annotations

import re

ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
CONTROL = re.compile("[&<>]")
TORN_ENTITY = re.compile(r"&[a-z]{0,3}$")  # escaped text cut inside '&amp;', '&lt;' or '&gt;'


def escape(text: str) -> str:
    """Text for a mrkdwn field, shown as written: `<!channel>` pings nobody, `<url|label>`
    links nowhere (Slack's three control characters become entities)."""
    return CONTROL.sub(lambda found: ENTITIES[found.group()], text)


def clip(mrkdwn: str, limit: int) -> str:
    """At most limit characters of escaped text, never ending in half an entity."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    return TORN_ENTITY.sub("", mrkdwn[:limit])
