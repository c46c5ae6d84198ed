"""`gptu slack --socket`: the Slack bot in its own process, connected out over Socket Mode."""

from __future__ import annotations

from slack_bolt.adapter.socket_mode import SocketModeHandler

from answer.llm import load_llm
from answer.tracing import Tracer
from app.answering import announce_admin, api_services, make_answerer
from app.intake import Intake
from app.sweeper import Sweeper
from core.logs import setup_logging
from core.offline import quiet_libraries
from core.settings import Settings
from slackbot.bot import SlackBot


def run_socket_mode(settings: Settings) -> None:
    """Build what answering needs (as the API does), then serve Slack until interrupted."""
    from worker.celery_app import make_celery

    setup_logging(settings.log_level, settings.log_format)
    quiet_libraries()
    services = api_services(settings)
    announce_admin(services, settings.admin_token)
    intake = Intake(services, make_celery(settings))
    answerer = make_answerer(settings, services, load_llm(settings))
    bot = SlackBot(settings, answerer, intake, Tracer(services.db))
    sweeper = Sweeper(settings.sweep_interval, bot.notify)
    sweeper.start()
    try:
        SocketModeHandler(bot.app, settings.slack_app_token).start()
    finally:
        sweeper.stop()
