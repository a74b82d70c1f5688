from __future__ import annotations

import pytest

from bot.engine.sender import Sender
from tests.support.slack import BOT_TOKEN
from tests.support.standin import SlackStandIn


@pytest.fixture
def sender(standin: SlackStandIn) -> Sender:
    """A sender to the stand-in, fast enough that pacing never slows a test."""
    return Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        rate_per_second=200,
        burst=50,
        backoff_base=0.01,
    )
