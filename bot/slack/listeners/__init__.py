"""Bolt listeners, one package per kind, each with `register(app)`.

Listeners only translate between Slack and the pure core: parse, decide, render, answer.
"""

from pathlib import Path

from slack_bolt import App

from bot.settings import load_content_settings
from bot.slack.listeners import actions, commands, events
from bot.slack.listeners.events.people import presence_rules


def register(app: App) -> None:
    # What a Slack status means (content/presence.yaml) is content like the exercises: read
    # and checked as the app is built, so a malformed file stops start-up naming the file
    # and the field (a ContentError, as for the exercise library).
    presence_rules(Path(load_content_settings().content_dir))
    commands.register(app)
    actions.register(app)
    events.register(app)
