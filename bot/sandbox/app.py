"""The sandbox: the real bot, wired to the built-in Slack, and what the page can do with it.

Everything the bot does here is what it does in a workspace. A person's `/psoas` and clicks
reach it as signed HTTP requests on `/slack/events`, exactly as Slack sends them; it answers
through its ack, its response URLs and the Web API, all served by the built-in Slack
(`standin.py`), whose accepted calls `screen.py` turns into what each person sees. Nudges
come from the real engine (`run_tick`) at the simulated time (`clock.py`).
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import App
from sqlalchemy import func, select

from bot.core.content import Library, load_library
from bot.core.formatting import fmt_local
from bot.core.preferences import Preferences
from bot.data.database import Database
from bot.data.models import Person, SummarySchedule, TeamBreak, Workspace
from bot.data.people import Who, read_preferences
from bot.data.schema import upgrade
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from bot.sandbox import signing
from bot.sandbox.clock import SimulatedClock, next_morning, working_morning
from bot.sandbox.people import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    BY_ID,
    CHANNEL_ID,
    CHANNEL_NAME,
    PEOPLE,
    TEAM_ID,
    SamplePerson,
)
from bot.sandbox.screen import NotOnScreenError, Route, Screens, Shown, action_from, find_element
from bot.sandbox.screen import view_state as current_view_state
from bot.sandbox.standin import SlackStandIn
from bot.settings import Settings, load_content_settings, load_settings
from bot.slack.app import AfterAck, build_app

log = logging.getLogger(__name__)

SLASH_COMMAND = "/psoas"
SLACKBOT = "USLACKBOT"
# Moving the clock steps through every instant someone is due, as a running bot would;
# this many passes at most per move (a week of hourly slots for everyone is far fewer).
MAX_PASSES = 2000
# Between jumps the clock runs in real time, and the sandbox runs a nudge pass this often,
# as `psoas-bot run` does every TICK_SECONDS: a slot that comes while you watch is sent.
TICK_SECONDS = 5.0
STEPS = ("slot", "hour", "morning")


def built_in_slack(screens: Screens, clock: Callable[[], datetime]) -> SlackStandIn:
    """The stand-in Slack as the sandbox's workspace: its team, the app, the sample people
    (users.info answers with their time zones), #general with the bot in it, and the
    simulated clock as Slack's own, so message timestamps follow it. Every call it answers
    goes to the screens."""
    slack = SlackStandIn(
        team_id=TEAM_ID,
        bot_user_id=BOT_USER_ID,
        bot_id=BOT_ID,
        app_id=APP_ID,
        now=lambda: clock().timestamp(),
        observer=screens.observe,
    )
    for person in PEOPLE:
        slack.add_user(person.user_id, tz=person.tz, name=person.handle, real_name=person.name)
    slack.join(CHANNEL_ID)
    return slack


def sandbox_settings(api_url: str, database_url: str, port: int, secret: str) -> Settings:
    """The bot's settings: fresh secrets, the built-in Slack, and nothing from a real app
    (an OAuth or Socket Mode variable in the environment does not apply here)."""
    return load_settings(
        slack_signing_secret=secret,
        slack_bot_token="xoxb-sandbox-" + secrets.token_hex(12),
        slack_api_url=api_url,
        database_url=database_url,
        port=port or 3000,  # 0 (any free port) is for the server, not a setting
        slack_app_token=None,
        slack_client_id=None,
        slack_client_secret=None,
        token_encryption_key=None,
        nudge_rate_per_second=20.0,
        log_format="text",
    )


class Sandbox:
    """The bot, its database, the built-in Slack and the simulated clock, with the
    operations the page offers. `events_url` is set once the server is listening."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        start: datetime | None = None,
        port: int = 3000,
        library: Library | None = None,
    ) -> None:
        # The exercise library first: bad content stops the sandbox before anything is made.
        self.library = library or load_library(load_content_settings().content_dir)
        first_zone = ZoneInfo(PEOPLE[0].tz)
        today = datetime.now(first_zone).date()
        self.clock = SimulatedClock(start or working_morning(first_zone, today))
        self.screens = Screens(clock=self.clock)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if database_url is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="psoas-sandbox-")
            database_url = f"sqlite:///{Path(self._tempdir.name) / 'sandbox.db'}"
        self.slack = built_in_slack(self.screens, self.clock).start()
        # The signing secret Slack and the app share: made up here, known to both ends.
        self.signing_secret = secrets.token_hex(16)
        self.settings = sandbox_settings(
            self.slack.api_url, database_url, port, self.signing_secret
        )
        upgrade(database_url)
        self.db = Database(database_url)
        self.after_ack = AfterAck("sandbox-after-ack")
        self.app: App = build_app(
            self.settings,
            library=self.library,
            database=self.db,
            clock=self.clock,
            after_ack=self.after_ack,
        )
        token = self.settings.slack_bot_token
        assert token is not None
        self.sender = Sender(
            api_url=self.settings.slack_api_url,
            token_for=lambda _team_id: token.get_secret_value(),
            rate_per_second=self.settings.nudge_rate_per_second,
        )
        self.events_url = ""
        # One change at a time from the page: a clock move is never half-way through a
        # request, and a nudge pass never overlaps a jump.
        self._busy = threading.Lock()
        self._closing = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="sandbox-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._closing.wait(TICK_SECONDS):
            try:
                with self._busy:
                    self._run_until(self.clock())
            except Exception:
                log.exception("the sandbox's nudge pass failed; the next one retries")

    def close(self) -> None:
        self._closing.set()
        self._ticker.join(timeout=30)
        self.after_ack.shutdown(wait=True)
        self.slack.stop()
        self.db.dispose()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    # Sending the bot what Slack would send

    def _post(
        self,
        body: str,
        *,
        json_body: bool = False,
        show_ack: Callable[[signing.Answer], None] | None = None,
    ) -> signing.Answer:
        """Send the bot a signed request; show its ack the moment it comes, as Slack's
        client does; then wait for the work after the ack, so the page sees all of it."""
        headers = signing.signed_headers(body, self.signing_secret, json_body=json_body)
        answer = signing.post(self.events_url, body, headers)
        if show_ack is not None:
            show_ack(answer)
        self.after_ack.settle()
        return answer

    def command(self, user_id: str, conversation: str, typed: str) -> None:
        """What the person typed in the message box of `conversation`."""
        who, text = _person(user_id), typed.strip()
        if conversation not in (CHANNEL_ID, who.dm_channel):
            raise NotOnScreenError(f"{who.name} cannot type in {conversation}")
        if not text:
            return
        if not text.startswith("/"):
            self.screens.add(conversation, signing.slack_escape(text), author=who.user_id)
            return
        command, _, rest = text.partition(" ")
        if command != SLASH_COMMAND:
            self._slackbot(who, conversation, f"`{command}` is not a valid command here.")
            return
        with self._busy:
            self.screens.add(conversation, text, author=who.user_id, only_for=who.user_id,
                             kind="command")  # fmt: skip
            name, trigger = signing.unique("command-"), self._trigger(who)
            route = Route(who.user_id, conversation)
            self.screens.route(name, route)
            body = signing.command_body(
                command=command,
                text=rest.strip(),
                who=who,
                channel_id=conversation,
                channel_name=CHANNEL_NAME if conversation == CHANNEL_ID else "directmessage",
                response_url=self.slack.response_url(name),
                trigger_id=trigger,
            )
            self._post(body, show_ack=lambda answer: self._show_ack(who, route, answer))

    def _show_ack(self, who: SamplePerson, route: Route, answer: signing.Answer) -> None:
        """A command's ack: its message, if it has one, ephemeral unless `in_channel`."""
        if answer.status != 200:
            self._failed(who, route.conversation, answer)
            return
        message = answer.json()
        if message and (message.get("text") or message.get("blocks")):
            in_channel = message.get("response_type") == "in_channel"
            shown = self.screens.add(
                route.conversation,
                str(message.get("text") or ""),
                list(message.get("blocks") or []),
                only_for=None if in_channel else who.user_id,
            )
            with self.screens.lock:
                route.message_id = route.message_id or shown.id

    def click(
        self,
        user_id: str,
        *,
        surface: str,
        block_id: str,
        action_id: str,
        message_id: str = "",
        choice: dict[str, Any] | None = None,
    ) -> None:
        """A click on a button, or a choice in a select, time picker or checkboxes, on a
        message (`surface="message"`), the Home tab (`home`) or a modal (`modal`)."""
        who = _person(user_id)
        with self._busy:
            trigger = self._trigger(who)
            if surface == "message":
                payload = self._message_click(who, trigger, message_id, block_id, action_id, choice)
            elif surface in ("home", "modal"):
                views = self.screens.homes if surface == "home" else self.screens.modals
                view = views.get(who.user_id)
                if view is None:
                    raise NotOnScreenError(f"{who.name} has no {surface} view open")
                action = self._action(view["blocks"], block_id, action_id, choice)
                payload = signing.block_actions(
                    who=who, action=action, trigger_id=trigger,
                    container={"type": "view", "view_id": view["id"]},
                    view={**view, "state": current_view_state(view, action)},
                )  # fmt: skip
            else:
                raise NotOnScreenError(f"no surface called {surface!r}")
            answer = self._post(signing.interaction_body(payload))
            if answer.status != 200:
                shown = self.screens.find(message_id)
                self._failed(who, shown.conversation if shown else who.dm_channel, answer)

    def _message_click(
        self,
        who: SamplePerson,
        trigger: str,
        message_id: str,
        block_id: str,
        action_id: str,
        choice: dict[str, Any] | None,
    ) -> dict[str, Any]:
        shown = self.screens.find(message_id)
        if shown is None or shown.only_for not in (None, who.user_id):
            raise NotOnScreenError(f"message {message_id!r} is not on {who.name}'s screen")
        action = self._action(shown.blocks, block_id, action_id, choice)
        name = signing.unique("action-")
        self.screens.route(name, Route(who.user_id, shown.conversation, shown.id))
        original = {"text": shown.text, "blocks": shown.blocks}
        ephemeral = shown.only_for is not None
        return signing.block_actions(
            who=who,
            action=action,
            trigger_id=trigger,
            container={"type": "message", "message_ts": shown.ts,
                       "channel_id": shown.conversation, "is_ephemeral": ephemeral},
            channel={"id": shown.conversation, "name": _channel_name(shown.conversation)},
            # Slack leaves an ephemeral message out of the payload; the container names it.
            message=None if ephemeral else shown.as_payload(),
            response_url=self.slack.response_url(name, original=original),
        )  # fmt: skip

    def _action(
        self,
        blocks: list[dict[str, Any]],
        block_id: str,
        action_id: str,
        choice: dict[str, Any] | None,
    ) -> dict[str, Any]:
        element = find_element(blocks, block_id, action_id)
        if element is None:
            raise NotOnScreenError(f"no {action_id!r} in block {block_id!r} on screen")
        action_ts = f"{self.clock().timestamp():.6f}"
        return action_from(element, block_id, choice or {}, action_ts)

    def open_home(self, user_id: str) -> None:
        """The person opens the app's Home tab: Slack sends `app_home_opened`."""
        who = _person(user_id)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": who.user_id,
            "channel": who.dm_channel,
            "tab": "home",
            "event_ts": f"{self.clock().timestamp():.6f}",
        }
        if who.user_id in self.screens.homes:
            event["view"] = self.screens.homes[who.user_id]
        with self._busy:
            answer = self._post(signing.event_body(event), json_body=True)
            if answer.status != 200:
                self.screens.note(
                    "app_home_opened", f"the app answered HTTP {answer.status}", False
                )

    def close_modal(self, user_id: str) -> None:
        self.screens.close_modal(_person(user_id).user_id)

    def _trigger(self, who: SamplePerson) -> str:
        """A trigger id Slack issues with the request (views.open takes it once, for 3 s)."""
        trigger = self.slack.issue_trigger()
        with self.screens.lock:
            self.screens.triggers[trigger] = who.user_id
        return trigger

    def _slackbot(self, who: SamplePerson, conversation: str, text: str) -> None:
        self.screens.add(conversation, text, author=SLACKBOT, only_for=who.user_id)

    def _failed(self, who: SamplePerson, conversation: str, answer: signing.Answer) -> None:
        """What Slack shows when an app fails to answer (https://docs.slack.dev/interactivity/implementing-slash-commands)."""
        self._slackbot(who, conversation, f"The app failed to answer: HTTP {answer.status}.")

    # Time

    def advance(self, user_id: str, step: str) -> str:
        """Move the clock on (`slot`: to the person's next nudge; `hour`; `morning`: to the
        start of their next working day), running a nudge pass at every instant someone is
        due on the way, as the running bot would. Returns what happened, in words."""
        who = _person(user_id)
        zone = ZoneInfo(who.tz)
        with self._busy:
            now = self.clock()
            prefs = read_preferences(self.db, Who(TEAM_ID, who.user_id))
            if step == "slot":
                if prefs is None or prefs.next_nudge_at is None:
                    return (
                        f"No nudge is coming for {who.name}: type /psoas on to start them "
                        "(or /psoas status to see why)."
                    )
                target = max(prefs.next_nudge_at, now)
            elif step == "hour":
                target = now + timedelta(hours=1)
            elif step == "morning":
                start = prefs.work_start if prefs is not None else Preferences().work_start
                target = next_morning(now, zone, start)
            else:
                raise NotOnScreenError(f"no clock step called {step!r}; use one of {STEPS}")
            before = self.screens.arrivals()
            self._run_until(target)
            self.screens.changed()
            arrived = self.screens.arrivals() - before
        local = self.clock().astimezone(zone)
        return f"It is now {local:%a %H:%M} in {who.city}. {_news(who, arrived)}"

    def _run_until(self, target: datetime) -> None:
        """Pass by pass to `target`: the clock stops at each due instant and the real nudge
        engine runs there, as the running bot would have."""
        last = self.clock()
        for _ in range(MAX_PASSES):
            due = self._next_due(after=last)
            if due is None or due > target:
                break
            last = self.clock.move_to(due)
            run_tick(self.db, self.sender, self.library, now=last, worker="sandbox")
        last = self.clock.move_to(target)
        run_tick(self.db, self.sender, self.library, now=last, worker="sandbox")

    def _next_due(self, *, after: datetime) -> datetime | None:
        """The first instant after `after` at which a nudge, a weekly summary or a team
        break is due, in an active workspace."""
        due_columns = (
            (Person.next_nudge_at, Person.team_id),
            (SummarySchedule.next_summary_at, SummarySchedule.team_id),
            (TeamBreak.next_at, TeamBreak.team_id),
        )
        instants = []
        with self.db.session() as session:
            for column, team in due_columns:
                query = (
                    select(func.min(column))
                    .join(Workspace, Workspace.team_id == team)
                    .where(column > after, Workspace.active.is_(True))
                )
                found = session.scalar(query)
                if found is not None:
                    instants.append(found if found.tzinfo else found.replace(tzinfo=UTC))
        return min(instants, default=None)

    # What the page shows

    def state(self, user_id: str) -> dict[str, Any]:
        who = _person(user_id)
        now = self.clock()
        zone = ZoneInfo(who.tz)
        prefs = read_preferences(self.db, Who(TEAM_ID, who.user_id))
        if prefs is None or not prefs.opted_in:
            next_nudge = "nudges are off"
        elif prefs.next_nudge_at is None:
            next_nudge = "no nudge scheduled"
        else:
            next_nudge = "next nudge " + fmt_local(prefs.next_nudge_at, zone, now)
        with self.screens.lock:
            return {
                "version": self.screens.version,
                "me": _person_json(who, now),
                "people": [_person_json(p, now) for p in PEOPLE],
                "clock": {
                    "utc": now.isoformat(),
                    "local": f"{now.astimezone(zone):%a %d %b, %H:%M}",
                    "zone": who.tz,
                    "next_nudge": next_nudge,
                },
                "channel": {
                    "id": CHANNEL_ID,
                    "name": CHANNEL_NAME,
                    "messages": [self._message_json(m, zone) for m in
                                 self.screens.visible(who.user_id, CHANNEL_ID)],
                },
                "dm": {
                    "id": who.dm_channel,
                    "messages": [self._message_json(m, zone) for m in
                                 self.screens.visible(who.user_id, who.dm_channel)],
                },
                "home": self.screens.homes.get(who.user_id),
                "modal": self.screens.modals.get(who.user_id),
                "activity": [
                    {"time": f"{a.at.astimezone(zone):%H:%M}", "method": a.method,
                     "detail": a.detail, "ok": a.ok}
                    for a in reversed(self.screens.activity)
                ],
            }  # fmt: skip

    def _message_json(self, shown: Shown, zone: ZoneInfo) -> dict[str, Any]:
        author = BY_ID.get(shown.author)
        if shown.author == BOT_USER_ID:
            name, colour = "psoas-bot", "#4a154b"
        elif shown.author == SLACKBOT:
            name, colour = "Slackbot", "#1d9bd1"
        else:
            name = author.name if author else shown.author
            colour = author.colour if author else "#616061"
        return {
            "id": shown.id,
            "kind": shown.kind,
            "author": {"id": shown.author, "name": name, "colour": colour,
                       "app": shown.author == BOT_USER_ID},
            "only_you": shown.only_for is not None,
            "time": f"{shown.at.astimezone(zone):%H:%M}",
            "text": shown.text,
            "blocks": shown.blocks,
            "edited": shown.edited,
            "file": shown.file,
        }  # fmt: skip


def _person(user_id: str) -> SamplePerson:
    person = BY_ID.get(user_id)
    if person is None:
        raise NotOnScreenError(f"no sample person {user_id!r}")
    return person


def _person_json(person: SamplePerson, now: datetime) -> dict[str, str]:
    local = now.astimezone(ZoneInfo(person.tz))
    return {
        "id": person.user_id,
        "name": person.name,
        "city": person.city,
        "tz": person.tz,
        "colour": person.colour,
        "local_time": f"{local:%a %H:%M}",
    }


def _news(who: SamplePerson, arrived: Counter[str]) -> str:
    """What the bot posted while the clock moved, from `who`'s point of view."""
    parts = []
    for conversation, name in (
        (who.dm_channel, "your DM with psoas-bot"),
        (CHANNEL_ID, "#general"),
    ):
        count = arrived.pop(conversation, 0)
        if count:
            parts.append(f"{count} new message{'s' if count != 1 else ''} in {name}")
    others = sum(arrived.values())
    if others:
        parts.append(f"{others} in the others' DMs")
    return ("; ".join(parts) + ".") if parts else "Nothing new from psoas-bot."


def _channel_name(conversation: str) -> str:
    return CHANNEL_NAME if conversation == CHANNEL_ID else "directmessage"
