"""The Slack bot (slack-bolt): answers mentions and DMs in threads, as the Slack user who asked."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from answer.rag import Answerer
from answer.tracing import Draft, Tracer, rate
from app.intake import Intake
from core.accounts import Caller, caller_of, readable
from core.db import User, utcnow
from core.errors import GptuError
from core.records import SlackEvent, SlackTurn
from core.settings import Settings
from slackbot.files import SlackFiles
from slackbot.mrkdwn import clip, escape

log = logging.getLogger(__name__)
MENTION = re.compile(r"<@([A-Z0-9]+)>")
SEARCHING = "Searching the documents…"
UNLINKED = (
    "I don't know who you are in gptu yet, so I can't search any documents for you. "
    "Please ask an admin to link your account: `gptu users link <name> --slack {user}`."
)
TURNS_KEPT = 10
EVENTS_KEPT = timedelta(days=1)  # Slack retries within minutes; a day of ids is plenty


class SlackBot:
    """A bolt App whose listeners run in a small pool, after Slack already got its ack."""

    def __init__(
        self,
        settings: Settings,
        answerer: Answerer,
        intake: Intake,
        tracer: Tracer,
    ) -> None:
        self.settings = settings
        self.answerer = answerer
        self.tracer = tracer
        self.intake = intake
        self.db = intake.services.db
        self.client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        self.files = SlackFiles(settings, intake, self.client)
        self.app = App(
            token=settings.slack_bot_token,
            client=self.client,
            token_verification_enabled=False,
            # /slack/events checks the signature itself (on the raw bytes, in our error
            # envelope); Socket Mode needs none.
            request_verification_enabled=False,
            listener_executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack"),
            logger=log,
        )
        self.app.event("app_mention")(self.on_mention)
        self.app.event("message")(self.on_message)
        self.app.action(re.compile(r"^feedback_(up|down)$"))(self.on_feedback)

    def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A mention in a channel: answer in its thread."""
        if self.first_time(body):
            self.answer(event)

    def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A DM (question or file), or a follow-up in a thread the bot already answers in."""
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return
        direct = event.get("channel_type") == "im"
        followup = bool(event.get("thread_ts")) and self.has_thread(event)
        mentions_bot = bool(MENTION.search(event.get("text") or ""))
        if not (direct or (followup and not mentions_bot)) or not self.first_time(body):
            return
        if event.get("files") and direct:
            self.files.receive(event, self.caller(event.get("user", "")))
        elif (event.get("text") or "").strip():
            self.answer(event)

    def on_feedback(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        """👍/👎 under an answer: stored with its trace when the asker clicks."""
        ack()
        caller = self.caller(body.get("user", {}).get("id", ""))
        rating = 1 if action.get("action_id") == "feedback_up" else -1
        if caller is None:
            return
        try:
            with self.db.session() as session:
                rate(session, caller, str(action.get("value", "")), rating, None, "slack")
        except GptuError:  # someone else's answer: only the asker rates it
            return
        message, channel = body.get("message", {}), body.get("channel", {}).get("id", "")
        blocks = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
        thanks = "Thanks for the feedback " + ("👍" if rating > 0 else "👎")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": thanks}]})
        self.client.chat_update(
            channel=channel, ts=message.get("ts", ""), text=message.get("text", ""), blocks=blocks
        )

    def first_time(self, body: dict[str, Any]) -> bool:
        """True once per Slack event id: Slack's retries and duplicates are dropped."""
        event_id = str(body.get("event_id") or "")
        if not event_id:
            return True
        try:
            with self.db.session() as session:
                session.add(SlackEvent(event_id=event_id))
        except IntegrityError:
            log.info("slack event %s already handled", event_id)
            return False
        return True

    def has_thread(self, event: dict[str, Any]) -> bool:
        """Whether the bot holds a conversation in this thread."""
        with self.db.session() as session:
            found = session.scalar(
                select(SlackTurn.id).where(
                    SlackTurn.channel == event.get("channel"),
                    SlackTurn.thread_ts == event.get("thread_ts"),
                )
            )
        return found is not None

    def caller(self, slack_user: str) -> Caller | None:
        """The gptu user behind a Slack member: linked id, else the e-mail Slack reports."""
        if not slack_user:
            return None
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.slack_id == slack_user))
            if user is None:
                email = self.slack_email(slack_user)
                if email:
                    user = session.scalar(select(User).where(User.email == email.lower()))
                if user is not None:
                    user.slack_id = slack_user
            return caller_of(user) if user is not None else None

    def slack_email(self, slack_user: str) -> str | None:
        """The e-mail Slack holds for a member (needs users:read.email), or None."""
        try:
            info = self.client.users_info(user=slack_user)
        except Exception:  # slack_sdk raises SlackApiError and transport errors alike
            log.warning("users.info failed for %s", slack_user, exc_info=True)
            return None
        email = (info.get("user") or {}).get("profile", {}).get("email")
        return str(email) if email else None

    def answer(self, event: dict[str, Any]) -> None:
        """Reply 'searching…' at once, then replace it with the cited answer."""
        channel, user = event.get("channel", ""), event.get("user", "")
        thread = event.get("thread_ts") or event.get("ts", "")
        caller = self.caller(user)
        if caller is None:
            note = escape(UNLINKED.format(user=user))
            self.client.chat_postMessage(channel=channel, thread_ts=thread, text=note)
            return
        posted = self.client.chat_postMessage(channel=channel, thread_ts=thread, text=SEARCHING)
        question = MENTION.sub("", event.get("text") or "").strip() or "Hello"
        try:
            text, blocks = self.reply(caller, channel, thread, question)
        except GptuError as exc:
            text, blocks = escape(f"Sorry, I could not answer: {exc.message}"), None
        except Exception:
            log.exception("slack answer failed")
            text, blocks = "Sorry, something went wrong; the server log has details.", None
        self.client.chat_update(channel=channel, ts=posted["ts"], text=text, blocks=blocks)

    def reply(
        self, caller: Caller, channel: str, thread: str, question: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """The answer's text and blocks (mrkdwn: what the documents and the model wrote is
        escaped), with the conversation of this thread as history."""
        with self.db.session() as session:
            names = [c.name for c in readable(session, caller)]
            turns = session.scalars(
                select(SlackTurn)
                .where(SlackTurn.channel == channel, SlackTurn.thread_ts == thread)
                .order_by(SlackTurn.id.desc())
                .limit(TURNS_KEPT)
            ).all()
        history = [{"role": t.role, "content": t.content} for t in reversed(turns)]
        history.append({"role": "user", "content": question})
        draft = Draft(caller, "slack", names)
        plan = draft.plan = self.answerer.plan(history, names, user=caller.name, readable=names)
        answer = self.answerer.complete(plan, wait=self.settings.slack_wait)
        draft.token_arrived()
        trace_id, answer = self.tracer.finish(draft, answer, plan.llm.count_tokens(answer))
        with self.db.session() as session:
            session.add(SlackTurn(channel=channel, thread_ts=thread, role="user", content=question))
            session.add(
                SlackTurn(channel=channel, thread_ts=thread, role="assistant", content=answer)
            )
        lines = [f"[{p.n}] {escape(p.label)}" for p in plan.passages]
        quoted = [f"{slack_quote(q.text)}\n({escape(q.label)}) [{q.n}]" for q in plan.quote]
        shown = escape(answer)
        return shown, answer_blocks(shown, lines, trace_id, quoted)

    def notify(self) -> int:
        """Tell people whose Slack files finished ingesting; forget old event ids (sweeper)."""
        with self.db.session() as session:
            session.execute(delete(SlackEvent).where(SlackEvent.at < utcnow() - EVENTS_KEPT))
        return self.files.notify()


def slack_quote(text: str) -> str:
    """A quoted unit as Slack block-quote lines, its lines (list items, table rows) kept;
    the '> ' is ours, the text is escaped."""
    lines = (escape(" ".join(line.split())) for line in text.splitlines() if line.strip())
    return "\n".join(f"> {line}" for line in lines)


def answer_blocks(
    answer: str, sources: list[str], trace_id: str, quotes: list[str] | None = None
) -> list[dict[str, Any]]:
    """The quote above the answer, then sources and 👍/👎 buttons, as Slack blocks.

    Every text given is mrkdwn already (escaped where it is not ours); each is clipped to fit
    Slack's 3,000 characters a text."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(quote, 2900)}}
        for quote in quotes or []
    ]
    shown = clip(answer, 2900) or "…"
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": shown}})
    if sources:
        listed = clip("\n".join(sources), 2900)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": listed}]})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "👍"},
                 "action_id": "feedback_up", "value": trace_id},
                {"type": "button", "text": {"type": "plain_text", "text": "👎"},
                 "action_id": "feedback_down", "value": trace_id},
            ],
        }
    )  # fmt: skip
    return blocks
