"""The sandbox in a real browser: Debian's chromium, driven by Playwright with the system
browser (nothing downloaded). A person types `/psoas half-kneel`, walks the guided exercise
to its last step, turns nudges on, moves the clock to a slot, presses Done on the nudge and
sees `/psoas stats` count it.

It skips only when no chromium is installed (CI installs it with .ci/browser-deps.sh).
The page's own waits are Playwright's: nothing sleeps, and the clock is simulated.
With UPDATE_SANDBOX_SCREENSHOT=1 it writes the README's screenshot, docs/sandbox.png.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.content import load_library
from bot.sandbox.app import Sandbox
from bot.sandbox.serve import SandboxServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on this machine: install Debian's chromium (.ci/browser-deps.sh)",
)
# The system browser, headless and offline: no sandboxing as root, no GPU, and none of
# Chromium's own calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "sandbox.png"
# Tuesday 24 November 2026, 09:40 in Lisbon: twenty minutes before the day's first slot.
START = datetime(2026, 11, 24, 9, 40, tzinfo=UTC)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # chromium is here, so the test must run: the driver is missing
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    sandbox = Sandbox(database_url=f"sqlite:///{tmp_path / 'sandbox.db'}", start=START, port=0)
    with SandboxServer(sandbox, port=0) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(15_000)
            yield page, server.url
        finally:
            browser.close()


def test_a_person_tries_the_bot_in_the_sandbox(browser_page: tuple[Any, str]) -> None:
    from playwright.sync_api import expect

    page, url = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(url + "/")
    expect(page.get_by_label("You are")).to_have_value("U0ANA")
    expect(page.locator("#clock-local")).to_have_text("Tue 24 Nov, 09:40")

    channel = page.locator("#channel-messages")
    message_box = page.get_by_label("Message #general")

    def say(text: str) -> None:
        message_box.fill(text)
        message_box.press("Enter")

    # The exercise, step by step, only for the person who asked.
    say("/psoas half-kneel")
    exercise = channel.locator(".msg").last
    expect(exercise.locator(".b-header")).to_have_text("Half kneel")
    expect(exercise).to_contain_text("Only visible to you")
    expect(exercise).to_contain_text("Source: Cleveland Clinic")
    message_id = exercise.get_attribute("data-message-id")

    # Start guided, then Next to the last step: the same message, updated in place.
    half_kneel = load_library().get("half-kneel")
    assert half_kneel is not None
    steps = len(half_kneel.steps)
    guided = channel.locator(f'[data-message-id="{message_id}"]')
    guided.get_by_role("button", name="Start guided").click()
    expect(guided.locator(".b-header")).to_have_text(f"Half kneel: step 1 of {steps}")
    for number in range(2, steps + 1):
        guided.get_by_role("button", name="Next").click()
        expect(guided.locator(".b-header")).to_have_text(f"Half kneel: step {number} of {steps}")
    expect(guided.get_by_role("button", name="Next")).to_have_count(0)
    expect(guided.get_by_role("button", name="Done")).to_be_visible()
    expect(guided).to_contain_text("Form cue")
    expect(channel.locator(".msg")).to_have_count(1)

    # Nudges on; the clock moves to the first slot, and the nudge lands in the DM.
    say("/psoas on")
    expect(channel.locator(".msg").last).to_contain_text("Nudges are on")
    expect(page.locator("#next-nudge")).to_have_text("next nudge today 10:00")
    page.get_by_role("button", name="Next slot").click()
    expect(page.locator("#clock-local")).to_have_text("Tue 24 Nov, 10:00")
    dm = page.locator("#dm-messages")
    nudge = dm.locator(".msg").last
    expect(nudge).to_contain_text("Try this:")
    expect(nudge.locator("time")).to_have_text("10:00")
    for name in ("Done", "Snooze 1 h", "Skip today", "Show me how"):
        expect(nudge.get_by_role("button", name=name)).to_be_visible()

    # Done: the nudge is replaced in place, and stats count it.
    nudge.get_by_role("button", name="Done").click()
    expect(dm.locator(".msg")).to_have_count(1)
    expect(dm.locator(".msg").last).to_contain_text("Nice work")
    expect(dm.locator(".msg").last).to_contain_text("(edited)")
    say("/psoas stats")
    stats = channel.locator(".msg").last
    expect(stats.locator(".b-header")).to_have_text("Your movement")
    expect(stats).to_contain_text(re.compile(r"Today:\s*1\s+This week:\s*1"))

    # An hour on, the next nudge arrives, with its buttons: the picture the README shows.
    page.get_by_role("button", name="+1 h").click()
    expect(dm.locator(".msg")).to_have_count(2)
    expect(dm.locator(".msg").last.get_by_role("button", name="Done")).to_be_visible()
    assert problems == [], f"the page reported errors: {problems}"

    picture = page.screenshot(animations="disabled")
    assert picture.startswith(b"\x89PNG")
    if os.environ.get("UPDATE_SANDBOX_SCREENSHOT") == "1":
        SCREENSHOT.write_bytes(picture)


def test_the_home_tab_changes_settings_with_its_controls(
    browser_page: tuple[Any, str],
) -> None:
    from playwright.sync_api import expect

    page, url = browser_page
    page.goto(url + "/")
    page.get_by_role("tab", name="Home").click()
    home = page.locator("#home-view")
    expect(home.locator(".b-header").first).to_have_text("Your stand-up nudges")
    home.get_by_role("button", name="Turn nudges on").click()
    expect(home).to_contain_text("Nudges: on")
    expect(home.get_by_role("button", name="Turn nudges off")).to_be_visible()
    home.get_by_label("From").fill("12:30")
    expect(home).to_contain_text("Quiet hours: 12:30–13:30")
    home.locator("[data-action-id=home_interval]").select_option("30")
    expect(home).to_contain_text("every 30 min")
    expect(page.locator("#next-nudge")).to_have_text("next nudge today 10:00")
