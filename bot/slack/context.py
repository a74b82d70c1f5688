"""The request context: what every listener needs (gathered once by `build_app` and handed
over in Bolt's context), and who is asking from which workspace."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from slack_bolt import BoltContext
from slack_sdk.oauth.installation_store import InstallationStore

from bot.core.content import Library
from bot.data.database import Database
from bot.data.people import Who
from bot.settings import Settings

# A Slack payload, or a part of one (an action, an event), as Bolt hands it to a listener.
Payload = dict[str, Any]

# Slack's ids (T..., U..., W..., E..., C..., B...): upper-case letters and digits; at most
# 32 here, the width of the columns they are stored in
# (https://docs.slack.dev/reference/objects/user-object, ".id").
SLACK_ID = re.compile(r"[A-Z0-9]{1,32}")
# What Slack's payloads carry that the bot wrote itself (button values, option values) is
# printable ASCII, and within Block Kit's limits (action_id 255, value 2000).
ACTION_ID_LIMIT, VALUE_LIMIT = 255, 2000
# A Unix time Slack could send (DND windows): up to the year 2242.
LATEST_TIMESTAMP = 2**33


class MalformedRequestError(ValueError):
    """A signed request whose fields are not what Slack sends: nothing is done with it, and
    it is logged in one line, without a stack trace."""


def is_slack_id(value: object) -> bool:
    return isinstance(value, str) and SLACK_ID.fullmatch(value) is not None


def slack_id(value: object, what: str) -> str:
    """`value` if it is a Slack id, before it goes anywhere near SQL; else the request is
    malformed."""
    if not is_slack_id(value):
        raise MalformedRequestError(f"{what} is not a Slack id")
    return str(value)


def _ours(value: object, limit: int) -> bool:
    """A string the bot could have written: printable ASCII, within `limit`."""
    return (
        isinstance(value, str) and len(value) <= limit and value.isascii() and value.isprintable()
    )


def _instant(value: object) -> bool:
    if value is None:
        return True
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and 0 <= value < LATEST_TIMESTAMP  # type: ignore[operator]


def _action_problem(action: object) -> str | None:
    if not isinstance(action, dict):
        return "an action is not an object"
    action_id = action.get("action_id")
    if not isinstance(action_id, str) or not 0 < len(action_id) <= ACTION_ID_LIMIT:
        return "an action has no action_id"
    if "value" in action and not _ours(action["value"], VALUE_LIMIT):
        return f"{action_id}: a value the bot never writes"
    options = action.get("selected_options")
    if options is not None and not (
        isinstance(options, list)
        and all(isinstance(o, dict) and _ours(o.get("value"), VALUE_LIMIT) for o in options)
    ):
        return f"{action_id}: selected_options is not a list of options"
    option = action.get("selected_option")
    if option is not None and not (
        isinstance(option, dict) and _ours(option.get("value"), VALUE_LIMIT)
    ):
        return f"{action_id}: selected_option is not an option"
    picked = action.get("selected_time")
    if picked is not None and not _ours(picked, 5):
        return f"{action_id}: selected_time is not a time"
    return None


def _event_problem(event: object) -> str | None:
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return "the event has no type"
    kind, user = event["type"], event.get("user")
    if kind in ("user_change", "user_huddle_changed"):
        if not isinstance(user, dict) or not is_slack_id(user.get("id")):
            return f"{kind}: user is not a user object"
        if not (user.get("tz") is None or _ours(user.get("tz"), 64)):
            return f"{kind}: tz is not a time zone name"
        if not (user.get("profile") is None or isinstance(user.get("profile"), dict)):
            return f"{kind}: profile is not an object"
    elif kind == "dnd_updated_user":
        status = event.get("dnd_status")
        if not is_slack_id(user) or not isinstance(status, dict):
            return f"{kind}: user or dnd_status is missing"
        times = ("next_dnd_start_ts", "next_dnd_end_ts", "snooze_endtime")
        if not all(_instant(status.get(key)) for key in times):
            return f"{kind}: a time Slack would not send"
    elif kind == "tokens_revoked":
        tokens = event.get("tokens")
        if not isinstance(tokens, dict) or not all(
            isinstance(ids, list) and all(is_slack_id(i) for i in ids) for ids in tokens.values()
        ):
            return f"{kind}: tokens is not a map of lists of ids"
    elif kind == "app_home_opened" and not is_slack_id(user):
        return f"{kind}: user is not a Slack id"
    return None


def payload_problem(body: Payload, context: BoltContext) -> str | None:
    """What is wrong with a signed payload, in a few words, or None if it has the shape
    Slack's reference gives it, as far as the bot reads it. The ids Bolt read from it
    (who, which workspace and org, which conversation) are Slack ids."""
    for what, value in (
        ("team_id", context.team_id),
        ("user_id", context.user_id),
        ("enterprise_id", context.enterprise_id),
        ("channel_id", context.channel_id),
    ):
        if value is not None and not is_slack_id(value):
            return f"{what} is not a Slack id"
    if "command" in body:
        if not _ours(body.get("command"), 64) or not isinstance(body.get("text", ""), str):
            return "command or text is not text"
        return None
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions without actions"
        if not (body.get("view") is None or isinstance(body.get("view"), dict)):
            return "view is not an object"
        return next(filter(None, map(_action_problem, actions)), None)
    if kind == "event_callback":
        return _event_problem(body.get("event"))
    if kind in ("view_submission", "view_closed") and not isinstance(body.get("view"), dict):
        return f"{kind} without a view"
    return None


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    library: Library
    db: Database
    # Many workspaces (OAuth): where installations and their bot tokens are kept.
    installation_store: InstallationStore | None = None
    # Time is a parameter: tests pass a fixed clock instead of sleeping.
    clock: Callable[[], datetime] = field(default=utc_now)
    # Runs the work that follows an ack (the app's listener executor, Bolt's lazy listeners'
    # own): a command starts it only when its answer needs it.
    after_ack: Executor | None = None

    def __deepcopy__(self, _memo: dict[int, object]) -> Services:
        # Bolt deep-copies the context for work after the ack (lazy listeners); these are
        # the process's shared, thread-safe parts, so the copy is the same object.
        return self


CONTEXT_KEY = "services"


def services_of(context: BoltContext) -> Services:
    return cast(Services, context[CONTEXT_KEY])


def typed_text(value: object) -> str:
    """What the person typed. Slack sends `&`, `<` and `>` in it as `&amp;`, `&lt;` and
    `&gt;` (https://docs.slack.dev/messaging/formatting-message-text#escaping): read them
    back once here, so the core sees the characters and the renderer escapes them once."""
    text = value if isinstance(value, str) else ""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _field(value: object, key: str) -> str | None:
    return _text(value.get(key)) if isinstance(value, dict) else None


def workspace_of(context: BoltContext, body: Payload) -> str:
    """The workspace a request comes from.

    Bolt reads it from the signed payload. An org-wide install on Enterprise Grid sends
    `team_id: null` in `authorizations`, and then the workspace is in the payload itself:
    the event's top-level `team_id`, `user.team_id`, `view.app_installed_team_id` or
    `view.team_id` (https://docs.slack.dev/enterprise/developing-for-enterprise-orgs).
    Only when none names one does the org's id stand in for it.
    """
    event = body.get("event")
    event_user = event.get("user") if isinstance(event, dict) else None
    candidates = (
        context.team_id,
        _text(body.get("team_id")),
        _field(body.get("user"), "team_id"),
        _field(body.get("view"), "app_installed_team_id"),
        _field(body.get("view"), "team_id"),
        _field(event_user, "team_id"),
        _field(event.get("view") if isinstance(event, dict) else None, "team_id"),
    )
    return next((team for team in candidates if team), None) or context.enterprise_id or ""


def who_from(context: BoltContext, body: Payload, user_id: str | None = None) -> Who:
    """The person a request is about: the one who clicked or typed, unless an event names
    another (`user_id`), always within the request's own workspace and org."""
    enterprise = context.enterprise_id
    return Who(
        slack_id(workspace_of(context, body), "the workspace"),
        slack_id(user_id or context.user_id, "the user"),
        enterprise_id=None if enterprise is None else slack_id(enterprise, "the org"),
        org_install=bool(context.is_enterprise_install),
    )
