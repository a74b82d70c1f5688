from __future__ import annotations

import pytest

from bot.engine.sender import Sender
from tests.support.clock import SteppedTime
from tests.support.slack import BOT_TOKEN
from tests.support.standin import SlackStandIn


@pytest.fixture
def sender(standin: SlackStandIn) -> Sender:
    """A sender to the stand-in at Slack's pace, on a stepped clock: it waits as it would
    in production, and the test spends none of it."""
    time = SteppedTime()
    return Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        sleep=time.sleep,
        monotonic=time.monotonic,
    )
