"""Team stretch breaks end to end, through signed requests and the nudge pass: set in a
channel and announced there, posted at its time once, I'm in counted once per person with
the message updated in place, and ended by archive, deletion, the bot's removal, `team off`
or uninstall. On SQLite and PostgreSQL (one post from three concurrent passes on PostgreSQL
is in tests/engine/test_team_replicas.py)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.content import Library
from bot.core.preferences import WEEKDAYS
from bot.data.database import Database
from bot.data.models import Completion, CompletionSource, TeamBreakLog
from bot.data.team_breaks import read_break
from bot.engine.tick import run_tick
from tests.slack.test_settings_commands import said
from tests.support.bots import Bot, HttpBot
from tests.support.clock import Clock
from tests.support.people import utc
from tests.support.slack import assert_valid_message, assert_valid_view
from tests.support.standin import SlackStandIn, rate_limited
from tests.support.team import (
    channel_event,
    command_in,
    posted_in,
    press_join,
    team_breaks_in,
    team_sender,
)

# Wednesday 25 November 2026, 14:00 in New York (U0001's zone in the stand-in).
SET_AT = utc(2026, 11, 25, 19)
BREAK_AT = utc(2026, 11, 25, 20)  # 15:00 in New York
PEOPLE = ("U0002", "U0003", "U0004", "U0005", "U0006")


@pytest.fixture
def room(slack: Bot, clock: Clock) -> SlackStandIn:
    """A channel the bot was invited to, five more people, and the bot's clock at SET_AT."""
    standin = slack.standin
    standin.join("C0001")
    for user in PEOPLE:
        standin.add_user(user, tz="Europe/London")
    clock.fixed = SET_AT
    return standin


def team_pass(db: Database, standin: SlackStandIn, library: Library, when: datetime) -> None:
    run_tick(db, team_sender(standin), library, now=when)


def test_a_break_is_set_in_a_channel_and_announced_there(
    slack: Bot, room: SlackStandIn, db: Database
) -> None:
    answer = said(command_in(slack, "team 15:00"))
    assert "Team stretch break saved: 15:00 (America/New_York), Mon–Fri" in answer
    [announcement] = posted_in(room, "C0001")
    assert_valid_message(announcement)
    assert announcement["text"].startswith("<@U0001> set a daily team stretch break here")
    assert "15:00 (America/New_York), Mon–Fri" in announcement["text"]
    saved = read_break(db, "T0001", "C0001")
    assert saved is not None
    assert (saved.at, saved.days, saved.tz, saved.set_by) == (
        time(15),
        WEEKDAYS,
        "America/New_York",
        "U0001",
    )
    assert saved.next_at == BREAK_AT
    shown = said(command_in(slack, "team"))
    assert "Team stretch break here: 15:00 (America/New_York), Mon–Fri" in shown
    assert "next: today 15:00" in shown
    # Moved by someone else, to other days: announced again, one break per channel.
    said(command_in(slack, "team 4pm mon,wed,fri", user="U0002"))
    moved = posted_in(room, "C0001")[-1]
    assert moved["text"].startswith("<@U0002> moved the daily team stretch break")
    assert "16:00 (Europe/London), Mon, Wed, Fri" in moved["text"]
    again = read_break(db, "T0001", "C0001")
    assert again is not None and (again.at, again.tz) == (time(16), "Europe/London")


def test_in_a_dm_team_breaks_live_in_channels(slack: Bot, room: SlackStandIn, db: Database) -> None:
    for text in ("team 15:00", "team", "team off"):
        answer = said(command_in(slack, text, channel="D0001", channel_name="directmessage"))
        assert "Team breaks live in channels" in answer
    assert room.calls_to("chat.postMessage") == []
    assert read_break(db, "T0001", "D0001") is None


@pytest.mark.parametrize(
    ("channel", "name", "known"),
    [("C0002", "random", True), ("G0003", "privategroup", False)],
    ids=["public, bot not invited", "private, bot not invited"],
)
def test_without_the_bot_in_the_channel_nothing_is_saved(
    slack: Bot, room: SlackStandIn, db: Database, channel: str, name: str, known: bool
) -> None:
    if known:
        room.add_channel(channel)  # Slack answers not_in_channel; a private one it cannot see
    answer = said(command_in(slack, "team 15:00", channel=channel, channel_name=name))
    assert "I'm not in this channel" in answer and "nothing was saved" in answer
    assert "/invite @psoas-bot" in answer
    assert read_break(db, "T0001", channel) is None
    assert room.posted.get(channel) is None  # Slack refused the announcement


