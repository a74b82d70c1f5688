"""Meeting-aware nudges end to end: Slack's `user_change` and `user_huddle_changed` events
(signed, as Slack sends them) hold or pause a person's nudges, and the nudge pass sends each
one when the meeting, huddle or time away is over. On SQLite and PostgreSQL.

The issue's scenarios: a meeting status with an expiration moves a slot to its end; a huddle
holds the slot until `huddle_state` clears; a vacation status silences two working days and
the streak survives; `meetings off` ignores all of it; a status without expiration is cleared
by a later event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot import ids
from bot.core.content import Library
from bot.core.presence import UNTIL_CLEARED
from bot.data.activity import as_json
from bot.data.database import Database
from bot.data.models import AwayPeriod, Person
from bot.data.people import Who, read_preferences
from bot.engine.tick import run_tick
from tests.slack.test_settings_actions import home_click
from tests.slack.test_settings_commands import person, said
from tests.support.bots import Bot, HttpBot
from tests.support.clock import Clock
from tests.support.people import utc
from tests.support.slack import block_actions
from tests.support.standin import SlackStandIn
from tests.support.team import profile_changed, team_sender

WHO = Who("T0001", "U0001")
WEDNESDAY = (2026, 11, 25)


def at(hour: int, minute: int = 0, day: tuple[int, int, int] = WEDNESDAY) -> datetime:
    return utc(*day, hour, minute)


def opted_in(slack: Bot, clock: Clock, when: datetime) -> None:
    """U0001, in UTC, turns nudges on (every hour, 09:00-17:00, Monday to Friday)."""
    slack.standin.add_user("U0001", tz="UTC")
    clock.fixed = when
    said(slack.command("on"))


def nudges_sent(standin: SlackStandIn) -> list[datetime]:
    """The slot of each nudge DM sent so far, as its buttons carry it."""
    slots = []
    for call in standin.calls_to("chat.postMessage"):
        if call.args["channel"] != "U0001" or "blocks" not in call.args:
            continue
        actions = next((b for b in call.args["blocks"] if b["type"] == "actions"), None)
        if actions and actions["elements"][0]["action_id"] == ids.ACTION_NUDGE_DONE:
            seconds = int(actions["elements"][0]["value"].split(":")[0])
            slots.append(datetime.fromtimestamp(seconds, utc(2026, 1, 1).tzinfo))
    return slots


def pass_at(db: Database, standin: SlackStandIn, library: Library, when: datetime) -> int:
    """One nudge pass at `when`; how many DMs it sent."""
    return run_tick(db, team_sender(standin), library, now=when).sent


def test_a_meeting_status_with_an_expiration_moves_the_slot_to_its_end(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(9, 30))
    clock.fixed = at(9, 50)
    profile_changed(slack, text="In a meeting", emoji=":spiral_calendar_pad:", expires=at(10, 30))
    status = said(slack.command("status"))
    assert "Next nudge: today 10:30, when your meeting ends" in status
    standin.calls.clear()
    assert pass_at(db, standin, library, at(10)) == 0
    assert pass_at(db, standin, library, at(10, 29)) == 0
    assert pass_at(db, standin, library, at(10, 30)) == 1
    assert nudges_sent(standin) == [at(10)]  # the 10:00 slot, sent when the meeting ended
    # No Web API call but the DM itself: the state came with the events.
    assert {c.method for c in standin.calls} == {"chat.postMessage"}
    assert read_preferences(db, WHO).next_nudge_at == at(11)
    # Only the derived state is stored, never the status itself.
    stored = person(db)
    assert (stored.busy_until, stored.busy_kind) == (at(10, 30), "meeting")
    assert "In a meeting" not in str(as_json(stored))


def test_a_meeting_past_the_next_slot_skips_its_slot_as_dnd_does(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(9, 30))
    clock.fixed = at(9, 45)
    profile_changed(slack, text="on a call", emoji="", expires=at(11, 15))
    for minute in range(0, 120, 15):
        pass_at(db, standin, library, at(10) + timedelta(minutes=minute))
    # 10:00 would wait past 11:00, so it is skipped; 11:00 waits for 11:15.
    assert nudges_sent(standin) == [at(11)]
    assert [c.args["channel"] for c in standin.calls_to("chat.postMessage")] == ["U0001"]


def test_a_huddle_holds_the_slot_until_huddle_state_clears(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(9, 30))
    clock.fixed = at(9, 55)
    profile_changed(slack, huddle=True)
    assert "you're in a huddle; your next nudge comes when it ends" in said(slack.command("status"))
    for when in (at(10), at(10, 10), at(10, 19)):
        assert pass_at(db, standin, library, when) == 0
    assert person(db).busy_until == UNTIL_CLEARED
    clock.fixed = at(10, 20)
    profile_changed(slack, huddle=False)
    assert "Next nudge: today 10:20" in said(slack.command("status"))
    assert pass_at(db, standin, library, at(10, 20)) == 1
    assert nudges_sent(standin) == [at(10)]
    assert pass_at(db, standin, library, at(11)) == 1  # and the hour after, as usual


def test_a_huddle_that_runs_past_the_next_slot_gives_that_slot_its_end(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(9, 30))
    clock.fixed = at(9, 55)
    profile_changed(slack, huddle=True)
    for minute in range(0, 75, 5):
        assert pass_at(db, standin, library, at(10) + timedelta(minutes=minute)) == 0
    clock.fixed = at(11, 10)
    profile_changed(slack, huddle=False)
    assert pass_at(db, standin, library, at(11, 10)) == 1
    assert nudges_sent(standin) == [at(11)]  # 10:00 skipped; 11:00 waited for the end


def test_a_status_without_expiration_holds_until_a_later_event_clears_it(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(9, 30))
    clock.fixed = at(9, 50)
    profile_changed(slack, text="Presenting", emoji=":calendar:")  # status_expiration: 0
    assert "your next nudge comes when it ends" in said(slack.command("status"))
    assert pass_at(db, standin, library, at(10)) == 0
    assert pass_at(db, standin, library, at(10, 15)) == 0
    clock.fixed = at(10, 25)
    profile_changed(slack)  # the status cleared: text and emoji empty
    assert pass_at(db, standin, library, at(10, 25)) == 1
    assert nudges_sent(standin) == [at(10)]
    stored = person(db)
    assert stored.busy_kind is None and stored.busy_until == at(10, 25)


def did_it(slack: Bot, clock: Clock, when: datetime) -> str:
    """I did it under an exercise at `when`; what the person was told."""
    clock.fixed = when
    name = f"did-{when:%d%H%M}"
    action = {"action_id": ids.ACTION_DID_IT, "type": "button", "value": "march"}
    container = {"type": "message", "message_ts": f"{when.timestamp():.6f}"}
    url = slack.standin.response_url(name)
    payload = block_actions(action, response_url=url, container=container)
    assert slack.click(payload).status_code == 200
    [answer] = slack.standin.answers_at(name)
    return str(answer.args["text"])


def test_a_vacation_silences_two_working_days_and_the_streak_survives(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    monday, tuesday, friday = (2026, 11, 23), (2026, 11, 24), (2026, 11, 27)
    opted_in(slack, clock, at(8, day=monday))
    did_it(slack, clock, at(12, day=monday))
    did_it(slack, clock, at(12, day=tuesday))
    clock.fixed = at(18, day=tuesday)
    profile_changed(slack, text="Vacationing", emoji=":palm_tree:", expires=at(0, day=friday))
    assert "when you're back (your status says you're away until Fri 27 Nov 00:00)" in said(
        slack.command("status")
    )
    standin.calls.clear()
    when = at(0, day=(2026, 11, 25))
    while when < at(9, 59, day=friday):  # Wednesday and Thursday, and Friday morning
        assert pass_at(db, standin, library, when) == 0, when
        when += timedelta(minutes=30)
    # Back on Friday: the first slot after the vacation, nothing caught up.
    assert pass_at(db, standin, library, at(10, day=friday)) == 1
    assert nudges_sent(standin) == [at(10, day=friday)]
    # Wednesday and Thursday were days away: Monday, Tuesday and Friday make a streak of 3.
    assert "Streak: 3 working days" in did_it(slack, clock, at(12, day=friday))
    clock.fixed = at(13, day=friday)
    stats = said(slack.command("stats"))
    assert "Streak: 3 working days" in stats
    with db.session() as session:
        [period] = session.scalars(select(AwayPeriod)).all()
        assert (period.started_at, period.ended_at) == (at(18, day=tuesday), at(0, day=friday))


def test_away_means_no_weekly_summary_until_back(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(8, day=(2026, 11, 23)))
    clock.fixed = at(18, day=(2026, 11, 25))
    profile_changed(slack, text="OOO until Monday", emoji="", expires=at(0, day=(2026, 11, 30)))
    for hour in range(8, 18):
        assert pass_at(db, standin, library, at(hour, day=(2026, 11, 27))) == 0
    summaries = [c for c in standin.calls_to("chat.postMessage") if "week" in c.args["text"]]
    assert summaries == []
    assert pass_at(db, standin, library, at(10, day=(2026, 11, 30))) == 1


def test_an_away_status_without_expiration_pauses_until_cleared(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(9, 30))
    clock.fixed = at(9, 40)
    profile_changed(slack, text="Out sick", emoji=":face_with_thermometer:")
    status = said(slack.command("status"))
    assert "none while your status says you're away; they start again when you clear it" in status
    assert read_preferences(db, WHO).next_nudge_at is None
    assert pass_at(db, standin, library, at(10)) == 0
    clock.fixed = at(10, 30)
    profile_changed(slack)
    # No catch-up for the time away: the next slot after coming back.
    assert read_preferences(db, WHO).next_nudge_at == at(11)
    assert pass_at(db, standin, library, at(11)) == 1


def test_meetings_off_ignores_all_of_it(
    slack: Bot, clock: Clock, db: Database, library: Library
) -> None:
    standin = slack.standin
    opted_in(slack, clock, at(9, 30))
    clock.fixed = at(9, 40)
    profile_changed(slack, huddle=True, text="In a meeting", emoji=":calendar:")
    assert person(db).busy_until == UNTIL_CLEARED
    off = said(slack.command("meetings off"))
    assert "Meeting-aware nudges are off" in off and "Meetings: off" in off
    stored = person(db)
    assert (stored.meetings, stored.busy_until, stored.away_until) == (False, None, None)
    clock.fixed = at(9, 50)
    december = at(0, day=(2026, 12, 1))
    profile_changed(slack, text="Vacationing", emoji=":palm_tree:", expires=december)
    assert person(db).away_until is None  # nothing of it is kept while off
    assert "Next nudge: today 10:00" in said(slack.command("status"))
    assert pass_at(db, standin, library, at(10)) == 1
    # And back on from the Home tab: the next status change counts again.
    view = home_click(
        slack, {"action_id": ids.ACTION_HOME_MEETINGS, "type": "button", "value": "on"}
    )
    assert "Meeting-aware: on" in str(view) and person(db).meetings
    clock.fixed = at(10, 50)
    profile_changed(slack, text="In a meeting", emoji=":calendar:", expires=at(11, 30))
    assert person(db).busy_until == at(11, 30)


def test_the_status_at_opt_in_counts_without_another_call(
    slack: Bot, clock: Clock, db: Database
) -> None:
    """The one users.info made at opt-in carries the profile: its status counts at once."""
    standin = slack.standin
    standin.add_user("U0001", tz="UTC")
    user = {
        "id": "U0001",
        "team_id": "T0001",
        "name": "pat",
        "deleted": False,
        "tz": "UTC",
        "tz_label": "Coordinated Universal Time",
        "tz_offset": 0,
        "profile": {
            "status_text": "Vacationing",
            "status_emoji": ":palm_tree:",
            "status_expiration": int(at(0, day=(2026, 11, 27)).timestamp()),
            "huddle_state": "default_unset",
        },
    }
    standin.script("users.info", (200, {"ok": True, "user": user}, {}))
    clock.fixed = at(9, 30)
    text = said(slack.command("on"))
    assert "when you're back" in text
    assert len(standin.calls_to("users.info")) == 1
    assert read_preferences(db, WHO).next_nudge_at == at(10, day=(2026, 11, 27))
    with db.session() as session:
        assert session.scalar(select(Person.away_until)) == at(0, day=(2026, 11, 27))


def test_over_http_a_huddle_holds_and_releases_a_nudge(
    bot: HttpBot, clock: Clock, db: Database, library: Library
) -> None:
    """The same events over real HTTP to the running server, as Slack delivers them."""
    opted_in(bot, clock, at(9, 30))
    clock.fixed = at(9, 58)
    profile_changed(bot, huddle=True)
    assert pass_at(db, bot.standin, library, at(10)) == 0
    clock.fixed = at(10, 5)
    profile_changed(bot, huddle=False)
    assert pass_at(db, bot.standin, library, at(10, 5)) == 1
    assert nudges_sent(bot.standin) == [at(10)]
