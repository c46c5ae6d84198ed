"""The Slack bot: events and answers in threads (bot.py), file shares (files.py), Socket Mode."""