def test_a_private_channel_works_the_same_once_the_bot_is_invited(
    slack: Bot, room: SlackStandIn, db: Database, library: Library
) -> None:
    room.join("G0003")
    said(command_in(slack, "team 15:00", channel="G0003", channel_name="privategroup"))
    assert read_break(db, "T0001", "G0003") is not None
    team_pass(db, room, library, BREAK_AT)
    assert len(team_breaks_in(room, "G0003")) == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("team 25:00", "hours run from 00 to 23"),
        ("team 15:00 someday", "`someday` is not a day"),
        ("team teatime", "is not a time of day"),
    ],
)
def test_a_bad_time_or_day_list_gets_the_accepted_form(
    slack: Bot, room: SlackStandIn, db: Database, text: str, problem: str
) -> None:
    answer = said(command_in(slack, text))
    assert problem in answer
    assert "/psoas team 15:00 in a channel" in answer  # the accepted form
    assert read_break(db, "T0001", "C0001") is None and room.calls_to("chat.postMessage") == []


def test_the_break_is_posted_once_and_each_join_counts_once(
    slack: Bot, room: SlackStandIn, db: Database, library: Library, clock: Clock
) -> None:
    said(command_in(slack, "team 15:00"))
    team_pass(db, room, library, BREAK_AT - timedelta(seconds=1))
    assert team_breaks_in(room, "C0001") == []
    team_pass(db, room, library, BREAK_AT)
    team_pass(db, room, library, BREAK_AT + timedelta(seconds=20))  # the next pass: nothing
    [posted] = team_breaks_in(room, "C0001")
    assert_valid_message(posted)
    assert "I'm in" in str(posted["blocks"])

    clock.fixed = BREAK_AT + timedelta(minutes=2)
    first = press_join(slack, posted, user="U0002")
    assert "You're in" in first[-1]["text"]
    again = press_join(slack, posted, user="U0002")  # pressed twice: counted once
    assert "already in" in again[-1]["text"]
    press_join(slack, posted, user="U0003")
    press_join(slack, posted, user="U0004")
    shown = room.posted["C0001"][-1]
    assert "<@U0002>, <@U0003> and <@U0004> stretched" in shown["text"]
    for user in ("U0005", "U0006"):
        press_join(slack, posted, user=user)
    shown = next(m for m in room.posted["C0001"] if m["ts"] == posted["ts"])
    assert "<@U0002>, <@U0003> and 3 others stretched" in shown["text"]
    assert "edited" in shown  # updated in place (chat.update), never a second message
    assert len(team_breaks_in(room, "C0001")) == 1
    for update in room.calls_to("chat.update"):
        assert_valid_message(update.args)
    with db.session() as session:
        joins = session.execute(
            select(Completion.user_id, func.count())
            .where(Completion.source == CompletionSource.TEAM)
            .group_by(Completion.user_id)
        ).all()
    assert dict(joins) == dict.fromkeys(PEOPLE, 1)

    # Each joiner's own stats count it, and their Home tab lists it.
    stats = said(slack.command("stats", user="U0003"))
    assert "Team breaks joined this week: 1" in stats
    assert slack.event({"type": "app_home_opened", "user": "U0003", "tab": "home"})
    view = room.calls_to("views.publish")[-1].args["view"]
    assert_valid_view(view)
    assert "Team stretch breaks you joined this week: 1" in str(view) and "<#C0001>" in str(view)

    # The next day brings another exercise.
    team_pass(db, room, library, BREAK_AT + timedelta(days=1))
    first_break, second_break = team_breaks_in(room, "C0001")
    assert _exercise(first_break) != _exercise(second_break)


def _exercise(message: dict) -> str:
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    return str(actions["elements"][0]["value"]).split(":")[1]


@pytest.mark.parametrize(
    ("kind", "channel"),
    [
        ("channel_archive", "C0001"),
        ("group_archive", "G0003"),
        ("channel_deleted", "C0001"),
        ("member_left_channel", "C0001"),
    ],
)
def test_the_break_ends_when_its_channel_goes_or_the_bot_leaves(
    slack: Bot, room: SlackStandIn, db: Database, library: Library, kind: str, channel: str
) -> None:
    room.join(channel)
    said(command_in(slack, "team 15:00", channel=channel))
    assert slack.event(channel_event(kind, channel)).status_code == 200
    assert read_break(db, "T0001", channel) is None
    team_pass(db, room, library, BREAK_AT)
    assert team_breaks_in(room, channel) == []


def test_someone_else_leaving_the_channel_keeps_the_break(
    slack: Bot, room: SlackStandIn, db: Database
) -> None:
    said(command_in(slack, "team 15:00"))
    slack.event(channel_event("member_left_channel", "C0001", user="U0002"))
    assert read_break(db, "T0001", "C0001") is not None


