"""`/psoas status` in a big workspace shows the real send time, a few minutes past the slot,
and why; the pass then sends at that very time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.core.schedule import spread_offset
from bot.data.database import Database
from bot.data.models import Person, Workspace
from bot.engine.claims import claim_due
from tests.slack.test_settings_commands import person, said
from tests.support.bots import Bot
from tests.support.clock import Clock

WINDOW = 1800  # a workspace of 32,400 people at 20 DMs/s


def test_status_and_the_claim_agree_on_a_spread_nudge(
    slack: Bot, db: Database, clock: Clock
) -> None:
    clock.fixed = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # Wednesday 09:30 in New York
    said(slack.command("on"))
    stored = person(db)
    assert stored is not None
    with db.session() as session:
        session.execute(
            update(Workspace)
            .where(Workspace.team_id == stored.team_id)
            .values(nudge_spread_seconds=WINDOW)
        )
    said(slack.command("every 60m"))  # any change places the next nudge again
    offset = spread_offset(
        stored.team_id, stored.user_id, window_seconds=WINDOW, interval_minutes=60
    )
    assert offset >= timedelta(minutes=1)  # this person's share of the window
    send_at = datetime(2026, 11, 25, 15, tzinfo=UTC) + offset  # 10:00 in New York, plus it
    local = (send_at - timedelta(hours=5)).strftime("%H:%M")
    status = said(slack.command("status"))
    assert f"Next nudge: today {local}" in status
    assert "go out over a few minutes after each slot" in status
    stored = person(db)
    assert stored is not None and stored.next_nudge_at == send_at
    # Not claimed a moment before that time; claimed at it, for the 10:00 slot.
    claims, _, _ = claim_due(db, now=send_at - timedelta(seconds=1), worker="w")
    assert claims == []
    [claim], _, _ = claim_due(db, now=send_at, worker="w")
    assert claim.slot == datetime(2026, 11, 25, 15, tzinfo=UTC)
    with db.session() as session:
        after = session.get(Person, (stored.team_id, stored.user_id))
        assert after is not None and after.next_nudge_at == send_at + timedelta(hours=1)
