"""A 429 on one of the listener's own Web API calls is waited out, once, as Slack asks
(`Retry-After`), rather than turned into "Sorry, something went wrong"
(https://docs.slack.dev/apis/web-api/rate-limits)."""

from __future__ import annotations

from bot.data.database import Database
from tests.support.bots import Bot
from tests.support.standin import rate_limited


def test_a_rate_limited_lookup_is_retried_and_the_person_gets_their_answer(
    slack: Bot, db: Database
) -> None:
    slack.standin.script("users.info", rate_limited(retry_after=0))
    answer = slack.command("on").shown()
    assert "Nudges are on" in answer["text"]
    assert "America/New_York" in answer["text"]  # the time zone the retry read
    assert len(slack.standin.calls_to("users.info")) == 2
