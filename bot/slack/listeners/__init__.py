"""Bolt listeners, one package per kind, each with `register(app)`.

Listeners only translate between Slack and the pure core: parse, decide, render, answer.
"""

from slack_bolt import App

from bot.slack.listeners import actions, commands, events


def register(app: App) -> None:
    commands.register(app)
    actions.register(app)
    events.register(app)
