"""The stand-in Slack Web API the tests use: the sandbox's own, re-exported.

It lives in `bot/sandbox/standin.py` so the sandbox and the tests share one Slack, as strict
as Slack (see that module for what it refuses and how a test sets up its workspace).
"""

from bot.sandbox.standin import (
    BOT_SCOPES,
    DEFAULT_USERS,
    METHODS,
    Answer,
    Call,
    Observer,
    Person,
    Responder,
    SlackStandIn,
    default_answer,
    dm_channel,
    error,
    manifest_bot_scopes,
    needed_scopes,
    rate_limited,
)

__all__ = [
    "BOT_SCOPES",
    "DEFAULT_USERS",
    "METHODS",
    "Answer",
    "Call",
    "Observer",
    "Person",
    "Responder",
    "SlackStandIn",
    "default_answer",
    "dm_channel",
    "error",
    "manifest_bot_scopes",
    "needed_scopes",
    "rate_limited",
]
