"""Files shared with the bot in a DM: ingested into the sender's default collection."""

from __future__ import annotations

import logging
import tempfile
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient
from sqlalchemy import delete, select

from app.intake import Intake, Upload
from core.accounts import Caller
from core.db import FAILED, READY, Collection, Document, User
from core.errors import GptuError, PayloadTooLarge
from core.records import SlackNotice
from core.settings import Settings
from slackbot.mrkdwn import escape

log = logging.getLogger(__name__)
FILE_HOSTS = ("files.slack.com",)  # where Slack serves url_private downloads
NO_TARGET = (
    "I can't add files for you: you have no default collection you may add documents to. "
    "Ask an admin to set one: `gptu users set <name> --collection <collection>`."
)


class SlackFiles:
    """Downloads shared files with the bot token and hands them to the intake."""

    def __init__(self, settings: Settings, intake: Intake, client: WebClient) -> None:
        self.settings = settings
        self.intake = intake
        self.client = client

    def target(self, caller: Caller) -> str | None:
        """The caller's default collection, if they may add documents to it."""
        with self.intake.services.db.session() as session:
            user = session.get(User, caller.user_id)
            name = user.default_collection if user else None
            collection = session.scalar(select(Collection).where(Collection.name == name))
            return name if collection is not None and caller.can_write(collection) else None

    def receive(self, event: dict[str, Any], caller: Caller | None) -> None:
        """Ingest each file of a DM and promise a reply when it is searchable."""
        channel, thread = event.get("channel", ""), event.get("thread_ts") or event.get("ts", "")
        target = self.target(caller) if caller else None
        if caller is None or target is None:
            text = NO_TARGET if caller else "Please ask an admin to link your gptu account first."
            self.say(channel, thread, text)
            return
        for shared in event.get("files") or []:
            name = str(shared.get("name") or "unnamed")
            try:
                doc_id = self.ingest(shared, name, caller, target)
            except GptuError as exc:
                text = f"I could not take {name}: {exc.message}"
            except httpx.HTTPError as exc:
                text = f"I could not download {name} from Slack: {exc}"
            else:
                text = f"Got {name}; I'll tell you here when it is searchable in {target}."
                with self.intake.services.db.session() as session:
                    session.add(
                        SlackNotice(
                            document_id=doc_id, channel=channel, thread_ts=thread, filename=name
                        )
                    )
            self.say(channel, thread, text)

    def say(self, channel: str, thread: str, text: str) -> None:
        """Post a plain-text reply in the thread: file names and errors are shown as written."""
        self.client.chat_postMessage(channel=channel, thread_ts=thread, text=escape(text))

    def ingest(self, shared: dict[str, Any], name: str, caller: Caller, target: str) -> str:
        """Download one file (size-checked while streaming) and queue it; its document id."""
        url = shared.get("url_private_download") or shared.get("url_private")
        if not url:
            raise httpx.HTTPError("Slack gave no download address")
        if not self.from_slack(str(url)):
            # the bot token goes with the download: never to a host the payload chose
            raise GptuError("its download address is not one of Slack's file hosts")
        size = shared.get("size")
        if isinstance(size, int) and size > self.settings.max_upload_bytes:
            raise PayloadTooLarge(f"it is {size / 1e6:.1f} MB; the limit is "
                                  f"{self.settings.max_upload_mb:g} MB")  # fmt: skip
        headers = {"Authorization": f"Bearer {self.settings.slack_bot_token}"}
        limit = self.settings.max_upload_bytes
        with tempfile.TemporaryFile() as spool:
            with httpx.stream("GET", url, headers=headers, timeout=120) as answer:
                answer.raise_for_status()
                for block in answer.iter_bytes():
                    if spool.tell() + len(block) > limit:  # whatever size Slack declared
                        raise PayloadTooLarge(f"it is larger than the limit of "
                                              f"{self.settings.max_upload_mb:g} MB")  # fmt: skip
                    spool.write(block)
            spool.seek(0)
            with self.intake.services.db.session() as session:
                collection = session.scalar(select(Collection).where(Collection.name == target))
                assert collection is not None
                docs = self.intake.accept(session, collection, [Upload(name, spool)], caller)
        if docs[0].status == FAILED:
            raise GptuError(docs[0].error or "unsupported file")
        return docs[0].id

    def from_slack(self, url: str) -> bool:
        """Whether url is on Slack's file hosts (https) or the configured Slack API's host."""
        where, api = urlsplit(url), urlsplit(self.settings.slack_api_url)
        if (where.scheme, where.netloc) == (api.scheme, api.netloc):
            return True
        return where.scheme == "https" and where.hostname in FILE_HOSTS and not where.port

    def notify(self) -> int:
        """Post 'ready'/'failed' for finished files and forget them; how many were told."""
        told = 0
        with self.intake.services.db.session() as session:
            rows = session.execute(
                select(SlackNotice, Document)
                .join(Document, Document.id == SlackNotice.document_id)
                .where(Document.status.in_((READY, FAILED)))
            ).all()
            for notice, doc in rows:
                claimed = session.execute(
                    delete(SlackNotice).where(SlackNotice.document_id == notice.document_id)
                )
                session.commit()
                if getattr(claimed, "rowcount", 1) != 1:  # another API process told them
                    continue
                if doc.status == READY:
                    text = f"{notice.filename} is ready: {doc.chunks} passages, {doc.pages} pages."
                else:
                    text = f"{notice.filename} failed: {doc.error}"
                self.say(notice.channel, notice.thread_ts, text)
                told += 1
        return told
