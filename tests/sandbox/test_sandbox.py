"""The sandbox end to end through the JSON API its page calls: the real bot behind waitress,
the built-in Slack, the simulated clock. No browser (test_sandbox_browser.py has one)."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.data.schema import upgrade
from bot.sandbox.app import Sandbox
from bot.sandbox.people import CHANNEL_ID, PEOPLE
from bot.sandbox.serve import SandboxServer, main, run_sandbox
from tests.support.slack import assert_valid_blocks, assert_valid_view

# Tuesday 24 November 2026, 09:40 in Lisbon (UTC+0 in winter): twenty minutes before a slot.
START = datetime(2026, 11, 24, 9, 40, tzinfo=UTC)
ANA = "U0ANA"
KENJI = "U0KENJI"


class Page:
    """What the page does: JSON to the sandbox's API, the state back."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.url, self.session = url, session
        self.note: str | None = None

    def post(self, name: str, **body: Any) -> dict[str, Any]:
        body.setdefault("user", ANA)
        response = self.session.post(f"{self.url}/sandbox/api/{name}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        self.note = answer["note"]
        return dict(answer["state"])

    def state(self, user: str = ANA) -> dict[str, Any]:
        response = self.session.get(f"{self.url}/sandbox/api/state", params={"user": user})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def type(self, text: str, conversation: str = CHANNEL_ID, user: str = ANA) -> dict[str, Any]:
        return self.post("command", user=user, conversation=conversation, text=text)

    def click(self, message: dict[str, Any], action_id: str, **extra: Any) -> dict[str, Any]:
        return self.post(
            "click",
            surface="message",
            message_id=message["id"],
            block_id=block_with(message["blocks"], action_id)["block_id"],
            action_id=action_id,
            **extra,
        )

    def tick(self, step: str, user: str = ANA) -> dict[str, Any]:
        return self.post("clock", user=user, step=step)


def block_with(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for block in blocks:
        elements = [*block.get("elements", []), block.get("accessory") or {}]
        if any(e.get("action_id") == action_id for e in elements):
            return block
    raise AssertionError(f"no {action_id} on screen")


def bot_messages(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in conversation["messages"] if m["author"]["app"]]


def words(message: dict[str, Any]) -> str:
    """The text a person reads in a message's blocks."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                found.append(value["text"])
            for key, item in value.items():
                if key != "text" or not isinstance(item, str):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message["blocks"])
    return "\n".join(found)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for each test: a fresh sandbox without
    running every migration again."""
    path = tmp_path_factory.mktemp("sandbox") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def page(migrated: Path, tmp_path: Path) -> Iterator[Page]:
    database = tmp_path / "sandbox.db"
    shutil.copy(migrated, database)
    sandbox = Sandbox(database_url=f"sqlite:///{database}", start=START, port=0)
    with SandboxServer(sandbox, port=0) as server, requests.Session() as session:
        yield Page(server.url, session)


def test_the_page_and_the_bots_own_endpoints_are_served(page: Page) -> None:
    html = page.session.get(page.url + "/")
    assert html.status_code == 200 and "psoas-bot" in html.text
    for name in ("app.js", "app.css"):
        assert page.session.get(f"{page.url}/sandbox/static/{name}").status_code == 200
    assert page.session.get(page.url + "/sandbox/static/../serve.py").status_code == 404
    assert page.session.get(page.url + "/healthz").text == "ok\n"
    # Slack's URL is the real bot's: an unsigned request is refused as in production.
    assert page.session.post(page.url + "/slack/events", data="x").status_code == 401


def test_a_command_is_answered_with_the_exercise_only_its_author_sees(page: Page) -> None:
    state = page.type("/psoas half-kneel")
    typed, answer = state["channel"]["messages"]
    assert typed["kind"] == "command" and typed["text"] == "/psoas half-kneel"
    assert answer["only_you"] and answer["blocks"][0]["text"]["text"] == "Half kneel"
    assert "Cleveland Clinic" in words(answer)
    assert_valid_blocks(answer["blocks"])
    # Someone else in #general sees none of it.
    assert page.state(KENJI)["channel"]["messages"] == []


def test_a_click_updates_the_message_in_place_step_by_step(page: Page) -> None:
    exercise = bot_messages(page.type("/psoas half-kneel")["channel"])[0]
    state = page.click(exercise, "start_guided")
    for number in range(2, 6):
        guided = bot_messages(state["channel"])
        assert [m["id"] for m in guided] == [exercise["id"]], "updated in place, not added"
        assert guided[0]["edited"]
        state = page.click(guided[0], "guided_next")
        header = bot_messages(state["channel"])[0]["blocks"][0]["text"]["text"]
        assert header == f"Half kneel: step {number} of 5"
    last = bot_messages(state["channel"])[0]
    assert "guided_next" not in str(last["blocks"])
    state = page.click(last, "guided_done")
    assert "Half kneel done" in bot_messages(state["channel"])[0]["text"]
    assert "Today:* 1" in words(bot_messages(page.type("/psoas stats")["channel"])[-1])


def test_the_home_tab_opens_and_its_controls_change_settings(page: Page) -> None:
    home = page.post("home")["home"]
    assert home["type"] == "home"
    assert_valid_view({k: home[k] for k in ("type", "blocks")})
    toggle = block_with(home["blocks"], "home_toggle_nudges")
    home = page.post(
        "click", surface="home", block_id=toggle["block_id"], action_id="home_toggle_nudges"
    )["home"]
    assert "Nudges: *on*" in words({"blocks": home["blocks"]})
    quiet = block_with(home["blocks"], "home_quiet_start")
    home = page.post(
        "click",
        surface="home",
        block_id=quiet["block_id"],
        action_id="home_quiet_start",
        choice={"time": "12:00"},
    )["home"]
    assert "Quiet hours: 12:00–13:00" in words({"blocks": home["blocks"]})
    days = block_with(home["blocks"], "home_days")
    home = page.post(
        "click",
        surface="home",
        block_id=days["block_id"],
        action_id="home_days",
        choice={"values": ["0", "2", "4"]},
    )["home"]
    assert "Mon, Wed, Fri" in words({"blocks": home["blocks"]})
    # A choice that is not on screen is refused, as Slack could not send it.
    response = page.session.post(
        page.url + "/sandbox/api/click",
        json={"user": ANA, "surface": "home", "block_id": days["block_id"],
              "action_id": "home_days", "choice": {"values": ["9"]}},
    )  # fmt: skip
    assert response.status_code == 400


def test_the_clock_brings_a_nudge_whose_buttons_work(page: Page) -> None:
    page.type("/psoas on")
    assert page.state()["clock"]["next_nudge"] == "next nudge today 10:00"
    state = page.tick("slot")
    assert page.note == "It is now Tue 10:00 in Lisbon. 1 new message in your DM with psoas-bot."
    nudge = bot_messages(state["dm"])[-1]
    assert not nudge["only_you"] and nudge["time"] == "10:00"
    assert_valid_blocks(nudge["blocks"])
    state = page.click(nudge, "nudge_done")
    done = bot_messages(state["dm"])
    assert [m["id"] for m in done] == [nudge["id"]] and "Nice work" in done[0]["text"]
    stats = bot_messages(page.type("/psoas stats")["channel"])[-1]
    assert re.search(r"Today:\* 1", words(stats))
    # Snooze 1 h, pressed just after the 11:00 nudge came: no nudge at 12:00.
    nudge = bot_messages(page.tick("slot")["dm"])[-1]
    assert nudge["time"] == "11:00"
    state = page.click(nudge, "nudge_snooze_1h")
    assert "Snoozed until today 12:00" in bot_messages(state["dm"])[-1]["text"]
    assert page.state()["clock"]["next_nudge"] == "next nudge today 13:00"
    # Skip today on the next one: the rest of the day passes without a nudge.
    nudge = bot_messages(page.tick("slot")["dm"])[-1]
    assert nudge["time"] == "13:00"
    state = page.click(nudge, "nudge_skip_today")
    assert "Skipped for today" in bot_messages(state["dm"])[-1]["text"]
    assert page.state()["clock"]["next_nudge"] == "next nudge tomorrow 10:00"
    state = page.tick("hour")
    assert len(bot_messages(state["dm"])) == 3


def test_quiet_hours_and_time_zones_are_respected(page: Page) -> None:
    page.type("/psoas on")
    page.type("/psoas quiet 10:00-11:30")
    page.tick("slot")
    assert page.state()["clock"]["local"] == "Tue 24 Nov, 12:00"
    # Kenji, in Tokyo, is past his working day at 09:40 UTC: his first slot is tomorrow.
    page.type("/psoas on", user=KENJI)
    assert page.state(KENJI)["clock"]["next_nudge"] == "next nudge tomorrow 10:00"
    assert page.state()["dm"]["messages"] and not page.state(KENJI)["dm"]["messages"]


def test_the_weekly_summary_arrives_on_the_last_working_day(page: Page) -> None:
    page.type("/psoas on")
    for _ in range(3):  # Tuesday -> Friday morning
        page.tick("morning")
    state = page.tick("slot")
    while state["clock"]["local"] < "Fri 27 Nov, 16:00":
        state = page.tick("slot")
    summaries = [m for m in bot_messages(state["dm"]) if "week in movement" in m["text"]]
    assert len(summaries) == 1 and summaries[0]["time"] == "16:00"


def test_a_team_break_in_the_channel_comes_at_its_time_on_the_way(page: Page) -> None:
    page.type("/psoas team 16:00")
    page.tick("morning")
    assert page.note is not None and "1 new message in #general" in page.note
    # Everyone in the channel sees it, each at their own time: 16:00 Lisbon, 11:00 New York.
    for user, time in ((ANA, "16:00"), ("U0SAM", "11:00")):
        posted = [m for m in bot_messages(page.state(user)["channel"]) if m["time"] == time]
        assert len(posted) == 1 and not posted[0]["only_you"]


def test_what_is_not_on_screen_is_refused(page: Page) -> None:
    post = page.session.post
    assert post(page.url + "/sandbox/api/command", data="text").status_code == 400
    unknown = {"user": "U0NOBODY", "conversation": CHANNEL_ID, "text": "/psoas"}
    assert post(page.url + "/sandbox/api/command", json=unknown).status_code == 400
    stale = {"user": ANA, "surface": "message", "message_id": "m999", "block_id": "b",
             "action_id": "nudge_done"}  # fmt: skip
    assert post(page.url + "/sandbox/api/click", json=stale).status_code == 400
    state = page.type("/remind me")
    assert "not a valid command" in state["channel"]["messages"][-1]["text"]
    page.tick("slot")  # nobody has opted in: no slot to go to, and the note says why
    assert page.note is not None and "type /psoas on" in page.note


def test_every_sample_person_is_known_to_slack_with_their_time_zone(page: Page) -> None:
    for person in PEOPLE:
        state = page.type("/psoas status", user=person.user_id)
        assert person.tz in words(bot_messages(state["channel"])[-1])


def test_a_busy_port_is_named_and_the_cli_parses_its_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_sandbox(port=port) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "--database" in capsys.readouterr().out
