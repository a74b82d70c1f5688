"""What each person sees in the sandbox's Slack: the channel, their DM with the bot, the App
Home tab and an open modal, kept from the Web API calls the bot makes.

Each call the built-in Slack accepts is applied here as Slack would apply it:
`chat.postMessage` adds a message, a `response_url` post adds an ephemeral answer or, with
`replace_original`, updates the message it belongs to in place, `views.publish` replaces
the person's Home tab, `views.open` opens a modal. A click on what is shown becomes the
`block_actions` payload Slack would send for it.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.sandbox.people import BOT_ID, BOT_USER_ID, BY_DM, BY_ID, CHANNEL_ID, TEAM_ID
from bot.sandbox.standin import Answer, Call

ACTIVITY_KEPT = 60


@dataclass
class Shown:
    """One message on screen."""

    id: str
    conversation: str  # the channel or DM it is in
    ts: str  # Slack's id for it within the conversation
    at: datetime  # the simulated time it appeared
    author: str  # the bot's user id, or a person's
    text: str
    blocks: list[dict[str, Any]]
    # Ephemeral: only this person sees it (Slack's "Only visible to you").
    only_for: str | None = None
    # `message`, or `command` for the sandbox's echo of what a person typed.
    kind: str = "message"
    edited: bool = False
    file: dict[str, Any] | None = None

    def as_payload(self) -> dict[str, Any]:
        """The `message` of a `block_actions` payload."""
        return {
            "type": "message",
            "user": self.author,
            "bot_id": BOT_ID if self.author == BOT_USER_ID else None,
            "ts": self.ts,
            "team": TEAM_ID,
            "text": self.text,
            "blocks": copy.deepcopy(self.blocks),
        }


@dataclass
class Route:
    """Where answers through one response URL go, and the message they may replace."""

    user_id: str
    conversation: str
    message_id: str | None = None


@dataclass(frozen=True)
class Activity:
    at: datetime
    method: str
    detail: str
    ok: bool


@dataclass
class Screens:
    clock: Callable[[], datetime]
    messages: list[Shown] = field(default_factory=list)
    homes: dict[str, dict[str, Any]] = field(default_factory=dict)
    modals: dict[str, dict[str, Any]] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    activity: deque[Activity] = field(default_factory=lambda: deque(maxlen=ACTIVITY_KEPT))
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # What is shown

    def add(
        self,
        conversation: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        author: str = BOT_USER_ID,
        only_for: str | None = None,
        kind: str = "message",
        ts: str | None = None,
    ) -> Shown:
        with self.lock:
            number = next(self._ids)
            at = self.clock()
            shown = Shown(
                id=f"m{number}",
                conversation=conversation,
                ts=ts or f"{int(at.timestamp())}.{number:06d}",
                at=at,
                author=author,
                text=text,
                blocks=with_block_ids(blocks or [], f"m{number}"),
                only_for=only_for,
                kind=kind,
            )
            self.messages.append(shown)
            self.version += 1
            return shown

    def find(self, message_id: str) -> Shown | None:
        with self.lock:
            return next((m for m in self.messages if m.id == message_id), None)

    def visible(self, user_id: str, conversation: str) -> list[Shown]:
        """What `user_id` sees in `conversation`: its messages, less others' ephemeral ones."""
        with self.lock:
            return [
                m
                for m in self.messages
                if m.conversation == conversation and m.only_for in (None, user_id)
            ]

    def arrivals(self) -> Counter[str]:
        """How many messages the bot has posted for everyone to see, by conversation."""
        with self.lock:
            return Counter(
                m.conversation for m in self.messages if m.author == BOT_USER_ID and not m.only_for
            )

    def route(self, name: str, route: Route) -> None:
        with self.lock:
            self.routes[name] = route

    def close_modal(self, user_id: str) -> None:
        with self.lock:
            if self.modals.pop(user_id, None) is not None:
                self.version += 1

    def changed(self) -> None:
        """Something the page shows changed outside the screens (the clock moved)."""
        with self.lock:
            self.version += 1

    def note(self, method: str, detail: str, ok: bool = True) -> None:
        with self.lock:
            self.activity.append(Activity(self.clock(), method, detail, ok))
            self.version += 1

    # What the bot did: each Web API call the built-in Slack answered

    def observe(self, call: Call, answer: Answer) -> None:
        """The built-in Slack's observer: each call it answered, with its answer."""
        if call.method == "file_upload":
            return
        status, body, _headers = answer
        if status != 200 and body.get("ok") is not False:
            body = {"ok": False, "error": f"http_{status}"}
        self.apply(call.method, call.args, call.path, body)

    def apply(self, method: str, args: dict[str, Any], path: str, answer: dict[str, Any]) -> None:
        """Show the effect of one call, as Slack would; only calls Slack accepted show."""
        ok = bool(answer.get("ok", True))
        with self.lock:
            self.activity.append(Activity(self.clock(), method, _detail(method, args, answer), ok))
            self.version += 1
            if not ok:
                return
            handler = _APPLY.get(method)
            if handler is not None:
                handler(self, args, path, answer)

    def _response_url(self, args: dict[str, Any], path: str, _answer: dict[str, Any]) -> None:
        route = self.routes.get(path.rstrip("/").rsplit("/", 1)[-1])
        if route is None:
            return
        target = self.find(route.message_id) if route.message_id else None
        if target is not None and _flag(args.get("delete_original")):
            self.messages.remove(target)
            return
        text, blocks = str(args.get("text") or ""), list(args.get("blocks") or [])
        if target is not None and _flag(args.get("replace_original")):
            target.text, target.blocks = text, with_block_ids(blocks, target.id)
            target.edited = True
            return
        in_channel = args.get("response_type") == "in_channel"
        shown = self.add(
            route.conversation, text, blocks, only_for=None if in_channel else route.user_id
        )
        if route.message_id is None:
            route.message_id = shown.id

    def _post_message(self, args: dict[str, Any], _path: str, answer: dict[str, Any]) -> None:
        channel = str(answer.get("channel") or args.get("channel") or "")
        if channel.startswith("U"):  # a user id posts in the app's DM with them
            channel = "D" + channel[1:]
        text, blocks = str(args.get("text") or ""), list(args.get("blocks") or [])
        self.add(channel, text, blocks, ts=str(answer.get("ts") or "") or None)

    def _post_ephemeral(self, args: dict[str, Any], _path: str, _answer: dict[str, Any]) -> None:
        text, blocks = str(args.get("text") or ""), list(args.get("blocks") or [])
        channel = str(args.get("channel") or "")
        self.add(channel, text, blocks, only_for=str(args.get("user") or "") or None)

    def _update(self, args: dict[str, Any], _path: str, _answer: dict[str, Any]) -> None:
        ts, channel = str(args.get("ts") or ""), str(args.get("channel") or "")
        for shown in self.messages:
            if shown.ts == ts and shown.conversation == channel:
                shown.text = str(args.get("text") or shown.text)
                shown.blocks = with_block_ids(list(args.get("blocks") or []), shown.id)
                shown.edited = True

    def _publish(self, args: dict[str, Any], _path: str, answer: dict[str, Any]) -> None:
        user_id, view = str(args.get("user_id") or ""), answer.get("view")
        if user_id and isinstance(view, dict):
            self.homes[user_id] = as_shown_view(view)

    def _open(self, args: dict[str, Any], _path: str, answer: dict[str, Any]) -> None:
        user_id, view = self.triggers.get(str(args.get("trigger_id"))), answer.get("view")
        if user_id and isinstance(view, dict):
            self.modals[user_id] = as_shown_view(view)

    def _upload_url(self, args: dict[str, Any], _path: str, answer: dict[str, Any]) -> None:
        file_id = str(answer.get("file_id") or "")
        self.files[file_id] = {"name": args.get("filename"), "bytes": args.get("length")}

    def _complete_upload(self, args: dict[str, Any], _path: str, _answer: dict[str, Any]) -> None:
        channel = str(args.get("channel_id") or "")
        files = _json(args.get("files")) or []
        for item in files if isinstance(files, list) else []:
            known = self.files.get(str(item.get("id")), {})
            shown = self.add(channel, str(args.get("initial_comment") or ""), [])
            shown.file = {"name": known.get("name") or item.get("title"),
                          "title": item.get("title"), "bytes": known.get("bytes")}  # fmt: skip