def test_team_off_ends_it_and_says_so_in_the_channel(
    slack: Bot, room: SlackStandIn, db: Database, library: Library
) -> None:
    said(command_in(slack, "team 15:00"))
    answer = said(command_in(slack, "team off", user="U0002"))
    assert "Team stretch break ended" in answer
    assert posted_in(room, "C0001")[-1]["text"].startswith("<@U0002> ended the daily team")
    assert read_break(db, "T0001", "C0001") is None
    assert "no team stretch break in this channel" in said(command_in(slack, "team off"))
    team_pass(db, room, library, BREAK_AT)
    assert team_breaks_in(room, "C0001") == []


def test_uninstall_ends_every_break_of_the_workspace(
    slack: Bot, room: SlackStandIn, db: Database, library: Library
) -> None:
    said(command_in(slack, "team 15:00"))
    team_pass(db, room, library, BREAK_AT)
    assert len(team_breaks_in(room, "C0001")) == 1
    assert slack.event({"type": "app_uninstalled"}).status_code == 200
    assert read_break(db, "T0001", "C0001") is None
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(TeamBreakLog)) == 0


def test_a_channel_slack_refuses_at_break_time_ends_the_break(
    slack: Bot, room: SlackStandIn, db: Database, library: Library
) -> None:
    """Removed without an event reaching us: the post is refused, and the break ends."""
    said(command_in(slack, "team 15:00"))
    room.channels["C0001"] = False  # the bot is no longer a member
    team_pass(db, room, library, BREAK_AT)
    assert read_break(db, "T0001", "C0001") is None
    with db.session() as session:
        [row] = session.scalars(select(TeamBreakLog)).all()
        assert (row.status, row.error) == ("failed", "not_in_channel")


def test_a_break_missed_during_downtime_is_not_posted_late(
    slack: Bot, room: SlackStandIn, db: Database, library: Library
) -> None:
    said(command_in(slack, "team 15:00"))
    team_pass(db, room, library, BREAK_AT + timedelta(minutes=20))
    assert team_breaks_in(room, "C0001") == []
    saved = read_break(db, "T0001", "C0001")
    assert saved is not None and saved.next_at == BREAK_AT + timedelta(days=1)


def test_a_rate_limited_break_waits_out_retry_after_and_posts_once(
    slack: Bot, room: SlackStandIn, db: Database, library: Library
) -> None:
    """Slack's limits (one message a second per channel, bursts aside) answer 429 with
    Retry-After: the pass waits it out, as the nudge sender does, and posts once."""
    said(command_in(slack, "team 15:00"))
    room.rate_limits = True
    room.script("chat.postMessage", rate_limited(2))
    sender = team_sender(room)
    run_tick(db, sender, library, now=BREAK_AT)
    assert len(team_breaks_in(room, "C0001")) == 1
    assert sender.stats.retries == 1 and sender.stats.rate_limit_waits >= 1
    with db.session() as session:
        [row] = session.scalars(select(TeamBreakLog)).all()
        assert row.status == "sent" and row.message_ts == team_breaks_in(room, "C0001")[0]["ts"]


def test_over_http_a_break_is_set_posted_and_joined(
    bot: HttpBot, db: Database, library: Library, clock: Clock
) -> None:
    """The same path over real HTTP to the running server: signed requests, then the pass."""
    bot.standin.join("C0001")
    bot.standin.add_user("U0002", tz="UTC")
    clock.fixed = SET_AT
    said(command_in(bot, "team 15:00"))
    team_pass(db, bot.standin, library, BREAK_AT)
    [posted] = team_breaks_in(bot.standin, "C0001")
    clock.fixed = BREAK_AT + timedelta(minutes=1)
    assert "You're in" in press_join(bot, posted, user="U0002")[-1]["text"]
    assert "<@U0002> stretched" in bot.standin.posted["C0001"][-1]["text"]


def test_a_break_slack_makes_wait_past_the_pass_is_posted_by_a_later_pass(
    slack: Bot, room: SlackStandIn, db: Database, library: Library
) -> None:
    """A Retry-After longer than a pass holds hands the break back (nothing posted, the
    day's row freed); the pass after the wait posts it, once."""
    said(command_in(slack, "team 15:00"))
    room.script("chat.postMessage", rate_limited(120))
    team_pass(db, room, library, BREAK_AT)
    assert team_breaks_in(room, "C0001") == []
    saved = read_break(db, "T0001", "C0001")
    assert saved is not None and saved.next_at == BREAK_AT  # due again
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(TeamBreakLog)) == 0
    team_pass(db, room, library, BREAK_AT + timedelta(minutes=3))
    assert len(team_breaks_in(room, "C0001")) == 1
    team_pass(db, room, library, BREAK_AT + timedelta(minutes=4))
    assert len(team_breaks_in(room, "C0001")) == 1
