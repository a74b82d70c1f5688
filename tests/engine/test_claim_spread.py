"""A workspace too big to be sent at its slot at Slack's pace loses no nudge: each person's
nudge goes a stable offset into the slot, so passes a minute apart send the slot's nudges
over its spread window, in the same order every hour. On a simulated clock (nothing waits),
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.data.database import Database
from bot.data.models import Workspace
from bot.data.workspaces import SENDER_SHARE, refresh_spreads, spread_seconds
from bot.engine.claims import CLAIM_BATCH, claim_due
from tests.engine.crowd import add_crowd, spread_of
from tests.support.people import utc

RATE = 20.0  # NUDGE_RATE_PER_SECOND: DMs per second per workspace
PEOPLE = 20_000  # on one hourly slot: 18.5 minutes at the rate, more than the catch-up limit
MINUTE = timedelta(minutes=1)


class PacedSender:
    """Sends one DM per 1/(rate x 90%) second of simulated time, as the sender does (it keeps
    10% headroom under Slack's limit), and records who got which slot's nudge when."""

    def __init__(self, rate: float) -> None:
        self.step = timedelta(seconds=1 / (rate * SENDER_SHARE))
        self.free_at = datetime.min.replace(tzinfo=utc(2026, 1, 1).tzinfo)
        self.sent: dict[tuple[str, datetime], datetime] = {}
        self.duplicates = 0

    def send(self, user_id: str, slot: datetime, *, now: datetime) -> None:
        self.free_at = max(self.free_at, now) + self.step
        self.duplicates += (user_id, slot) in self.sent
        self.sent[(user_id, slot)] = self.free_at

    def order(self, slot: datetime) -> list[str]:
        sent = sorted((at, user) for (user, at_slot), at in self.sent.items() if at_slot == slot)
        return [user for _, user in sent]


def nudge_every_minute(db: Database, people: int, rate: float) -> None:
    """Two hourly slots of a workspace of `people` at `rate`, a pass a minute: everyone gets
    each slot's nudge once, none missed, spread over the window in the same order."""
    window = spread_seconds(people, rate_per_second=rate)
    assert 18 * 60 < window < 19 * 60  # more than the catch-up limit of 15 minutes
    ten, eleven = utc(2026, 11, 25, 10), utc(2026, 11, 25, 11)  # a Wednesday, UTC
    add_crowd(db, "TBIG", people, after=ten - timedelta(minutes=1), window=window)

    sender, missed, now = PacedSender(rate), 0, ten
    while now <= eleven + timedelta(minutes=40):
        # A pass every minute, unless the last one is still sending (the scheduler skips).
        if sender.free_at <= now:
            refresh_spreads(db, rate_per_second=rate, now=now)
            while True:  # the pass claims in batches until no one is due at `now`
                claims, _, late = claim_due(db, now=now, worker="w", batch=CLAIM_BATCH)
                missed += late
                if not claims:
                    break
                for claim in claims:
                    sender.send(claim.user_id, claim.slot, now=now)
        now += MINUTE

    assert missed == 0
    assert sender.duplicates == 0
    for slot in (ten, eleven):
        got = {user for (user, at_slot) in sender.sent if at_slot == slot}
        assert len(got) == people, f"{people - len(got)} missed the {slot:%H:%M} nudge"
        # Spread over the window, not piled at the slot: the last goes about 18 minutes in
        # (a few more when a pass still sending makes the next minute's wait).
        last = max(at for (_, at_slot), at in sender.sent.items() if at_slot == slot)
        assert timedelta(minutes=17) < last - slot < timedelta(seconds=window, minutes=5)
    assert sender.order(ten) == sender.order(eleven)
    assert spread_of(db, "TBIG") == window  # recounted by the passes, unchanged


def test_twenty_thousand_on_one_slot_all_get_their_nudge_in_a_stable_order(
    postgres_db: Database,
) -> None:
    nudge_every_minute(postgres_db, PEOPLE, RATE)


def test_the_same_scaled_down_tenfold_on_each_database(db: Database) -> None:
    nudge_every_minute(db, PEOPLE // 10, RATE / 10)


def test_a_small_workspace_is_nudged_at_the_slot_to_the_minute(db: Database) -> None:
    add_crowd(db, "TSMALL", 10, after=utc(2026, 11, 25, 9, 30))
    ten = utc(2026, 11, 25, 10)
    assert refresh_spreads(db, rate_per_second=RATE, now=ten) == 1
    assert spread_of(db, "TSMALL") == 0
    claims, due, missed = claim_due(db, now=ten, worker="w")
    assert (len(claims), due, missed) == (10, 10, 0)


def test_spreads_are_recounted_once_an_hour_not_every_pass(db: Database) -> None:
    add_crowd(db, "TBIG", 400, after=utc(2026, 11, 25, 9, 30))
    ten = utc(2026, 11, 25, 10)
    assert refresh_spreads(db, rate_per_second=RATE, now=ten) == 1
    assert spread_of(db, "TBIG") == 22  # 400 DMs at 18 a second
    assert refresh_spreads(db, rate_per_second=RATE, now=ten + timedelta(minutes=59)) == 0
    assert refresh_spreads(db, rate_per_second=RATE, now=ten + timedelta(hours=1)) == 1
    with db.session() as session:
        session.add(Workspace(team_id="TNEW", active=True))
    # A new workspace is counted on the next pass, without recounting the others.
    assert refresh_spreads(db, rate_per_second=RATE, now=ten + timedelta(hours=1, minutes=1)) == 1
