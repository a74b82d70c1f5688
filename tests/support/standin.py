"""The stand-in Slack Web API the tests use: the sandbox's own, re-exported.

It lives in `bot/sandbox/standin.py` so the sandbox and the tests share one Slack.
"""

from bot.sandbox.standin import (
    Call,
    Responder,
    SlackStandIn,
    default_answer,
    dm_channel,
    error,
    rate_limited,
)

__all__ = [
    "Call",
    "Responder",
    "SlackStandIn",
    "default_answer",
    "dm_channel",
    "error",
    "rate_limited",
]
