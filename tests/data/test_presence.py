"""What is kept of a person's status: until when busy or away, and the periods away as local
days for their streak; nothing of it with meetings off, and nothing after `forget me`. On
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from bot.core.changes import SetMeetings
from bot.core.preferences import zone_or_utc
from bot.core.presence import UNTIL_CLEARED, BusyKind, Presence
from bot.data.database import Database
from bot.data.models import AwayPeriod
from bot.data.people import Who, change_preferences, find_person, forget, record_presence
from bot.data.presence import away_days
from tests.support.people import opt_in, utc

WHO = Who("T1", "U1")


def days_away(db: Database, tz: str, now: datetime) -> set[date]:
    with db.session() as session:
        return set(away_days(session, "T1", "U1", zone=zone_or_utc(tz), now=now))


def test_time_away_becomes_local_days_up_to_today(db: Database) -> None:
    opt_in(db, WHO, "America/New_York", utc(2026, 11, 23, 12))
    # Away from Tuesday 18:00 UTC (13:00 in New York) until Friday 05:00 UTC, which is
    # midnight in New York: Friday itself was not a day away there.
    record_presence(db, WHO, Presence(away_until=utc(2026, 11, 27, 5)), now=utc(2026, 11, 24, 18))
    assert days_away(db, "America/New_York", utc(2026, 11, 28)) == {
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 26),
    }
    # Seen from Wednesday: only the days so far.
    assert days_away(db, "America/New_York", utc(2026, 11, 25, 17)) == {
        date(2026, 11, 24),
        date(2026, 11, 25),
    }


def test_a_status_kept_open_then_cleared_ends_its_period(db: Database) -> None:
    opt_in(db, WHO, "UTC", utc(2026, 11, 23, 12))
    record_presence(db, WHO, Presence(away_until=UNTIL_CLEARED), now=utc(2026, 11, 24, 9))
    record_presence(db, WHO, Presence(away_until=UNTIL_CLEARED), now=utc(2026, 11, 24, 9, 5))
    record_presence(db, WHO, Presence(), now=utc(2026, 11, 25, 15))
    with db.session() as session:
        [period] = session.scalars(select(AwayPeriod)).all()
        assert (period.started_at, period.ended_at) == (utc(2026, 11, 24, 9), utc(2026, 11, 25, 15))
        person = find_person(session, team_id="T1", user_id="U1")
        assert person is not None and person.away_until is None


def test_meetings_off_keeps_nothing_and_forget_me_deletes_it_all(db: Database) -> None:
    opt_in(db, WHO, "UTC", utc(2026, 11, 23, 12))
    busy = Presence(utc(2026, 11, 23, 13), BusyKind.MEETING, utc(2026, 11, 30))
    assert record_presence(db, WHO, busy, now=utc(2026, 11, 23, 12, 30))
    change_preferences(
        db, WHO, SetMeetings(False), now=utc(2026, 11, 23, 12, 40), timezone_of=lambda: "UTC"
    )
    with db.session() as session:
        person = find_person(session, team_id="T1", user_id="U1")
        assert person is not None
        assert (person.busy_until, person.busy_kind, person.away_until) == (None, None, None)
        [period] = session.scalars(select(AwayPeriod)).all()
        assert period.ended_at == utc(2026, 11, 23, 12, 40)  # closed when turned off
    assert not record_presence(db, WHO, busy, now=utc(2026, 11, 23, 12, 50))
    forget(db, WHO)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AwayPeriod)) == 0
