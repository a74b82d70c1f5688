"""What a Slack status means (busy, away), from content/presence.yaml: pure classification,
the busy and away rules of the schedule, and a malformed file stopping start-up."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.core.content import DEFAULT_CONTENT_DIR, ContentError
from bot.core.preferences import Preferences
from bot.core.presence import UNTIL_CLEARED, BusyKind, Presence, load_presence, read_presence
from bot.core.schedule import Nudge, catch_up, next_nudge, summary_time
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET

RULES = load_presence(DEFAULT_CONTENT_DIR)
NOW = datetime(2026, 11, 25, 9, 50, tzinfo=UTC)  # a Wednesday
LATER = NOW + timedelta(minutes=40)


def status(text: str = "", emoji: str = "", expires: datetime | None = None, **more: object):
    return {
        "status_text": text,
        "status_emoji": emoji,
        "status_expiration": int(expires.timestamp()) if expires else 0,
        **more,
    }


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (status("In a meeting", ":spiral_calendar_pad:", LATER), Presence(LATER, BusyKind.MEETING)),
        (status("", ":CALENDAR:", LATER), Presence(LATER, BusyKind.MEETING)),
        (status("ON A CALL with design"), Presence(UNTIL_CLEARED, BusyKind.MEETING)),
        (status("presenting :tada:"), Presence(UNTIL_CLEARED, BusyKind.MEETING)),
        (status(huddle_state="in_a_huddle"), Presence(UNTIL_CLEARED, BusyKind.HUDDLE)),
        (status("Vacationing", ":palm_tree:", LATER), Presence(away_until=LATER)),
        (status("OOO until Monday"), Presence(away_until=UNTIL_CLEARED)),
        (
            status("Out sick", ":face_with_thermometer::skin-tone-3:"),
            Presence(away_until=UNTIL_CLEARED),
        ),
        (status(":palm_tree: back Monday"), Presence(away_until=UNTIL_CLEARED)),
        # Away wins over busy in one status; a huddle is busy on top of being away.
        (status("vacation, on a call only if urgent"), Presence(away_until=UNTIL_CLEARED)),
        (
            status("out of office", huddle_state="in_a_huddle"),
            Presence(UNTIL_CLEARED, BusyKind.HUDDLE, UNTIL_CLEARED),
        ),
        # Not busy: no such words, a word inside another, an expired status, nothing at all.
        (status("Commuting", ":bus:"), Presence()),
        (status("snooping around"), Presence()),  # "ooo" is a word, not a part of one
        (status("In a meeting", "", NOW - timedelta(minutes=1)), Presence()),
        (status(huddle_state="default_unset"), Presence()),
        ({}, Presence()),
        ({"status_text": 42, "status_expiration": "soon"}, Presence()),
    ],
)
def test_a_status_reads_as_busy_away_or_neither(profile: dict, expected: Presence) -> None:
    assert read_presence(profile, RULES, NOW) == expected


def prefs(**changes: object) -> Preferences:
    return Preferences(opted_in=True, tz="UTC", **changes)  # type: ignore[arg-type]


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_busy_follows_the_dnd_rules() -> None:
    after = at(9, 30)
    # Ends before the next slot: the slot waits for its end.
    assert next_nudge(prefs(busy_until=at(10, 30)), after=after) == Nudge(at(10), at(10, 30))
    # Ends after the next slot: the slot is skipped, the next one waits.
    assert next_nudge(prefs(busy_until=at(11, 15)), after=after) == Nudge(at(11), at(11, 15))
    # The end would fall after work or in quiet hours: skipped.
    late = prefs(busy_until=at(17, 5))
    assert next_nudge(late, after=at(15, 30)) == Nudge(at(10, day=26), at(10, day=26))
    quiet = prefs(busy_until=at(10, 30), quiet_start=time(10, 15), quiet_end=time(10, 45))
    assert next_nudge(quiet, after=after) == Nudge(at(11), at(11))
    # No known end: the first slot is held until an event says when it ended.
    assert next_nudge(prefs(busy_until=UNTIL_CLEARED), after=after) == Nudge(at(10), UNTIL_CLEARED)
    # Meetings off: none of it counts.
    off = prefs(busy_until=at(10, 30), meetings=False)
    assert next_nudge(off, after=after) == Nudge(at(10), at(10))


def test_away_skips_every_slot_and_catches_nothing_up() -> None:
    away = prefs(away_until=at(0, day=27))  # back on Friday
    assert next_nudge(away, after=at(9, 30)) == Nudge(at(10, day=27), at(10, day=27))
    # Longer than the schedule's horizon: still the first slot after it.
    long_away = prefs(away_until=at(0, day=25) + timedelta(days=40))
    found = next_nudge(long_away, after=at(9, 30))
    assert found is not None and found.slot == datetime(2027, 1, 4, 10, tzinfo=UTC)
    assert next_nudge(prefs(away_until=UNTIL_CLEARED), after=at(9, 30)) is None
    # A nudge stored before the status came is not sent while away.
    now = at(10, 5)
    assert catch_up(away, Nudge(at(10), at(10)), now=now)[0] is None
    # And the weekly summary waits until back, or skips the week.
    assert summary_time(prefs(away_until=at(16, 30)), at(16)) == at(16, 30)
    assert summary_time(prefs(away_until=UNTIL_CLEARED), at(16)) is None


def broken_presence(tmp_path: Path, old: str, new: str) -> Path:
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR, content)
    target = content / "presence.yaml"
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    return content


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('- ":spiral_calendar_pad:"', "- spiral calendar", "busy.emoji.0"),
        ("\naway:\n", "\ngone:\n", "away"),
        ("  phrases:\n    - in a meeting", "  phrase:\n    - in a meeting", "busy.phrase"),
    ],
)
def test_a_malformed_presence_file_names_the_file_and_the_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    with pytest.raises(ContentError) as caught:
        load_presence(broken_presence(tmp_path, old, new))
    assert "presence.yaml" in str(caught.value) and f"'{field}'" in str(caught.value)


def test_broken_presence_yaml_is_reported_not_raised(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match=r"presence\.yaml: cannot be read as YAML"):
        load_presence(broken_presence(tmp_path, "\nbusy:\n", "\nbusy: [oops\n"))


def test_a_malformed_presence_file_stops_start_up(tmp_path: Path) -> None:
    content = broken_presence(tmp_path, '- ":palm_tree:"', "- palm tree")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "CONTENT_DIR": str(content),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "PORT": str(port),
        "LOG_FORMAT": "text",
    }
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--host", "127.0.0.1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "presence.yaml" in run.stderr and "'away.emoji.0'" in run.stderr
    assert "Traceback" not in run.stderr