_APPLY: dict[str, Callable[[Screens, dict[str, Any], str, dict[str, Any]], None]] = {
    "response_url": Screens._response_url,
    "chat.postMessage": Screens._post_message,
    "chat.postEphemeral": Screens._post_ephemeral,
    "chat.update": Screens._update,
    "views.publish": Screens._publish,
    "views.open": Screens._open,
    "files.getUploadURLExternal": Screens._upload_url,
    "files.completeUploadExternal": Screens._complete_upload,
}


def _flag(value: object) -> bool:
    return value is True or value == "true"


def _json(value: object) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _detail(method: str, args: dict[str, Any], answer: dict[str, Any]) -> str:
    """A few words on a call, for the page's list of what the bot asked Slack."""
    if not answer.get("ok", True):
        return f"error: {answer.get('error')}"
    user = str(args.get("user") or args.get("user_id") or args.get("users") or "")
    who = BY_ID[user].name if user in BY_ID else user
    channel = str(args.get("channel") or args.get("channel_id") or "")
    person = BY_DM.get(channel)
    if channel in BY_ID:  # a user id as the channel: their DM
        person = BY_DM.get(BY_ID[channel].dm_channel)
    if channel and person is not None:
        channel = f"DM with {person.name}"
    elif channel == CHANNEL_ID:
        channel = "#general"
    parts = [str(part) for part in (who, channel, args.get("text")) if part]
    summary = " · ".join(parts)
    if method == "response_url":
        replace = "replace_original" if _flag(args.get("replace_original")) else "new message"
        summary = f"{replace} · {args.get('text') or ''}"
    return summary[:140]


def with_block_ids(blocks: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The blocks as Slack keeps them: a block without a `block_id` gets one, and so does an
    interactive element without an `action_id`, so that a click can name what it hit."""
    kept = copy.deepcopy(blocks)
    for index, block in enumerate(kept):
        block.setdefault("block_id", f"{prefix}-{index}")
        for position, element in enumerate(_elements(block)):
            element.setdefault("action_id", f"{prefix}-{index}-{position}")
    return kept


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
    accessory = block.get("accessory")
    if isinstance(accessory, dict) and accessory.get("type") != "image":
        elements.append(accessory)
    return elements


def as_shown_view(view: dict[str, Any]) -> dict[str, Any]:
    """A view as Slack answered views.publish or views.open with it (its id, hash, team),
    with a block id on every block, as Slack gives them."""
    view_id = str(view.get("id") or "V0")
    return {**view, "blocks": with_block_ids(list(view.get("blocks") or []), view_id)}


class NotOnScreenError(LookupError):
    """A click on something that is not shown (any more): Slack could not send it."""


def find_element(
    blocks: list[dict[str, Any]], block_id: str, action_id: str
) -> dict[str, Any] | None:
    for block in blocks:
        if block.get("block_id") == block_id:
            for element in _elements(block):
                if element.get("action_id") == action_id:
                    return element
    return None


def _option_values(element: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(o.get("value")): o for o in element.get("options") or []}


def action_from(
    element: dict[str, Any], block_id: str, choice: dict[str, Any], action_ts: str
) -> dict[str, Any]:
    """The `actions[0]` Slack sends for a click on, or a choice in, `element`.

    `choice` is what the person picked: `value` for a select, `time` for a time picker,
    `values` for checkboxes; nothing for a button."""
    kind = element.get("type")
    action: dict[str, Any] = {
        "type": kind,
        "block_id": block_id,
        "action_id": element.get("action_id"),
        "action_ts": action_ts,
    }
    if kind == "button":
        action["text"] = element.get("text")
        if "value" in element:
            action["value"] = element["value"]
        if "style" in element:
            action["style"] = element["style"]
    elif kind == "static_select":
        options = _option_values(element)
        picked = options.get(str(choice.get("value")))
        if picked is None:
            raise NotOnScreenError(f"{choice.get('value')!r} is not one of the select's options")
        action["selected_option"] = picked
    elif kind == "timepicker":
        picked_time = str(choice.get("time") or "")
        if len(picked_time) != 5 or picked_time[2] != ":":
            raise NotOnScreenError(f"{picked_time!r} is not a time as HH:MM")
        action["selected_time"] = picked_time
    elif kind == "checkboxes":
        options = _option_values(element)
        values = [str(v) for v in choice.get("values") or []]
        if any(v not in options for v in values):
            raise NotOnScreenError("a checked value is not one of the checkboxes' options")
        action["selected_options"] = [options[v] for v in values]
    else:
        raise NotOnScreenError(f"the sandbox cannot use a {kind} element")
    return action


def view_state(view: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    """`view.state.values`: each input's current value, with the one just changed."""
    values: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        for element in _elements(block):
            kind, current = element.get("type"), None
            if kind == "timepicker":
                current = {"type": kind, "selected_time": element.get("initial_time")}
            elif kind == "static_select":
                current = {"type": kind, "selected_option": element.get("initial_option")}
            elif kind == "checkboxes":
                current = {"type": kind, "selected_options": element.get("initial_options", [])}
            if current is not None:
                values.setdefault(str(block.get("block_id")), {})[str(element.get("action_id"))] = (
                    current
                )
    changed = values.get(str(action.get("block_id")), {})
    if action.get("action_id") in changed:
        changed[str(action["action_id"])] = {
            key: value for key, value in action.items() if key.startswith(("type", "selected"))
        }
    return {"values": values}
